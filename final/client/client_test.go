package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"im-workbook/chattest"
)

// The chapter 09 client's bugs, one test (or more) each; README.md's table
// names them. Against the chapter 09 server, every test waits for the
// server's answer to one line before the client sends the next: that
// server takes two lines that arrive in one read for one message.

// What the final server says, where the tests check it (see ../command.go).
const (
	finalBadName  = "用户名不合法"
	finalKicked   = "你被踢了\n"
	finalShutdown = "服务器正在关闭"
)

// Bug 1: fmt.Scanln reads one word, so "hello world" went out as "hello"
// and "orld". The exact bytes the client sends, recorded by a bare
// listener: every line whole, spaces kept, one '\n' per message (the
// tutorial sent "\n\n" after a private message), blank lines not sent.
func TestSendsWholeLines(t *testing.T) {
	t.Parallel()
	rec := record(t)
	c := startClient(t, rec.addr)
	c.stdout.Expect(t, menuText)

	c.typeLine(t, "1") //公聊模式
	c.stdout.Expect(t, chatPrompt)
	c.typeLine(t, "  hello   world  ")
	c.typeLine(t, "")
	c.typeLine(t, "   ")
	c.typeLine(t, "你好，世界\r") // a line ended by "\r\n"
	c.typeLine(t, "exit")

	c.typeLine(t, "2") //私聊模式
	rec.conn(t).sent.Expect(t, "who\n")
	c.stdout.Expect(t, targetPrompt)
	c.typeLine(t, "")
	c.stdout.Expect(t, targetPrompt)
	c.typeLine(t, "bob smith") // a name has no spaces: asked again, nothing sent
	c.stdout.Expect(t, spaceTarget)
	c.typeLine(t, " bob ")
	c.stdout.Expect(t, chatPrompt)
	c.typeLine(t, "hi   there ")
	c.typeLine(t, "exit")
	c.stdout.Expect(t, targetPrompt)
	c.typeLine(t, "exit")

	c.typeLine(t, "3") //更新用户名
	c.stdout.Expect(t, namePrompt)
	c.typeLine(t, " bob smith ")
	c.typeLine(t, "3")
	c.stdout.Expect(t, namePrompt)
	c.typeLine(t, "") // no name: said so, nothing sent
	c.stdout.Expect(t, emptyName)
	c.typeLine(t, "0")

	require.Equal(t, 0, c.exit(t))
	sent, err := rec.conn(t).sent.end(t)
	require.ErrorIs(t, err, io.EOF)
	assert.Equal(t, "  hello   world  \n"+
		"你好，世界\n"+
		"who\n"+
		"to bob hi   there \n"+
		"who\n"+
		"rename bob smith\n",
		sent)
}

// Bug 1, end to end: a message with spaces reaches another user whole.
func TestChatKeepsSpaces(t *testing.T) {
	eachServer(t, func(t *testing.T, k *kind) {
		srv := k.start(t)
		obs := dial(t, srv.Addr)
		obs.rename(t, "bob")
		c := startClient(t, srv.Addr)
		obs.Expect(t, "已上线\n") // after its own, the client's

		c.typeLine(t, "1")
		c.stdout.Expect(t, chatPrompt)
		c.typeLine(t, "hello   world, 你好")
		obs.Expect(t, ": hello   world, 你好\n")
		c.typeLine(t, "exit")

		c.typeLine(t, "2")
		c.stdout.Expect(t, "]bob: 在线...\n") // who's answer: the server has read "who"
		c.typeLine(t, "bob")
		c.stdout.Expect(t, chatPrompt)
		c.typeLine(t, "hi   there")
		if k == ch09 {
			// The chapter 09 server splits the text into words and
			// re-joins them with one space each, plus one at the end, and
			// no newline: a server bug, fixed in final.
			obs.Expect(t, "想对您说：hi there ")
		} else {
			obs.Expect(t, "想对您说：hi   there\n")
		}
		c.typeLine(t, "exit")
		c.typeLine(t, "exit")
		c.typeLine(t, "0")
		assert.Equal(t, 0, c.exit(t))
		obs.Expect(t, "下线\n")
	})
}

