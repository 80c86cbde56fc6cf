//go:build unix

package main

import (
	"strings"
	"testing"

	"im-workbook/chattest"
	"im-workbook/chattest/terminal"
)

// 真正的 inetutils telnet 里输入 who：telnet 发来 "who\r\n"，本章只去掉 '\n'，"who\r" 不等于 "who"，
// 于是被当成消息广播出去（见 testdata/known-bug-telnet-who.txt）；用 nc 输入的 who 才列出在线用户。
func TestRealTelnetWho(t *testing.T) {
	t.Parallel()
	addr := chattest.Child{}.Start(t, nil).Addr
	alice := terminal.Telnet(t, addr)
	alice.WaitFor(t, "已上线")
	bob := terminal.Nc(t, addr)
	bob.WaitFor(t, "已上线")
	alice.WaitUntil(t, "bob online", func(s string) bool { return strings.Count(s, "已上线") == 2 })
	alice.Line(t, "who")
	bob.WaitFor(t, ": who")
	alice.WaitFor(t, ": who")
	bob.Line(t, "who")
	bob.WaitUntil(t, "the list", func(s string) bool { return strings.Count(s, "在线...") == 2 })
	if strings.Contains(alice.Screen(), "在线...") {
		t.Errorf("telnet's who listed the users:\n%s", alice.Screen())
	}
	t.Logf("alice's screen (telnet):\n%s", alice.Screen())
	t.Logf("bob's screen (nc):\n%s", bob.Screen())
}
