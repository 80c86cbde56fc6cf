//go:build unix

package main

import (
	"testing"

	"im-workbook/chattest"
	"im-workbook/chattest/terminal"
)

// 真正的 inetutils telnet（默认设置）里输入「rename 小明」：小 = e5 b0 8f，0x8f 被 telnet 当成 ^O，
// 发出 IAC AO 和 IAC DO TIMING-MARK。第 6～9 章把这些字节原样放进名字里；此后每条带这个名字的广播
// 都让 telnet 回答一次，回答又被当成消息广播出去：旁边的 nc 用户被刷屏。测试读到满屏就停（见 chattest/terminal）。
func TestRealTelnetChineseEchoStorm(t *testing.T) {
	t.Parallel()
	terminal.EchoStorm(t, chattest.Child{}.Start(t, nil).Addr)
}
