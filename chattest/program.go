package chattest

import (
	"io"
	"os"
	"os/exec"
	"testing"
	"time"

	"im-workbook/chattest/proc"
)

// Self returns a command that runs this test binary as the program under
// test, with args (see [Roles]).
func Self(args ...string) *exec.Cmd { return proc.RunTest(os.Args[0], args...) }

// Program is a running child process with a pipe to its standard input
// and its standard output and standard error merged into one stream, in
// the order it wrote them.
type Program struct{ *proc.Process }

// StartProgram starts cmd (its Stdin and Stdout must be unset).
// The program is killed in t.Cleanup if it is still running.
func StartProgram(t testing.TB, cmd *exec.Cmd) *Program {
	t.Helper()
	p, err := proc.Start(cmd)
	if err != nil {
		t.Fatalf("chattest: starting %s: %v", cmd.Path, err)
	}
	t.Cleanup(p.Kill)
	return &Program{p}
}

// Type writes text to the program's standard input in one write, as a
// terminal does when Enter is pressed: type "hello\n" for a line.
func (p *Program) Type(t testing.TB, text string) {
	t.Helper()
	if _, err := io.WriteString(p.In, text); err != nil {
		t.Fatalf("chattest: typing %q: %v", text, err)
	}
}

// CloseInput ends the program's standard input, as Ctrl-D does at the
// start of a line on a terminal.
func (p *Program) CloseInput(t testing.TB) {
	t.Helper()
	if err := p.In.Close(); err != nil {
		t.Fatalf("chattest: closing standard input: %v", err)
	}
}

// Exit waits up to [Patience] for the program to end by itself and
// returns how it ended: nil for exit status 0, else an *exec.ExitError.
func (p *Program) Exit(t testing.TB) error {
	t.Helper()
	select {
	case <-p.Exited():
	case <-time.After(Patience):
		t.Fatalf("chattest: %s is still running after %v", p.Name(), Patience)
	}
	return p.Err()
}
