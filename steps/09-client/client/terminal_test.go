//go:build unix

package main

import (
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"im-workbook/chattest"
	"im-workbook/chattest/terminal"
)

// The client in a real terminal (a pseudo-terminal; see chattest/terminal),
// where Ctrl-D is not the end of a pipe: the tty's read returns nothing once,
// and the next read waits for the keyboard again.

// startInTerminal runs the client against a fresh chapter server, from sh
// so that what is left of a typed line after the client exits reaches a
// shell, as in a learner's terminal: shell is what sh runs after it.
func startInTerminal(t *testing.T, shell string) *terminal.Terminal {
	t.Helper()
	host, port, err := net.SplitHostPort(chattest.ServeBinary(t, serverBin, "").Addr)
	if err != nil {
		t.Fatal(err)
	}
	self := chattest.Self("-ip", host, "-port", port)
	quoted := make([]string, len(self.Args))
	for i, a := range self.Args {
		quoted[i] = "'" + a + "'"
	}
	cmd := exec.Command("sh", "-c", strings.Join(quoted, " ")+"; "+shell)
	cmd.Env = self.Env
	tm := terminal.Start(t, cmd)
	tm.WaitFor(t, "0.退出")
	return tm
}

// Ctrl-D in 公聊模式: in a terminal the client does not loop (that happens
// only when its input is a pipe or a file): Scanln returns an empty line
// once, the client prints an empty 您输入的是：, and waits for the keyboard.
func TestTerminalCtrlDInPublicChat(t *testing.T) {
	t.Parallel()
	tm := startInTerminal(t, "")
	tm.Line(t, "1")
	tm.WaitFor(t, "请输入聊天内容，exit退出.")
	tm.Type(t, terminal.CtrlD)
	screen := tm.WaitFor(t, "您输入的是：")
	assert.True(t, tm.RunsFor(chattest.Quiet), "the client is still running")
	assert.Equal(t, 1, strings.Count(tm.Screen(), "您输入的是："), "no loop:\n%s", tm.Screen())
	tm.Line(t, "hello")
	tm.WaitFor(t, "您输入的是： hello")
	t.Logf("the client's screen:\n%s", screen)
}

// A word typed at the menu: Scanln reads up to the first byte that is not
// a digit, the client quits (a known bug), and the rest of the line stays
// in the terminal for the shell: "abc" runs "bc" there.
func TestTerminalMenuLeavesRestForShell(t *testing.T) {
	t.Parallel()
	tm := startInTerminal(t, `read rest; echo "shell read: [$rest]"`)
	tm.Line(t, "abc")
	screen := tm.WaitFor(t, "shell read: [bc]")
	t.Logf("the screen:\n%s", screen)
}
