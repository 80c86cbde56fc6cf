//go:build unix

package main

// The real clients the README recommends, inetutils telnet and OpenBSD nc,
// run in a pseudo-terminal and typed at as a person does; what is asserted
// is what the person's screen shows (see chattest/terminal). They skip,
// saying how to install the client, where it is missing (not in CI).

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"im-workbook/chattest"
	"im-workbook/chattest/terminal"
)

// Issue 14: inetutils telnet with default settings turns bytes inside
// common Chinese characters into special keys. "rename 小明" (小 holds
// 0x8f, ^O) renames the user, who goes on seeing everyone's messages, and
// a later 「我们的会面」 (面 holds 0x9d, telnet's escape ^]) arrives whole.
func TestRealTelnetChinese(t *testing.T) {
	t.Parallel()
	alice, bob := telnetAndNc(t)

	alice.Line(t, "rename 小明")
	alice.WaitFor(t, "用户名已修改为：小明")
	bob.Line(t, "大家好")
	alice.WaitFor(t, ": 大家好")
	alice.Line(t, "我们的会面")
	screen := bob.WaitFor(t, "]小明: 我们的会面")
	alice.Line(t, "仃东的会面小可发经")
	bob.WaitFor(t, "]小明: 仃东的会面小可发经")
	t.Logf("bob's screen (nc):\n%s", screen)
	t.Logf("alice's screen (telnet):\n%s", alice.Screen())
	assert.NotContains(t, bob.Screen(), "\ufffd")
}

// A first line with 面 in it before telnet has turned BINARY on: telnet
// opens its own prompt at 0x9d and eats the rest of the line. Back in the
// session the user is told, in one line, and the retyped line arrives.
func TestRealTelnetDamagedLine(t *testing.T) {
	t.Parallel()
	alice, bob := telnetAndNc(t)

	alice.Line(t, "我们的会面")
	alice.WaitFor(t, "telnet>")
	alice.WaitFor(t, "?Invalid command") // the rest of the line, taken as a telnet command
	alice.Line(t, "")                    // an empty command returns to the session
	alice.WaitFor(t, "刚才那一行被 telnet 弄坏了")
	alice.Line(t, "我们的会面")
	screen := bob.WaitFor(t, ": 我们的会面")
	assert.Equal(t, 1, strings.Count(screen, "我们"), "bob saw only the whole line:\n%s", screen)
	t.Logf("alice's screen (telnet):\n%s", alice.Screen())
	t.Logf("bob's screen (nc):\n%s", screen)
}

// Ctrl-C in telnet sends IAC IP and DO TIMING-MARK; telnet shows nothing
// until the server answers. final answers, so the next message shows.
func TestRealTelnetCtrlC(t *testing.T) {
	t.Parallel()
	alice, bob := telnetAndNc(t)
	alice.Type(t, "half a li"+terminal.CtrlC)
	alice.Line(t, "after ctrl-c")
	bob.WaitFor(t, ": after ctrl-c")
	bob.Line(t, "can you see me")
	alice.WaitFor(t, ": can you see me")
	assert.NotContains(t, bob.Screen(), "half a li")
}

