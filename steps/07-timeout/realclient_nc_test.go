//go:build unix

package main

import (
	"strings"
	"testing"
	"time"

	"im-workbook/chattest"
	"im-workbook/chattest/terminal"
)

// README 里的那次 nc 会话，用真正的 nc（netcat-openbsd）：alice 和 bob 连上，bob 3 秒后说 still here，
// alice 一直不说话，10 秒时被踢；被踢后 alice 的 nc 并不退出（服务器关了连接，nc 还在等键盘），
// 按一下回车才退出。alice 被踢后 bob 马上说 ok；之后 carol 用 nc -N 连上并按 Ctrl-D，dave 用不带 -N 的
// nc 连上并按 Ctrl-D（什么也不发送）。只有 alice 在测试期间被踢：本章几乎同时踢两个人时可能
// send on closed channel 崩溃（见 known_bug_crash_test.go），测试不去碰这个运气。
func TestRealNcSession(t *testing.T) {
	t.Parallel()
	addr := chattest.Child{}.Start(t, nil).Addr
	alice := terminal.Nc(t, addr)
	alice.WaitFor(t, "已上线")
	bob := terminal.Nc(t, addr)
	bob.WaitFor(t, "已上线")
	// The chapter counts time: bob speaks 3 s in, so that he is kicked 3 s
	// after alice, not in the same instant (and is still here to watch).
	time.Sleep(3 * time.Second)
	bob.Line(t, "still here")
	alice.WaitFor(t, ": still here")

	alice.WaitFor(t, "你被踢了")
	bob.Line(t, "ok") // bob speaks again: he is not kicked while the test watches
	bob.WaitUntil(t, "alice offline twice", func(s string) bool { return strings.Count(s, self(alice)+": 下线\n") == 2 })
	bob.WaitFor(t, ": ok")

	carol := terminal.Nc(t, addr, "-N")
	carol.WaitFor(t, "已上线")
	carol.Type(t, terminal.CtrlD) // nc -N: shuts down its sending side
	bob.WaitFor(t, self(carol)+": 下线")
	dave := terminal.Nc(t, addr)
	dave.WaitFor(t, "已上线")
	dave.Type(t, terminal.CtrlD) // plain nc: sends nothing
	bob.WaitFor(t, self(dave)+": 已上线")
	if !dave.RunsFor(chattest.Quiet) || strings.Contains(bob.Screen(), self(dave)+": 下线") {
		t.Errorf("Ctrl-D in plain nc (without -N) ended its session:\n%s", bob.Screen())
	}
	if !alice.Running() {
		t.Errorf("alice's nc exited after the kick")
	}
	alice.Line(t, "")
	alice.Exit(t)
	t.Logf("alice's screen:\n%s", alice.Screen())
	t.Logf("bob's screen:\n%s", bob.Screen())
	t.Logf("carol's screen (nc -N):\n%s", carol.Screen())
	t.Logf("dave's screen (nc):\n%s", dave.Screen())
}

// self returns the address a nc user's session has, from the first line of
// its screen ("[ip:port]ip:port: 已上线").
func self(tm *terminal.Terminal) string {
	first, _, _ := strings.Cut(tm.Screen(), "]")
	return strings.TrimPrefix(first, "[")
}
