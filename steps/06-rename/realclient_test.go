//go:build unix

package main

import (
	"testing"

	"im-workbook/chattest"
	"im-workbook/chattest/terminal"
)

// 真正的 inetutils telnet（默认设置）里输入「rename 小明」：小 = e5 b0 8f，0x8f 被 telnet 当成 ^O，
// 发出 IAC AO 和 IAC DO TIMING-MARK。本章（第 6 章）把这些字节原样放进名字里；此后每条带这个名字的广播
// 都让 telnet 回答一次，回答又被当成消息广播出去：旁边的 nc 用户被刷屏。测试读到满屏就停（见 chattest/terminal）。
func TestRealTelnetChineseEchoStorm(t *testing.T) {
	t.Parallel()
	terminal.EchoStorm(t, chattest.Child{}.Start(t, nil).Addr)
}

// README 给的客户端办法：先 stty … undef，再 telnet -E。telnet 不再把任何字节当成特殊键，
// 名字完整，没有刷屏，「我们的会面」（面 = e9 9d a2，0x9d 是 ^]）也完整到达。
func TestRealTelnetClientSideFix(t *testing.T) {
	t.Parallel()
	addr := chattest.Child{}.Start(t, nil).Addr
	bob := terminal.Nc(t, addr)
	bob.WaitFor(t, "已上线")
	alice := terminal.TelnetClientSideFix(t, addr)
	alice.WaitFor(t, "已上线")
	alice.Line(t, "rename 小明")
	alice.WaitFor(t, "用户名已修改为：小明") // typed sooner, the next line would arrive in the same read
	alice.Line(t, "我们的会面")
	screen := bob.WaitFor(t, "]小明: 我们的会面")
	t.Logf("alice's screen (%s):\n%s", terminal.ClientSideFix, alice.Screen())
	t.Logf("bob's screen (nc):\n%s", screen)
}