// telnet in character mode (telnet> mode character), as the Windows
// telnet always is: every key is sent at once, final echoes it, a
// backspace erases, and Enter (CR NUL, or CR once BINARY is on) ends the
// line.
func TestRealTelnetCharacterMode(t *testing.T) {
	t.Parallel()
	alice, bob := telnetAndNc(t)

	// "toggle options" makes telnet show the negotiation on the screen:
	// the keys are typed once final has agreed to echo.
	alice.Type(t, terminal.Escape)
	alice.WaitFor(t, "telnet>")
	alice.Line(t, "toggle options")
	alice.WaitFor(t, "Will show option processing.")
	alice.Type(t, terminal.Escape)
	alice.WaitUntil(t, "the second prompt", func(s string) bool { return strings.Count(s, "telnet>") == 2 })
	alice.Line(t, "mode character")
	alice.WaitFor(t, "RCVD WILL ECHO")
	alice.WaitFor(t, "RCVD DO BINARY")
	for _, key := range []string{"h", "e", "l", "p"} {
		alice.Type(t, key)
		alice.WaitUntil(t, "the echo of "+key, func(s string) bool { return strings.HasSuffix(lastLine(s), key) })
	}
	alice.Type(t, terminal.Backspace)
	alice.WaitUntil(t, "the p erased", func(s string) bool { return strings.HasSuffix(lastLine(s), "hel") })
	for _, key := range []string{"l", "o", " ", "面"} {
		alice.Type(t, key)
		if key != " " { // a trailing space is not seen: the next key shows it
			alice.WaitUntil(t, "the echo of "+key, func(s string) bool { return strings.HasSuffix(lastLine(s), key) })
		}
	}
	alice.WaitUntil(t, "the line as typed", func(s string) bool { return lastLine(s) == "hello 面" })
	alice.Type(t, terminal.Enter)
	bob.WaitFor(t, ": hello 面")
	alice.WaitFor(t, ": hello 面")
	alice.Type(t, "who"+terminal.Enter)
	screen := alice.WaitUntil(t, "who's answer", func(s string) bool { return strings.Count(s, "在线...") == 2 })
	for _, line := range strings.Split(screen, "\n") {
		if strings.Contains(line, "在线...") || strings.Contains(line, "hello 面") {
			assert.True(t, strings.HasPrefix(line, "[") || line == "hello 面", "a line that does not start at the left edge: %q", line)
		}
	}
	t.Logf("alice's screen (telnet, character mode):\n%s", screen)
	t.Logf("bob's screen (nc):\n%s", bob.Screen())
}

// telnetAndNc starts a final with alice in the real telnet and bob in nc,
// both online, and alice having seen bob join.
func telnetAndNc(t *testing.T) (alice, bob *terminal.Terminal) {
	addr := startChild(t).Addr
	alice = terminal.Telnet(t, addr)
	alice.WaitFor(t, "已上线")
	bob = terminal.Nc(t, addr)
	bob.WaitFor(t, "已上线")
	alice.WaitUntil(t, "bob online", func(s string) bool { return strings.Count(s, "已上线") == 2 })
	return alice, bob
}

// lastLine returns the last line of a screen.
func lastLine(screen string) string {
	return screen[strings.LastIndexByte(screen, '\n')+1:]
}

// nc: Ctrl-D sends nothing unless nc -N is used; with -N it ends the
// session.
func TestRealNcCtrlD(t *testing.T) {
	t.Parallel()
	addr := startChild(t).Addr
	bob := terminal.Nc(t, addr)
	bob.WaitFor(t, "已上线")
	alice := terminal.Nc(t, addr, "-N")
	alice.WaitFor(t, "已上线")
	bob.WaitUntil(t, "alice online", func(s string) bool { return strings.Count(s, "已上线") == 2 })
	plain := terminal.Nc(t, addr)
	plain.WaitFor(t, "已上线")
	bob.WaitUntil(t, "the third online", func(s string) bool { return strings.Count(s, "已上线") == 3 })

	plain.Type(t, terminal.CtrlD) // plain nc: nothing is sent, nc goes on
	alice.Type(t, terminal.CtrlD) // nc -N: shuts down its sending side
	bob.WaitFor(t, "下线")
	assert.NoError(t, alice.Exit(t), "nc -N exits once the server closes")
	assert.True(t, plain.RunsFor(chattest.Quiet), "plain nc is still running")
	assert.Equal(t, 1, strings.Count(bob.Screen(), "下线"), "only nc -N's user left:\n%s", bob.Screen())
	t.Logf("bob's screen:\n%s", bob.Screen())
}

// nc does not exit when the server closes the connection (a kick): it
// exits once Enter is pressed and its write fails.
func TestRealNcKicked(t *testing.T) {
	t.Parallel()
	addr := startChild(t, "-idle", "1s").Addr
	alice := terminal.Nc(t, addr)
	alice.WaitFor(t, "你被踢了")
	assert.True(t, alice.RunsFor(chattest.Quiet), "nc still running after the kick")
	alice.Line(t, "")
	alice.Exit(t)
	t.Logf("alice's screen (nc):\n%s", alice.Screen())
}
