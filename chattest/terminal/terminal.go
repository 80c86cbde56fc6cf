//go:build unix

// Package terminal runs a real program (telnet, nc, a menu client) in a
// pseudo-terminal, types at it as a person does, and shows what the
// person's screen shows. A freeze, an echo, a prompt are screen facts, not
// byte facts, so the program's output goes through a VT emulator
// (github.com/charmbracelet/x/vt, in this process: no tmux to install or
// to poll) and tests wait for what the screen shows, never for a time.
//
// The pty is github.com/creack/pty; the terminal is TERM=xterm, UTF-8
// (LANG=C.UTF-8, the tty's IUTF8 on, as a terminal window sets it), with
// Linux's stty defaults otherwise (intr ^C, quit ^\, susp ^Z, discard ^O)
// and an empty HOME, so no ~/.telnetrc changes what is tried.
package terminal

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/charmbracelet/x/vt"
	"github.com/creack/pty"

	"im-workbook/chattest"
)

// The screen's size.
const (
	Width  = 160
	Height = 40
)

// Keys as a terminal sends them.
const (
	Enter     = "\r"
	Backspace = "\x7f"
	CtrlC     = "\x03"
	CtrlD     = "\x04"
	Escape    = "\x1d" // ^], telnet's escape key
)

// Terminal is a program running in a pseudo-terminal, and its screen.
type Terminal struct {
	name string
	cmd  *exec.Cmd
	pty  *os.File

	mu      sync.Mutex
	screen  *vt.Emulator
	written int           // bytes the program has written to the screen
	changed chan struct{} // closed (and replaced) whenever the screen changes

	exited  chan struct{} // closed when the program has exited
	exitErr error         // the program's exit status, once exited is closed
	drained chan struct{} // closed when all its output has reached the screen
}

// Start runs cmd in a new pseudo-terminal (cmd's standard streams must be
// unset). The program is killed, if it is still running, when the test
// ends.
func Start(t testing.TB, cmd *exec.Cmd) *Terminal {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("terminal: %v", err)
	}
	defer tty.Close()
	if err := setUTF8(tty); err != nil {
		ptmx.Close()
		t.Fatalf("terminal: %v", err)
	}
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: Height, Cols: Width}); err != nil {
		ptmx.Close()
		t.Fatalf("terminal: %v", err)
	}
	cmd.Env = append(cmd.Environ(), "TERM=xterm", "LANG=C.UTF-8", "LC_ALL=C.UTF-8", "HOME="+t.TempDir())
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		ptmx.Close()
		t.Fatalf("terminal: starting %s: %v", cmd.Path, err)
	}
	tm := &Terminal{
		name:    cmd.Args[0],
		cmd:     cmd,
		pty:     ptmx,
		screen:  vt.NewEmulator(Width, Height),
		changed: make(chan struct{}),
		exited:  make(chan struct{}),
		drained: make(chan struct{}),
	}
	go tm.copyOutput()
	go tm.answerQueries()
	go func() {
		tm.exitErr = cmd.Wait()
		close(tm.exited)
	}()
	t.Cleanup(func() {
		tm.close()
		if t.Failed() { // every screen of a failed test helps to see why
			t.Logf("terminal: the screen of %s at the end:\n%s", strings.Join(cmd.Args, " "), tm.Screen())
		}
	})
	return tm
}

// copyOutput puts what the program writes on the screen.
func (tm *Terminal) copyOutput() {
	defer close(tm.drained)
	buf := make([]byte, 32<<10)
	for {
		n, err := tm.pty.Read(buf)
		if n > 0 {
			tm.mu.Lock()
			_, _ = tm.screen.Write(buf[:n])
			tm.written += n
			close(tm.changed)
			tm.changed = make(chan struct{})
			tm.mu.Unlock()
		}
		if err != nil { // EIO once the program and its children have closed the tty
			return
		}
	}
}

