package main

import (
	"testing"

	"im-workbook/chattest"
	"im-workbook/steps/knownbug"
)

// 已知 bug（第 7 章引入）：服务器崩溃，panic: send on closed channel。
// 对话记录做不到让它每次都发生，但教程代码里有一条必然崩溃的路径：
// 一个从不读数据的客户端卡住广播，正在发消息的 alice 这时超时被踢……
// 每一步见 steps/knownbug/crash.go。final 修好了：不关闭别人还会发送的 channel。
func TestKnownBugSendOnClosedChannel(t *testing.T) {
	t.Parallel()
	knownbug.SendOnClosedChannel(t, chattest.Child{}.Start)
}
