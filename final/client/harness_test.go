package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The tests drive the real client as a person does: lines typed on its
// standard input, its standard output read as it comes, against a real
// server (the chapter 09 server or the final server, each a child
// process) or a bare listener that records the exact bytes the client
// sends, with a second, nc-style connection observing what the server
// delivers. Most run the client in process through run(); TestProcess
// runs the test binary itself as the client (see TestMain) to check the
// exit statuses of main.
//
// The client's output mixes its own prompts with server lines in an order
// the client does not fix, so checks wait for text to appear, count it, or
// look at whole lines, never at how the two interleave.

// patience bounds every wait for something that should happen; a passing
// run never reaches it. quiet bounds a check that nothing happens.
const (
	patience = 10 * time.Second
	quiet    = 200 * time.Millisecond
)

// envMain makes the test binary run main() instead of the tests.
const envMain = "FINAL_CLIENT_MAIN"

// binDir holds the server binaries the tests build.
var binDir string

func TestMain(m *testing.M) {
	if os.Getenv(envMain) != "" {
		main()
		return
	}
	dir, err := os.MkdirTemp("", "final-client-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		os.RemoveAll(dir)
		os.Exit(code)
	}))
}

// screen collects what a writer or a connection produced, so that a test
// can wait for text to appear in it.
type screen struct {
	name string // for failure messages

	mu      sync.Mutex
	buf     []byte
	ended   error         // why the source ended (io.EOF when it closed); nil while open
	changed chan struct{} // closed, then replaced, on every change
}

func newScreen(name string) *screen {
	return &screen{name: name, changed: make(chan struct{})}
}

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(s.buf, p...)
	close(s.changed)
	s.changed = make(chan struct{})
	return len(p), nil
}

// copyFrom fills the screen from r until r ends, in a goroutine.
func (s *screen) copyFrom(r io.Reader) {
	go func() {
		_, err := io.Copy(s, r)
		if err == nil {
			err = io.EOF
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.ended = err
		close(s.changed)
		s.changed = make(chan struct{})
	}()
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.buf)
}

// waitUntil waits until ok holds for the text so far, and returns it.
func (s *screen) waitUntil(t testing.TB, what string, ok func(text string) bool) string {
	t.Helper()
	timer := time.NewTimer(patience)
	defer timer.Stop()
	for {
		s.mu.Lock()
		text, ended, changed := string(s.buf), s.ended, s.changed
		s.mu.Unlock()
		if ok(text) {
			return text
		}
		if ended != nil {
			t.Fatalf("%s: ended (%v) before %s; it shows:\n%s", s.name, ended, what, text)
		}
		select {
		case <-changed:
		case <-timer.C:
			t.Fatalf("%s: no %s within %v; it shows:\n%s", s.name, what, patience, text)
		}
	}
}

// waitFor waits until the text holds sub at least n times.
func (s *screen) waitFor(t testing.TB, sub string, n int) string {
	t.Helper()
	return s.waitUntil(t, fmt.Sprintf("%q (×%d)", sub, n), func(text string) bool {
		return strings.Count(text, sub) >= n
	})
}