// Bug 1: a name typed with a space reaches the server whole, so the
// server's own answer shows: the chapter 09 server takes it; final says
// why not.
func TestRenameSendsWholeName(t *testing.T) {
	eachServer(t, func(t *testing.T, k *kind) {
		srv := k.start(t)
		c := startClient(t, srv.Addr)
		c.stdout.Expect(t, menuText)
		c.typeLine(t, "3")
		c.stdout.Expect(t, namePrompt)
		c.typeLine(t, "bob smith")
		if k == ch09 {
			c.stdout.Expect(t, "\n用户名已修改为：bob smith\n")
		} else {
			c.stdout.Expect(t, finalBadName)
		}
		c.typeLine(t, "0")
		assert.Equal(t, 0, c.exit(t))
	})
}

// Bug 2: the client did not notice that the server had closed the
// connection; it sat in its menu (or chat prompt) until the user typed.
// Now it says so and exits with status 1 at once, even while it waits for
// input in a chat mode.
func TestServerClosesConnection(t *testing.T) {
	cases := []struct {
		name  string
		kind  *kind
		flags []string
		end   func(t *testing.T, s *chattest.Server) // what ends the connection
		shows string                                 // what the server said last, if anything
		wait  time.Duration                          // how long it takes, at most
	}{
		{name: "ch09 kick", kind: ch09, shows: "你被踢了\n", wait: 10*time.Second + chattest.Patience,
			end: func(*testing.T, *chattest.Server) {}}, // it kicks after 10 s of silence
		{name: "final kick", kind: final, flags: []string{"-idle=500ms"}, shows: finalKicked, wait: chattest.Patience,
			end: func(*testing.T, *chattest.Server) {}},
		{name: "final shutdown", kind: final, shows: finalShutdown, wait: chattest.Patience,
			end: func(t *testing.T, s *chattest.Server) { stop(t, s) }},
		{name: "ch09 killed", kind: ch09, wait: chattest.Patience,
			end: func(_ *testing.T, s *chattest.Server) { s.Program.Kill() }},
		{name: "final killed", kind: final, wait: chattest.Patience,
			end: func(_ *testing.T, s *chattest.Server) { s.Program.Kill() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := tc.kind.start(t, tc.flags...)
			c := startClient(t, srv.Addr)
			// Online: a connection the server has not taken in yet would
			// be reset, or closed without a word, by a shutdown.
			c.stdout.Expect(t, "已上线\n")
			c.typeLine(t, "1")
			c.stdout.Expect(t, chatPrompt)

			tc.end(t, srv)
			select {
			case <-c.done:
			case <-time.After(tc.wait):
				t.Fatalf("the client is still running %v later; stdout:\n%s", tc.wait, c.stdout)
			}
			assert.Equal(t, exitLost, c.status)
			stderr := c.stderr.all(t)
			assert.Contains(t, stderr, "服务器断开了连接")
			if tc.shows != "" {
				assert.Contains(t, c.stdout.all(t), tc.shows, "stderr: %s", stderr)
			}
		})
	}
}

// Bug 2: end of input (Ctrl-D) ends the client cleanly, status 0, from
// the menu and from every prompt; the server sees the user leave.
func TestEndOfInput(t *testing.T) {
	cases := []struct {
		name  string
		lines []string // typed before Ctrl-D
		wait  string   // the prompt to wait for before Ctrl-D
	}{
		{"menu", nil, menuText},
		{"public chat", []string{"1"}, chatPrompt},
		{"private chat target", []string{"2"}, targetPrompt},
		{"private chat", []string{"2", "nobody"}, chatPrompt},
		{"rename", []string{"3"}, namePrompt},
	}
	eachServer(t, func(t *testing.T, k *kind) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				obs, c := k.watchedClient(t)
				for _, line := range tc.lines {
					c.typeLine(t, line)
				}
				c.stdout.Expect(t, tc.wait)
				c.ctrlD(t)
				assert.Equal(t, exitOK, c.exit(t))
				obs.Expect(t, "下线\n")
				assert.Empty(t, c.stderr.all(t))
			})
		}
	})
}

