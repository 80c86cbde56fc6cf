package chattest

import (
	"flag"
	"os"
	"runtime"
	"strconv"
	"testing"

	"im-workbook/chattest/proc"
)

// Roles are what a test binary does. chattest starts it again as a child
// process to be a server ([Child], [ServeBinary]) or a program under test
// ([Self]); otherwise it runs the tests. Re-running the test binary keeps
// the chapter's code as the tutorial wrote it, and a server that spins,
// leaks or panics takes only its own child process down with it.
type Roles struct {
	Serve   func(ip string, port int, args []string) // the server, with the transcript's "server args"
	Program func(args []string)                      // the program, as its main with these arguments
	Tests   func(m *testing.M)                       // runs the tests and exits; default os.Exit(m.Run())
}

// Main is a test binary's TestMain: it plays the role this process was
// started in. For the tests it parses the flags and, in a binary that
// serves transcripts, lets more of them run at once than there are cores
// (go test's default -parallel): they mostly wait on sockets, not the
// CPU. An explicit -parallel on the command line wins.
func Main(m *testing.M, r Roles) {
	proc.IfChild(r.Serve, r.Program)
	flag.Parse()
	learnerRun()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set && r.Serve != nil {
		_ = flag.Set("test.parallel", strconv.Itoa(max(16, runtime.GOMAXPROCS(0))))
	}
	if r.Tests == nil {
		os.Exit(m.Run())
	}
	r.Tests(m)
}