// waitEnd waits until the source has ended and returns why.
func (s *screen) waitEnd(t testing.TB) error {
	t.Helper()
	s.waitUntil(t, "end", func(string) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.ended != nil
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

// lines returns the complete lines of text, without their "\n".
func lines(text string) []string {
	text = text[:strings.LastIndexByte(text, '\n')+1]
	return strings.Split(strings.TrimSuffix(text, "\n"), "\n")
}

// client is the client under test, running run() in a goroutine.
type client struct {
	stdin          *os.File // the terminal's side of standard input
	stdout, stderr *screen
	interrupt      context.CancelFunc // as Ctrl-C does (main cancels run's context)
	done           chan struct{}
	status         int // run's result, once done is closed
}

// startClient runs the client against addr, as `client -ip … -port …`.
func startClient(t *testing.T, addr string) *client {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return startClientArgs(t, "-ip", host, "-port", port)
}

func startClientArgs(t *testing.T, args ...string) *client {
	t.Helper()
	// A real pipe, not io.Pipe: typing must not block once the client has
	// stopped reading, as on a terminal.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &client{stdin: w, stdout: newScreen("client stdout"), stderr: newScreen("client stderr"), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	c.interrupt = cancel
	go func() {
		defer close(c.done)
		c.status = run(ctx, r, c.stdout, c.stderr, args)
	}()
	t.Cleanup(func() {
		cancel()
		w.Close() // ends the goroutine reading standard input
		<-c.done
		r.Close()
	})
	return c
}

// typeLine types line and Enter.
func (c *client) typeLine(t testing.TB, line string) {
	t.Helper()
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		t.Fatalf("typing %q: %v", line, err)
	}
}

// ctrlD ends standard input, as Ctrl-D does at the start of a line.
func (c *client) ctrlD(t testing.TB) {
	t.Helper()
	if err := c.stdin.Close(); err != nil {
		t.Fatal(err)
	}
}

// exit waits for the client to end by itself and returns its status.
func (c *client) exit(t testing.TB) int {
	t.Helper()
	select {
	case <-c.done:
		return c.status
	case <-time.After(patience):
		t.Fatalf("the client is still running after %v; stdout:\n%s\nstderr:\n%s", patience, c.stdout, c.stderr)
		return 0
	}
}

// running reports whether the client has not ended.
func (c *client) running() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// observer is an nc-style user: a bare connection that types protocol
// lines and sees exactly what the server sends.
type observer struct {
	conn net.Conn
	*screen
}

func dial(t testing.TB, addr string) *observer {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	o := &observer{conn: conn, screen: newScreen("observer")}
	o.copyFrom(conn)
	t.Cleanup(func() { conn.Close(); _ = o.waitEnd(t) })
	// Online once the server says so: a user who connects later is sure to
	// be announced to this one.
	o.waitFor(t, "已上线\n", 1)
	return o
}

// send writes line and a newline.
func (o *observer) send(t testing.TB, line string) {
	t.Helper()
	if _, err := io.WriteString(o.conn, line+"\n"); err != nil {
		t.Fatalf("observer sending %q: %v", line, err)
	}
}

// rename makes the observer known as name and waits for the reply.
func (o *observer) rename(t testing.TB, name string) {
	t.Helper()
	o.send(t, "rename "+name)
	o.waitFor(t, "用户名已修改为："+name+"\n", 1)
}

// server is a chat server running as a child process.
type server struct {
	name    string // "ch09" or "final"
	addr    string
	cmd     *exec.Cmd
	console *screen
	exited  chan struct{}
}

// kind describes how to build and start one kind of server.
type kind struct {
	name  string
	build func(out string) *exec.Cmd
	ready string // how the line starts that the server prints once it listens
	// start returns the command that serves on addr, with extra flags.
	start func(bin, addr string, flags []string) *exec.Cmd

	once sync.Once
	bin  string
	err  error
}

var (
	ch09 = &kind{
		name: "ch09",
		// Its main listens on 8888 only; its test binary serves on the
		// address in CHATTEST_SERVE (see chattest.Main).
		build: func(out string) *exec.Cmd {
			cmd := exec.Command("go", "test", "-c", "-o", out, ".")
			cmd.Dir = filepath.Join("..", "..", "steps", "09-client")
			return cmd
		},
		ready: "server listening...",
		start: func(bin, addr string, flags []string) *exec.Cmd {
			cmd := exec.Command(bin, "-test.run=^$")
			cmd.Env = append(os.Environ(), "CHATTEST_SERVE="+addr)
			return cmd
		},
	}
	final = &kind{
		name: "final",
		build: func(out string) *exec.Cmd {
			cmd := exec.Command("go", "build", "-o", out, ".")
			cmd.Dir = ".."
			return cmd
		},
		ready: "server listening",
		start: func(bin, addr string, flags []string) *exec.Cmd {
			host, port, _ := net.SplitHostPort(addr)
			return exec.Command(bin, append([]string{"-ip", host, "-port", port}, flags...)...)
		},
	}
	servers = []*kind{ch09, final}
)

// binary builds the server once per test run. go test puts its own go
// command first in PATH.
func (k *kind) binary(t testing.TB) string {
	t.Helper()
	k.once.Do(func() {
		k.bin = filepath.Join(binDir, k.name)
		if out, err := k.build(k.bin).CombinedOutput(); err != nil {
			k.err = fmt.Errorf("building the %s server: %v\n%s", k.name, err, out)
		}
	})
	if k.err != nil {
		t.Fatal(k.err)
	}
	return k.bin
}

// serve starts a server of this kind on a free port, waits until it
// listens, and stops it when the test ends.
func (k *kind) serve(t testing.TB, flags ...string) *server {
	t.Helper()
	bin := k.binary(t)
	var lastErr error
	for range 3 { // a free port can be taken between our check and the server's listen
		s, err := k.try(bin, flags)
		if err == nil {
			t.Cleanup(s.kill)
			return s
		}
		lastErr = err
	}
	t.Fatalf("starting the %s server: %v", k.name, lastErr)
	return nil
}

func (k *kind) try(bin string, flags []string) (*server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()

	s := &server{name: k.name, addr: addr, cmd: k.start(bin, addr, flags), console: newScreen(k.name + " console"), exited: make(chan struct{})}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	s.cmd.Stdout, s.cmd.Stderr = pw, pw
	if err := s.cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, err
	}
	pw.Close()
	s.console.copyFrom(pr)
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()

	timer := time.NewTimer(patience)
	defer timer.Stop()
	for {
		s.console.mu.Lock()
		text, changed := string(s.console.buf), s.console.changed
		s.console.mu.Unlock()
		for _, line := range lines(text) {
			if strings.HasPrefix(line, k.ready) {
				return s, nil
			}
		}
		select {
		case <-changed:
		case <-s.exited:
			s.kill()
			return nil, fmt.Errorf("exited before it listened: %q", s.console)
		case <-timer.C:
			s.kill()
			return nil, fmt.Errorf("not listening after %v: %q", patience, s.console)
		}
	}
}

