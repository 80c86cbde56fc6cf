package chattest

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"im-workbook/chattest/proc"
)

func TestProgramTypeWatchExit(t *testing.T) {
	p := StartProgram(t, Self("-x", "y z"))
	out := NewWatch("greeter", p.Out)
	out.Next(t, "args [-x y z]\n")
	p.Type(t, "hello world\n")
	assert.Equal(t, "> hello world\n", out.Line(t))
	p.Type(t, "one\ntwo\n")
	out.NextLines(t, "> two\n", "> one\n")
	p.Type(t, "three\n")
	assert.Equal(t, "> ", out.Expect(t, "three\n"), "what came before it")
	out.Nothing(t)
	assert.True(t, p.Running())
	p.CloseInput(t)
	assert.NoError(t, p.Exit(t))
	assert.Equal(t, "bye", out.ReadToEnd(t))
}

func TestProgramExitStatus(t *testing.T) {
	p := StartProgram(t, Self())
	out := NewWatch("greeter", p.Out)
	fork := out.Fork("again")
	out.Expect(t, "args []\n")
	p.Type(t, "fail\n")
	var exit *exec.ExitError
	require.True(t, errors.As(p.Exit(t), &exit))
	assert.Equal(t, 3, exit.ExitCode())
	out.Ended(t)
	assert.Equal(t, "args []\n", fork.Skip(), "a fork keeps its own place")
}

func TestWatchFailures(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		check      func(tb testing.TB, w *Watch)
	}{
		{"next", "next bytes (-want +got)", func(tb testing.TB, w *Watch) { w.Next(tb, "argh") }},
		{"lines", "next lines, in any order", func(tb testing.TB, w *Watch) { w.NextLines(tb, "args ()\n") }},
		{"nothing", `expected nothing more, got "args []\n"`, func(tb testing.TB, w *Watch) { w.Nothing(tb) }},
		{"ended", "unread bytes before the end", func(tb testing.TB, w *Watch) { w.Ended(tb) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := StartProgram(t, Self())
			rec := &recorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				w := NewWatch("greeter", p.Out)
				if tc.name == "ended" {
					p.CloseInput(rec)
				}
				tc.check(rec, w)
			}()
			<-done
			if assert.Len(t, rec.failed, 1) {
				assert.Contains(t, rec.failed[0], tc.want)
			}
		})
	}
}

func TestServeBinary(t *testing.T) {
	bin, err := BuildTest(".", t.TempDir())
	require.NoError(t, err)
	srv := ServeBinary(t, bin, "", "-a")
	conn, err := net.Dial("tcp", srv.Addr)
	require.NoError(t, err)
	defer conn.Close()
	in := NewWatch("client", proc.NewStream(conn))
	in.Next(t, "welcome "+conn.LocalAddr().String()+"\n")
	srv.Console.Next(t, "conn "+conn.LocalAddr().String()+"\n")
}

func TestProgramSignal(t *testing.T) {
	p := StartProgram(t, Self())
	NewWatch("greeter", p.Out).Next(t, "args []\n")
	require.NoError(t, p.Signal(os.Kill))
	var exit *exec.ExitError
	require.True(t, errors.As(p.Exit(t), &exit), "killed, not a clean exit")
	assert.False(t, exit.Success())
	assert.False(t, p.Running())
}

func TestServeCommand(t *testing.T) {
	// The greeter stands for a plain binary that takes its address as a
	// flag: its first line, the ready line, shows the arguments.
	srv := ServeCommand(t, "args [", func(addr string) *exec.Cmd { return Self("-addr", addr) })
	NewWatch("greeter", srv.Program.Out).Next(t, "args [-addr "+srv.Addr+"]\n")
	srv.Program.Type(t, "hi\n")
	srv.Console.Next(t, "> hi\n")
	assert.True(t, srv.Program.Running())
}