// answerQueries sends the emulator's answers to terminal queries (cursor
// position, device attributes) back to the program, as a terminal does.
func (tm *Terminal) answerQueries() {
	_, _ = io.Copy(tm.pty, tm.screen)
}

func (tm *Terminal) close() {
	tm.Kill()
	_ = tm.pty.Close()
	<-tm.drained
	// Ends answerQueries. (Emulator.Close would also do it, but it sets a
	// field that Read, on the other goroutine, reads without a lock.)
	if c, ok := tm.screen.InputPipe().(io.Closer); ok {
		_ = c.Close()
	}
}

// Type sends text to the program as one burst, as a paste or a person
// typing faster than the program reads does.
func (tm *Terminal) Type(t testing.TB, text string) {
	t.Helper()
	if _, err := io.WriteString(tm.pty, text); err != nil {
		t.Fatalf("terminal: typing %q at %s: %v", text, tm.name, err)
	}
}

// Line types text and presses Enter.
func (tm *Terminal) Line(t testing.TB, text string) {
	t.Helper()
	tm.Type(t, text+Enter)
}

// Screen returns the text on the screen, one line per row, without
// trailing spaces and blank rows at the end.
func (tm *Terminal) Screen() string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.screenLocked()
}

func (tm *Terminal) screenLocked() string {
	lines := strings.Split(tm.screen.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.TrimRight(strings.Join(lines, "\n"), "\n")
}

// Written returns how many bytes the program has written to the screen.
func (tm *Terminal) Written() int {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.written
}

// WaitFor waits up to chattest.Patience until the screen shows want, and
// returns the screen.
func (tm *Terminal) WaitFor(t testing.TB, want string) string {
	t.Helper()
	return tm.WaitUntil(t, fmt.Sprintf("the screen to show %q", want), func(screen string) bool {
		return strings.Contains(screen, want)
	})
}

// WaitUntil waits up to chattest.Patience until ok(screen) holds, and
// returns the screen; what says what is awaited, for the failure message.
func (tm *Terminal) WaitUntil(t testing.TB, what string, ok func(screen string) bool) string {
	t.Helper()
	deadline := time.NewTimer(chattest.Patience)
	defer deadline.Stop()
	for {
		tm.mu.Lock()
		screen, changed := tm.screenLocked(), tm.changed
		tm.mu.Unlock()
		if ok(screen) {
			return screen
		}
		select {
		case <-changed:
		case <-tm.drained:
			if screen := tm.Screen(); ok(screen) {
				return screen
			}
			t.Fatalf("terminal: %s ended before %s; the screen:\n%s", tm.name, what, tm.Screen())
		case <-deadline.C:
			t.Fatalf("terminal: waited %v for %s (%s); the screen:\n%s", chattest.Patience, what, tm.name, tm.Screen())
		}
	}
}

// Exit waits up to chattest.Patience for the program to exit by itself
// and returns its exit status.
func (tm *Terminal) Exit(t testing.TB) error {
	t.Helper()
	select {
	case <-tm.exited:
		<-tm.drained
		return tm.exitErr
	case <-time.After(chattest.Patience):
		t.Fatalf("terminal: %s did not exit within %v; the screen:\n%s", tm.name, chattest.Patience, tm.Screen())
		return nil
	}
}

// Running reports whether the program has not exited yet.
func (tm *Terminal) Running() bool {
	select {
	case <-tm.exited:
		return false
	default:
		return true
	}
}

// RunsFor reports whether the program is still running after d, a short
// bounded wait for something that should not happen (an exit).
func (tm *Terminal) RunsFor(d time.Duration) bool {
	select {
	case <-tm.exited:
		return false
	case <-time.After(d):
		return true
	}
}

// Kill kills the program (and its process group) if it is still running,
// and waits until it has gone.
func (tm *Terminal) Kill() {
	if tm.Running() {
		_ = syscall.Kill(-tm.cmd.Process.Pid, syscall.SIGKILL)
	}
	<-tm.exited
}
