package chattest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"im-workbook/chattest/proc"
)

// BuildTest compiles the tests of the package in dir (go test -c) into a
// binary in outDir and returns its path. A test of one package runs
// another package's server this way: see [ServeBinary].
func BuildTest(dir, outDir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	out := filepath.Join(outDir, filepath.Base(abs)+".test")
	if runtime.GOOS == "windows" {
		out += ".exe"
	}
	// go test puts its own go command first in PATH for the tests it runs.
	cmd := exec.Command("go", "test", "-c", "-o", out, ".")
	cmd.Dir = abs
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go test -c in %s: %v\n%s", abs, err, b)
	}
	return out, nil
}

// Server is a running server: a transcript talks to it.
type Server struct {
	Addr    string   // host:port to dial
	Program *Program // the server process; nil when it is not a child of this test
	Console *Watch   // its console, just past the ready line; nil when not captured

	// Instances are the addresses of one chat served by several server
	// instances (a cluster), by the name "connect alice to NAME" uses;
	// their ports read as 127.0.0.1:<NAME> in a transcript.
	Instances map[string]string
}

// ServeBinary runs a test binary built by [BuildTest] as a child server
// on a free loopback port, as [Child] runs the test binary itself (the
// binary's TestMain is [Main] with a Serve role), and waits for the
// line that starts with ready (default "server listening...").
func ServeBinary(t testing.TB, path, ready string, args ...string) *Server {
	t.Helper()
	return ServeCommand(t, ready, func(addr string) *exec.Cmd { return proc.ServeTest(path, addr, args...) })
}

// ServeCommand runs the command that command returns for addr, a free
// loopback port, as a child server, and waits for the line that starts
// with ready (default "server listening..."). It is for a server that is
// not a test binary: a binary built with go build, say, that takes its
// address as flags.
func ServeCommand(t testing.TB, ready string, command func(addr string) *exec.Cmd) *Server {
	t.Helper()
	if ready == "" {
		ready = "server listening..."
	}
	s, err := proc.Serve(command, proc.LineStarting(ready), Patience)
	if err != nil {
		t.Fatalf("chattest: starting the server: %v", err)
	}
	t.Cleanup(s.Kill)
	console := NewWatch("server console", s.Out)
	console.pos = s.Ready
	return &Server{Addr: s.Addr, Program: &Program{s.Process}, Console: console}
}

// Child starts the test binary itself as the server (see [Main]).
type Child struct {
	// Ready is how the line starts that the server prints once it
	// accepts connections; default "server listening...", as the tutorial
	// prints. That whole line is skipped: transcripts start after it.
	Ready string
}

// Start implements [StartFunc]: it runs this test binary as the server
// (see [ServeBinary]).
func (c Child) Start(t testing.TB, args []string) *Server {
	t.Helper()
	return ServeBinary(t, os.Args[0], c.Ready, args...)
}