// Bug 3: at the menu, Enter or letters quit the client as if 0 had been
// chosen (fmt.Scanln left the choice at 0). Now only 0–3 are choices, and
// every other line is answered once.
func TestMenuAcceptsOnly0To3(t *testing.T) {
	eachServer(t, func(t *testing.T, k *kind) {
		srv := k.start(t)
		c := startClient(t, srv.Addr)
		c.stdout.Expect(t, menuText)
		bad := []string{"", "   ", "abc", "exit", "5", "-1", "1 2", "1.", "０", "99999999999999999999"}
		for _, line := range bad {
			c.typeLine(t, line)
		}
		c.typeLine(t, " 3 ") // spaces around a choice are fine
		c.stdout.Expect(t, namePrompt)
		out := c.stdout.String() // everything shown so far
		assert.Equal(t, len(bad), strings.Count(out, badChoice), "one answer per bad line")
		assert.Equal(t, 1+len(bad), strings.Count(out, menuText), "the menu again after each")
		assert.True(t, c.running())

		c.typeLine(t, "alice")
		if k == ch09 {
			c.stdout.Expect(t, "用户名已修改为：alice\n")
		}
		c.typeLine(t, "0")
		assert.Equal(t, exitOK, c.exit(t))
	})
}

// Bug 4: exit always left the chat mode, so no one could say "exit". Now
// \exit sends it, and the prompt says so.
func TestSendWordExit(t *testing.T) {
	eachServer(t, func(t *testing.T, k *kind) {
		obs, c := k.watchedClient(t)
		c.typeLine(t, "1")
		c.stdout.Expect(t, chatPrompt)
		assert.Contains(t, c.stdout.String(), `要发送文字 exit 请输入 \exit`)
		c.typeLine(t, `\exit`)
		obs.Expect(t, ": exit\n")
		c.typeLine(t, `\\exit`)
		obs.Expect(t, `: \exit`+"\n")
		c.typeLine(t, "exit")
		c.stdout.Expect(t, menuText)
		c.typeLine(t, "0")
		assert.Equal(t, exitOK, c.exit(t))
	})
}

// Bug 5: when it cannot connect, the tutorial's client printed its error
// and exited with status 0. Now: a clear message, status 1.
func TestConnectFailure(t *testing.T) {
	t.Parallel()
	c := startClient(t, freeAddr(t))
	assert.Equal(t, exitLost, c.exit(t))
	assert.Regexp(t, `^>>>>>>>链接服务器失败：dial tcp 127\.0\.0\.1:\d+: connect: connection refused\n$`, c.stderr.all(t))
	assert.Empty(t, c.stdout.all(t))
}

// Bad flags: a message and status 2, as the flag package does.
func TestFlags(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args   []string
		status int
		stderr string
	}{
		{[]string{"-port", "x"}, exitUsage, `invalid value "x" for flag -port`},
		{[]string{"-port", "0"}, exitUsage, "端口必须在 1 到 65535 之间"},
		{[]string{"-port", "70000"}, exitUsage, "端口必须在 1 到 65535 之间"},
		{[]string{"-ip", "127.0.0.1", "8888"}, exitUsage, "多余的参数"},
		{[]string{"-h"}, exitOK, "服务器端口"},
		{[]string{"-ip", "no such host.invalid"}, exitLost, "链接服务器失败"},
	}
	for _, tc := range cases {
		c := startClientArgs(t, tc.args...)
		assert.Equal(t, tc.status, c.exit(t), "%q", tc.args)
		assert.Contains(t, c.stderr.all(t), tc.stderr, "%q", tc.args)
	}
}

// Bug 6: the server's lines were copied to the terminal as they came,
// glued to a prompt when a reply had no newline (该用户不存在 from the
// chapter 09 server). Now each shows as a line of its own.
func TestServerRepliesAreWholeLines(t *testing.T) {
	eachServer(t, func(t *testing.T, k *kind) {
		_, c := k.watchedClient(t)
		c.typeLine(t, "2")
		c.stdout.Expect(t, "在线...\n") // who's answer, two users: the server has read "who"
		c.stdout.Expect(t, "在线...\n")
		c.typeLine(t, "nobody")
		c.stdout.Expect(t, chatPrompt)
		c.typeLine(t, "hi")
		c.stdout.Expect(t, "\n该用户不存在\n") // a line of its own
		c.typeLine(t, "exit")
		c.stdout.Expect(t, "在线...\n") // who's answer again
		c.stdout.Expect(t, "在线...\n")
		c.typeLine(t, "exit")
		c.typeLine(t, "0")
		assert.Equal(t, exitOK, c.exit(t))
	})
}

