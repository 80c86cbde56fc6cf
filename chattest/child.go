package chattest

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"testing"
)

// The test binary re-runs itself as the server: with envServe set, Main
// calls the chapter's own server code instead of running tests. The
// chapter is not changed to be testable, and a server that spins, leaks or
// panics takes only its own child process down with it.
const (
	envServe = "CHATTEST_SERVE" // "ip:port" to serve on
	envArgs  = "CHATTEST_ARGS"  // JSON list of the transcript's server args
)

// Main is a chapter's TestMain: in the child it runs serve(ip, port) (the
// tutorial's NewServer(ip, port).Start()); otherwise it runs the tests.
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
func ServeIfChild(serve func(ip string, port int, args []string)) {
	addr := os.Getenv(envServe)
	if addr == "" {
		return
	}
	host, p, err := net.SplitHostPort(addr)
	port, err2 := strconv.Atoi(p)
	if err != nil || err2 != nil {
		fmt.Fprintf(os.Stderr, "chattest: bad %s=%q\n", envServe, addr)
		os.Exit(2)
	}
	var args []string
	if a := os.Getenv(envArgs); a != "" {
		if err := json.Unmarshal([]byte(a), &args); err != nil {
			fmt.Fprintf(os.Stderr, "chattest: bad %s: %v\n", envArgs, err)
			os.Exit(2)
		}
	}
	serve(host, port, args)
	os.Exit(0)
}

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
		Exited:  p.exited,
		ExitErr: func() error { <-p.exited; return p.err },
	}
}

// freeAddr finds a loopback port that nothing listens on right now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// afterLine finds the first complete line of data that starts with prefix
// and returns the offset just past it.
func afterLine(data []byte, prefix string) (int, bool) {
	for off := 0; off < len(data); {
		end := bytes.IndexByte(data[off:], '\n')
		if end < 0 {
			return 0, false
		}
		if bytes.HasPrefix(data[off:], []byte(prefix)) {
			return off + end + 1, true
		}
		off += end + 1
	}
	return 0, false
}
