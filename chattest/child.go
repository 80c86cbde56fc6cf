package chattest

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
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

// Start implements [StartFunc].
func (c Child) Start(t testing.TB, args []string) *Target {
	t.Helper()
	ready := c.Ready
	if ready == "" {
		ready = "server listening..."
	}
	var lastErr error
	for try := 0; try < 3; try++ { // a free port can be taken between our check and the child's listen
		tg, err := c.start(t, args, ready)
		if err == nil {
			return tg
		}
		lastErr = err
	}
	t.Fatalf("chattest: starting the server: %v", lastErr)
	return nil
}

func (c Child) start(t testing.TB, args []string, ready string) (*Target, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	a, _ := json.Marshal(args)
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envServe+"="+addr, envArgs+"="+string(a), "GOTRACEBACK=single")
	cmd.Stdout, cmd.Stderr = pw, pw // one pipe keeps stdout and stderr in order
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, err
	}
	pw.Close()
	console := NewStream(pr)
	exited := make(chan struct{})
	var (
		mu      sync.Mutex
		exitErr error
	)
	go func() {
		err := cmd.Wait()
		mu.Lock()
		exitErr = err
		mu.Unlock()
		close(exited)
	}()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
		pr.Close()
	}
	// Wait for the ready line rather than dialling: a probe connection
	// would itself become a user of the chat.
	deadline := time.After(Patience)
	for {
		data, changed, _ := console.snapshot()
		if skip, ok := afterLine(data, ready); ok {
			t.Cleanup(stop)
			return &Target{
				Addr:    addr,
				Console: console,
				Skip:    skip,
				Exited:  exited,
				ExitErr: func() error { mu.Lock(); defer mu.Unlock(); return exitErr },
			}, nil
		}
		select {
		case <-changed:
		case <-exited:
			<-console.done()
			stop()
			return nil, fmt.Errorf("server exited before printing %q: %s", ready, console.Bytes())
		case <-deadline:
			stop()
			return nil, fmt.Errorf("server did not print %q within %v; it printed %q", ready, Patience, console.Bytes())
		}
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