// Bug 6: whatever order the server's lines and the client's prompts come
// in, neither is cut by the other: every line on the terminal is a whole
// prompt or a whole server line.
func TestServerLinesNeverSplitPrompts(t *testing.T) {
	t.Parallel()
	rec := record(t)
	c := startClient(t, rec.addr)
	conn := rec.conn(t)
	const n = 300
	sent := make(chan error, 1)
	go func() {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "server line %d\n", i)
			if i%7 == 0 { // several lines per write, cut anywhere
				if _, err := io.WriteString(conn, b.String()); err != nil {
					sent <- err
					return
				}
				b.Reset()
			}
		}
		_, err := io.WriteString(conn, b.String())
		sent <- err
	}()
	for range n {
		c.typeLine(t, "x") // each answered by badChoice and the menu
	}
	require.NoError(t, <-sent)
	last := c.stdout.Fork("client stdout, for the server's lines")
	for range n {
		c.stdout.Expect(t, badChoice)
	}
	last.Expect(t, fmt.Sprintf("server line %d\n", n-1))
	out := c.stdout.String() // everything shown so far

	own := append(strings.Split(strings.TrimSuffix(menuText, "\n"), "\n"), badChoice, ">>>>>>>>链接服务器成功...")
	serverLine := regexp.MustCompile(`^server line (\d+)$`)
	seen := map[string]int{}
	for _, line := range lines(out) {
		if serverLine.MatchString(line) {
			seen[line]++
			continue
		}
		assert.Contains(t, own, line, "a line that is neither the client's nor the server's")
	}
	assert.Len(t, seen, n)
	for line, times := range seen {
		assert.Equal(t, 1, times, line)
	}
	c.typeLine(t, "0")
	assert.Equal(t, exitOK, c.exit(t))
}

// Bug 6: a reply without a newline shows as a line of its own, and the
// rest of a line split over two reads is not cut off.
func TestPartialLines(t *testing.T) {
	t.Parallel()
	rec := record(t)
	c := startClient(t, rec.addr)
	conn := rec.conn(t)
	c.stdout.Expect(t, menuText)
	_, err := io.WriteString(conn, "该用户不存在")
	require.NoError(t, err)
	// Each piece starts a line: the menu has ended its own, and nothing
	// else is shown in between.
	c.stdout.Next(t, "该用户不存在\n")
	_, err = io.WriteString(conn, "one\ntw")
	require.NoError(t, err)
	c.stdout.Next(t, "one\n")
	_, err = io.WriteString(conn, "o\n")
	require.NoError(t, err)
	// "tw" may have been shown before "o" came (after lineWait); either
	// way nothing is lost and each piece is a line of its own: the next
	// line starts with "tw".
	c.stdout.Next(t, "tw")
	if rest := c.stdout.Line(t); rest != "o\n" {
		require.Equal(t, "\n", rest, "after \"tw\"")
		c.stdout.Next(t, "o\n")
	}
	c.ctrlD(t)
	assert.Equal(t, exitOK, c.exit(t))
}

// The chapter 09 server relays any bytes a user sends, terminal escapes
// included: a user could clear another's screen or fake a line. The
// client shows them as text instead.
func TestTerminalEscapesShownAsText(t *testing.T) {
	eachServer(t, func(t *testing.T, k *kind) {
		obs, c := k.watchedClient(t)
		obs.send(t, "\x1b[2J\x1b[Hpwned\rfake\x07 line")
		c.stdout.Expect(t, " line\n")
		out := c.stdout.String() // everything shown so far
		assert.NotContains(t, out, "\x1b")
		assert.NotContains(t, out, "\a")
		if k == ch09 {
			assert.Contains(t, out, `: \x1b[2J\x1b[Hpwned\x0dfake\x07 line`+"\n")
		}
		c.ctrlD(t)
		assert.Equal(t, exitOK, c.exit(t))
	})
}

// Ctrl-C (SIGINT, which main turns into a cancelled context) ends the
// client at once with status 130, as a shell reports it; the connection
// is closed, so the server sees the user leave.
func TestInterrupt(t *testing.T) {
	eachServer(t, func(t *testing.T, k *kind) {
		obs, c := k.watchedClient(t)
		c.typeLine(t, "1")
		c.stdout.Expect(t, chatPrompt)
		c.interrupt()
		assert.Equal(t, exitInterrupted, c.exit(t))
		obs.Expect(t, "下线\n")
	})
}

