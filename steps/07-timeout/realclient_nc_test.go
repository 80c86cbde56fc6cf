//go:build unix

package main

import (
	"strings"
	"testing"

	"im-workbook/chattest"
	"im-workbook/chattest/terminal"
)

// README 里的那次 nc 会话，用真正的 nc（netcat-openbsd）：alice 和 bob 连上，bob 说 still here，
// alice 一直不说话，10 秒时被踢；被踢后 alice 的 nc 并不退出（服务器关了连接，nc 还在等键盘），
// 按一下回车才退出。carol 用 nc -N 连上后按 Ctrl-D（不带 -N 时 Ctrl-D 什么也不发送）。
func TestRealNcSession(t *testing.T) {
	t.Parallel()
	addr := chattest.Child{}.Start(t, nil).Addr
	alice := terminal.Nc(t, addr)
	alice.WaitFor(t, "已上线")
	bob := terminal.Nc(t, addr)
	bob.WaitFor(t, "已上线")
	bob.Line(t, "still here")
	alice.WaitFor(t, ": still here")

	plain := terminal.Nc(t, addr) // dave in the README
	plain.WaitFor(t, "已上线")
	plain.Type(t, terminal.CtrlD)
	carol := terminal.Nc(t, addr, "-N") // carol
	carol.WaitFor(t, "已上线")
	carol.Type(t, terminal.CtrlD)
	bob.WaitFor(t, "下线")
	if !plain.RunsFor(chattest.Quiet) || strings.Count(bob.Screen(), "下线") != 1 {
		t.Errorf("Ctrl-D in plain nc (without -N) ended its session:\n%s", bob.Screen())
	}
	bob.Line(t, "ok")
	bob.WaitFor(t, ": ok")

	alice.WaitFor(t, "你被踢了")
	if !alice.RunsFor(chattest.Quiet) {
		t.Errorf("alice's nc exited after the kick")
	}
	alice.Line(t, "")
	alice.Exit(t)
	// alice offline twice (the known bug), and so is carol, the second time when she is kicked.
	bob.WaitUntil(t, "alice and carol offline twice", func(s string) bool {
		return strings.Count(s, self(alice)+": 下线\n") == 2 && strings.Count(s, self(carol)+": 下线\n") == 2
	})
	carol.WaitFor(t, "你被踢了") // Ctrl-D closed only nc's sending side; the timer still kicks her
	t.Logf("alice's screen:\n%s", alice.Screen())
	t.Logf("bob's screen:\n%s", bob.Screen())
	t.Logf("carol's screen (nc -N):\n%s", carol.Screen())
}

// self returns the address a nc user's session has, from the first line of
// its screen ("[ip:port]ip:port: 已上线").
func self(tm *terminal.Terminal) string {
	first, _, _ := strings.Cut(tm.Screen(), "]")
	return strings.TrimPrefix(first, "[")
}
