//go:build unix

package main

import (
	"testing"

	"im-workbook/chattest"
	"im-workbook/chattest/terminal"
)

// 真正的 inetutils telnet（默认设置）里输入一条带「小」的消息：小 = e5 b0 8f，0x8f 被 telnet 当成 ^O，
// 发出 IAC AO 和 IAC DO TIMING-MARK；回答之前 telnet 什么都不显示。本章不回答，这个 telnet 从此「冻住」。
func TestRealTelnetFreezes(t *testing.T) {
	t.Parallel()
	terminal.TelnetFreeze(t, chattest.Child{}.Start(t, nil).Addr)
}