// main itself, as a separate process: its exit status is run's result.
func TestProcess(t *testing.T) {
	t.Parallel()
	start := func(t *testing.T, addr string) *process {
		t.Helper()
		host, port, _ := strings.Cut(addr, ":")
		cmd := chattest.Self("-ip", host, "-port", port) // see TestMain
		stderr, errs := pipeOutput("client stderr")
		cmd.Stderr = stderr
		p := chattest.StartProgram(t, cmd)
		go func() {
			<-p.Exited() // cmd.Wait has copied all of stderr
			stderr.Close()
		}()
		return &process{Program: p, stdout: outputOf("client stdout", p.Out), stderr: errs}
	}

	t.Run("connection refused", func(t *testing.T) {
		p := start(t, freeAddr(t))
		assert.Equal(t, exitLost, p.exitStatus(t))
		assert.Contains(t, p.stderr.all(t), "链接服务器失败")
	})
	t.Run("end of input", func(t *testing.T) {
		rec := record(t)
		p := start(t, rec.addr)
		p.stdout.Expect(t, menuText)
		p.CloseInput(t)
		assert.Equal(t, exitOK, p.exitStatus(t))
	})
	t.Run("interrupt", func(t *testing.T) {
		rec := record(t)
		p := start(t, rec.addr)
		p.stdout.Expect(t, menuText)
		require.NoError(t, p.Signal(os.Interrupt))
		assert.Equal(t, exitInterrupted, p.exitStatus(t))
		_, err := rec.conn(t).sent.end(t)
		assert.ErrorIs(t, err, io.EOF)
	})
	t.Run("server closes", func(t *testing.T) {
		rec := record(t)
		p := start(t, rec.addr)
		p.stdout.Expect(t, menuText)
		conn := rec.conn(t)
		_, err := io.WriteString(conn, "你被踢了\n")
		require.NoError(t, err)
		require.NoError(t, conn.Close())
		assert.Equal(t, exitLost, p.exitStatus(t))
		assert.Contains(t, p.stdout.all(t), "你被踢了\n")
		assert.Contains(t, p.stderr.all(t), "服务器断开了连接")
	})
}

// process is the client running as a process of its own.
type process struct {
	*chattest.Program
	stdout, stderr output
}

// exitStatus waits for the process to end by itself.
func (p *process) exitStatus(t *testing.T) int {
	t.Helper()
	var exit *exec.ExitError
	if err := p.Exit(t); errors.As(err, &exit) {
		return exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0
}

// A server line that pauses inside a character (a slow link, a server
// that writes a character in two pieces): after lineWait the client shows
// the start of the line, and the character once it is whole, not \xe6 and
// \x98\x8e. A start that never completes is shown as escapes one wait later.
func TestCharacterCutByAPauseShownWhole(t *testing.T) {
	t.Parallel()
	server, conn := net.Pipe()
	w, out := pipeOutput("client")
	c := &Client{conn: conn, out: &console{w: w}}
	done := make(chan error, 1)
	go func() { done <- c.DealResponse() }()

	write := func(s string) {
		t.Helper()
		_, err := server.Write([]byte(s))
		require.NoError(t, err)
	}
	write("[a]小\xe6")
	out.Next(t, "[a]小\n") // after lineWait: the whole characters only
	write("\x98\x8e!\n")
	out.Next(t, "明!\n")
	write("x\xe6")
	out.Next(t, "x\n")
	out.Next(t, `\xe6`+"\n") // it never completed
	require.NoError(t, server.Close())
	assert.Error(t, <-done, "DealResponse ends with the connection")
	require.NoError(t, w.Close())
	out.Ended(t)
}

// In 公聊模式 a line whose first word is to, who or rename would be taken
// by the server as a command ("to be or not to be" got 该用户不存在). The
// client says so and sends nothing; with a \ before it, final says it to
// everyone.
func TestPublicLineStartingWithCommand(t *testing.T) {
	t.Parallel()
	obs, c := final.watchedClient(t)
	c.typeLine(t, "1")
	c.stdout.Expect(t, chatPrompt)
	c.typeLine(t, "to be or not to be")
	c.stdout.Expect(t, fmt.Sprintf(commandWord, "to", "to be or not to be"))
	c.typeLine(t, `\to be or not to be`)
	obs.Expect(t, ": to be or not to be\n")
	c.typeLine(t, "who knows")
	c.stdout.Expect(t, fmt.Sprintf(commandWord, "who", "who knows"))
	c.typeLine(t, "whoever")
	obs.Expect(t, ": whoever\n")
	c.stdout.Expect(t, ": whoever\n")
	assert.NotContains(t, c.stdout.String(), "该用户不存在")
	c.typeLine(t, "exit")
	c.stdout.Expect(t, menuText)
	c.typeLine(t, "0")
	assert.Equal(t, exitOK, c.exit(t))
}
