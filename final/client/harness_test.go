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

	"im-workbook/chattest"
	"im-workbook/chattest/proc"
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
// look at whole lines, never at how the two interleave; where the two
// must be followed separately, a second Watch (Fork) reads the same output.
//
// The machinery is chattest's (Stream, Watch, BuildTest, ServeBinary,
// ServeCommand); every wait is bounded by chattest.Patience, which a
// passing run never reaches. What is the client's own stays here: run()
// in process with pipes, the recorder, the observer's protocol lines.

// binDir holds the server binaries the tests build.
var binDir string

func TestMain(m *testing.M) {
	chattest.Main(m, chattest.Roles{
		Program: func(args []string) { // TestProcess runs main itself
			os.Args = append(os.Args[:1], args...)
			main()
		},
		Tests: func(m *testing.M) {
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
		},
	})
}

// output is what a program or a connection produced: read in order
// through its Watch, as a person reads a terminal, or whole.
type output struct {
	*chattest.Watch
	name   string
	stream *proc.Stream
}

func newOutput(name string, r io.Reader) output {
	return outputOf(name, proc.NewStream(r))
}

func outputOf(name string, s *proc.Stream) output {
	return output{Watch: chattest.NewWatch(name, s), name: name, stream: s}
}

// String returns everything that has arrived so far, from the start.
func (o output) String() string { return string(o.stream.Bytes()) }

// end waits for the source to end and returns everything it produced,
// from the start, and why it ended (io.EOF when it closed).
func (o output) end(t testing.TB) (string, error) {
	t.Helper()
	all := chattest.NewWatch(o.name, o.stream).ReadToEnd(t)
	return all, o.stream.Closed()
}

// all waits for the source to end and returns everything it produced.
func (o output) all(t testing.TB) string {
	t.Helper()
	text, _ := o.end(t)
	return text
}

// pipeOutput returns a writer for a program's output and what it wrote;
// closing the writer ends the output.
func pipeOutput(name string) (*io.PipeWriter, output) {
	r, w := io.Pipe()
	return w, newOutput(name, r)
}

// client is the client under test, running run() in a goroutine.
type client struct {
	stdin          *os.File // the terminal's side of standard input
	stdout, stderr output
	interrupt      context.CancelFunc // as Ctrl-C does (main cancels run's context)
	done           chan struct{}
	status         int // run's result, once done is closed
}

// watchedClient starts a server of this kind, connects an observer, then
// starts a client, and waits until the observer has seen it arrive (after
// its own arrival).
func (k *kind) watchedClient(t *testing.T) (*observer, *client) {
	t.Helper()
	srv := k.start(t)
	obs := dial(t, srv.Addr)
	c := startClient(t, srv.Addr)
	obs.Expect(t, "已上线\n")
	return obs, c
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
	stdout, outs := pipeOutput("client stdout")
	stderr, errs := pipeOutput("client stderr")
	c := &client{stdin: w, stdout: outs, stderr: errs, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	c.interrupt = cancel
	go func() {
		defer close(c.done)
		c.status = run(ctx, r, stdout, stderr, args)
		// Its output ends with run, so that what it wrote can be read whole.
		stdout.Close()
		stderr.Close()
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
	case <-time.After(chattest.Patience):
		t.Fatalf("the client is still running after %v; stdout:\n%s\nstderr:\n%s", chattest.Patience, c.stdout, c.stderr)
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
	output
}

func dial(t testing.TB, addr string) *observer {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	o := &observer{conn: conn, output: newOutput("observer", conn)}
	t.Cleanup(func() { conn.Close(); o.all(t) })
	// Online once the server says so: a user who connects later is sure to
	// be announced to this one.
	o.Expect(t, "已上线\n")
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
	o.Expect(t, "用户名已修改为："+name+"\n")
}

// kind describes how to build and start one kind of server.
type kind struct {
	name  string
	build func(dir string) (bin string, err error)
	serve func(t testing.TB, bin string, flags []string) *chattest.Server

	once sync.Once
	bin  string
	err  error
}

var (
	ch09 = &kind{
		name: "ch09",
		// Its main listens on 8888 only; its test binary serves on a
		// free port (see chattest.Main).
		build: func(dir string) (string, error) {
			return chattest.BuildTest(filepath.Join("..", "..", "steps", "09-client"), dir)
		},
		serve: func(t testing.TB, bin string, flags []string) *chattest.Server {
			t.Helper()
			return chattest.ServeBinary(t, bin, "", flags...)
		},
	}
	final = &kind{
		name: "final",
		build: func(dir string) (string, error) {
			bin := filepath.Join(dir, "final")
			cmd := exec.Command("go", "build", "-o", bin, ".")
			cmd.Dir = ".."
			if out, err := cmd.CombinedOutput(); err != nil {
				return "", fmt.Errorf("go build: %v\n%s", err, out)
			}
			return bin, nil
		},
		serve: func(t testing.TB, bin string, flags []string) *chattest.Server {
			t.Helper()
			return chattest.ServeCommand(t, "server listening", func(addr string) *exec.Cmd {
				host, port, _ := net.SplitHostPort(addr)
				return exec.Command(bin, append([]string{"-ip", host, "-port", port}, flags...)...)
			})
		},
	}
	servers = []*kind{ch09, final}
)

// start builds the server once per test run (go test puts its own go
// command first in PATH), starts it on a free port, waits until it
// listens, and kills it when the test ends.
func (k *kind) start(t testing.TB, flags ...string) *chattest.Server {
	t.Helper()
	k.once.Do(func() {
		k.bin, k.err = k.build(binDir)
		if k.err != nil {
			k.err = fmt.Errorf("building the %s server: %v", k.name, k.err)
		}
	})
	if k.err != nil {
		t.Fatal(k.err)
	}
	return k.serve(t, k.bin, flags)
}

// stop asks the server to shut down (SIGINT) and waits until it is gone.
func stop(t testing.TB, s *chattest.Server) {
	t.Helper()
	if err := s.Program.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	_ = s.Program.Exit(t) // how it exited is not what the tests check
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
	addr     string
	accepted chan *peer // the accepted connection, once
	peer     *peer      // once conn has returned it
}

// peer is the client's connection, as the recorder sees it.
type peer struct {
	net.Conn
	sent output // the bytes the client sent
}

func record(t testing.TB) *recorder {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{addr: l.Addr().String(), accepted: make(chan *peer, 1)}
	go func() {
		defer l.Close()
		conn, err := l.Accept()
		if err != nil {
			return
		}
		r.accepted <- &peer{Conn: conn, sent: newOutput("bytes sent by the client", conn)}
	}()
	t.Cleanup(func() {
		l.Close()
		if r.peer == nil {
			select {
			case r.peer = <-r.accepted:
			default:
			}
		}
		if r.peer != nil {
			r.peer.Close()
			r.peer.sent.all(t)
		}
	})
	return r
}

// conn waits for the client's connection.
func (r *recorder) conn(t testing.TB) *peer {
	t.Helper()
	if r.peer == nil {
		select {
		case r.peer = <-r.accepted:
		case <-time.After(chattest.Patience):
			t.Fatalf("the client did not connect within %v", chattest.Patience)
		}
	}
	return r.peer
}

// freeAddr returns a loopback address that nothing listens on.
func freeAddr(t testing.TB) string {
	t.Helper()
	addr, err := proc.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// lines returns the complete lines of text, without their "\n".
func lines(text string) []string {
	text = text[:strings.LastIndexByte(text, '\n')+1]
	return strings.Split(strings.TrimSuffix(text, "\n"), "\n")
}