// kill stops the server at once (SIGKILL) and waits until it is gone.
func (s *server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// stop asks the server to shut down (SIGTERM) and waits until it is gone.
func (s *server) stop(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.exited:
	case <-time.After(patience):
		t.Fatalf("the %s server did not stop within %v", s.name, patience)
	}
}

// eachServer runs test as a parallel subtest against each kind of server.
func eachServer(t *testing.T, test func(t *testing.T, k *kind)) {
	for _, k := range servers {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			test(t, k)
		})
	}
}

// recorder is a bare server that accepts one connection and records
// every byte the client sends: the exact protocol lines.
type recorder struct {
	addr string
	conn chan net.Conn // the accepted connection, once
	*screen
}

func record(t testing.TB) *recorder {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{addr: l.Addr().String(), conn: make(chan net.Conn, 1), screen: newScreen("bytes sent by the client")}
	go func() {
		defer l.Close()
		conn, err := l.Accept()
		if err != nil {
			return
		}
		r.conn <- conn
		r.copyFrom(conn)
	}()
	t.Cleanup(func() {
		l.Close()
		select {
		case conn := <-r.conn:
			conn.Close()
		default:
		}
	})
	return r
}

// accepted waits for the client's connection.
func (r *recorder) accepted(t testing.TB) net.Conn {
	t.Helper()
	select {
	case conn := <-r.conn:
		r.conn <- conn
		return conn
	case <-time.After(patience):
		t.Fatalf("the client did not connect within %v", patience)
		return nil
	}
}

// freePort returns a loopback address that nothing listens on.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
