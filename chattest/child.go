package chattest

import (
	"flag"
	"os"
	"runtime"
	"strconv"
	"testing"

	"im-workbook/chattest/proc"
)

// Main is a chapter's TestMain: in the child it runs serve(ip, port) (the
// tutorial's NewServer(ip, port).Start()); otherwise it runs the tests.
// The test binary re-runs itself as the server: the chapter is not
// changed to be testable, and a server that spins, leaks or panics takes
// only its own child process down with it.
func Main(m *testing.M, serve func(ip string, port int)) {
	MainArgs(m, func(ip string, port int, _ []string) { serve(ip, port) })
}

// MainArgs is Main for servers that take the transcript's "server args".
func MainArgs(m *testing.M, serve func(ip string, port int, args []string)) {
	ServeIfChild(serve)
	Setup()
	os.Exit(m.Run())
}

// ServeIfChild runs serve and exits when this process is a child server
// started by [Child]; otherwise it returns at once. A TestMain that runs
// the tests itself (say, through goleak.VerifyTestMain) calls it first,
// then [Setup].
func ServeIfChild(serve func(ip string, port int, args []string)) { proc.IfChild(serve, nil) }

// Setup parses the test flags and lets more transcripts run at once than
// there are cores (go test's default -parallel): they mostly wait on
// sockets, not the CPU. An explicit -parallel on the command line wins.
func Setup() {
	flag.Parse()
	learnerRun()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", strconv.Itoa(max(16, runtime.GOMAXPROCS(0))))
	}
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
func (c Child) Start(t testing.TB, args []string) *Target {
	t.Helper()
	srv := ServeBinary(t, os.Args[0], c.Ready, args...)
	p := srv.Program
	return &Target{
		Addr:    srv.Addr,
		Console: p.Out,
		Skip:    srv.Console.pos,
		Exited:  p.Exited(),
		ExitErr: p.Err,
	}
}
