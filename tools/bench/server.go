package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A kind is one of the servers the benchmark compares.
type kind struct {
	name    string // column heading
	dialect string // load.Dialects key
	// command returns the command line to serve on port; maxUsers is
	// what the scenario needs (ncat refuses more than --max-conns); extra
	// are final's flags for the scenario.
	command func(port, maxUsers int, extra []string) *exec.Cmd
	// ready reports whether the server accepts connections, given what
	// it has printed so far.
	ready func(port int, out []byte) bool
}

// builds holds the binaries built for one benchmark run.
type builds struct {
	dir   string // temporary directory
	ch08  string // chapter 08's test binary (it serves through chattest's child protocol)
	final string
	ncat  string // "" when ncat is not installed
}

// build compiles chapter 08 and final from the workspace at root.
func build(ctx context.Context, root string) (*builds, error) {
	dir, err := os.MkdirTemp("", "im-bench-")
	if err != nil {
		return nil, err
	}
	b := &builds{dir: dir, ch08: filepath.Join(dir, "ch08.test"), final: filepath.Join(dir, "final")}
	// Chapter 08's main hard-codes 127.0.0.1:8888. Its test binary, run
	// with CHATTEST_SERVE=ip:port, serves on any port instead (see
	// chattest/child.go): the same server code, no fixed port to collide.
	for _, args := range [][]string{
		{"test", "-c", "-o", b.ch08, "./steps/08-private-chat"},
		{"build", "-o", b.final, "./final"},
	} {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	if p, err := exec.LookPath("ncat"); err == nil {
		b.ncat = p
	}
	return b, nil
}

func (b *builds) kinds() []kind {
	ks := []kind{
		{
			name: "ch08", dialect: "tutorial",
			command: func(port, _ int, _ []string) *exec.Cmd {
				cmd := exec.Command(b.ch08, "-test.run=^$")
				cmd.Env = append(os.Environ(), "CHATTEST_SERVE=127.0.0.1:"+strconv.Itoa(port))
				return cmd
			},
			ready: printed("server listening"),
		},
		{
			name: "final", dialect: "final",
			// final runs with its default limits (byte budgets: -rate
			// 128 KiB/s and -burst 512 KiB per user, -room-rate 1 MiB/s and
			// -room-burst 512 KiB for the room; -max-users 10000; -idle 5m)
			// and the scenario's extra flags.
			command: func(port, _ int, extra []string) *exec.Cmd {
				return exec.Command(b.final, append([]string{"-ip", "127.0.0.1", "-port", strconv.Itoa(port)}, extra...)...)
			},
			ready: printed("server listening"),
		},
	}
	if b.ncat != "" {
		ks = append(ks, kind{
			name: "ncat", dialect: "ncat",
			command: func(port, maxUsers int, _ []string) *exec.Cmd {
				return exec.Command(b.ncat, "--chat", "-l", "127.0.0.1", strconv.Itoa(port),
					"--max-conns", strconv.Itoa(maxUsers))
			},
			ready: func(port int, _ []byte) bool { return listening(port) },
		})
	}
	return ks
}

func printed(prefix string) func(int, []byte) bool {
	return func(_ int, out []byte) bool { return bytes.Contains(out, []byte(prefix)) }
}

// listening reports whether something listens on 127.0.0.1:port, from
// /proc/net/tcp (a probe connection would itself join the chat).
func listening(port int) bool {
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return false
	}
	want := fmt.Sprintf("0100007F:%04X", port)
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) > 3 && f[1] == want && f[3] == "0A" { // 0A: LISTEN
			return true
		}
	}
	return false
}

// server is one running server process.
type server struct {
	kind kind
	addr string
	cmd  *exec.Cmd

	mu     sync.Mutex
	out    bytes.Buffer // stdout and stderr
	exited chan struct{}
	err    error // from Wait
}

func (s *server) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.Write(p)
}

func (s *server) output() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.out.Bytes())
}

// start runs a fresh server of kind k on a free loopback port.
func start(k kind, maxUsers int, extra ...string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &server{kind: k, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), exited: make(chan struct{})}
	s.cmd = k.command(port, maxUsers, extra)
	s.cmd.Stdout, s.cmd.Stderr = s, s
	s.cmd.Env = append(s.cmd.Environ(), "GOTRACEBACK=single")
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		err := s.cmd.Wait()
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		close(s.exited)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !k.ready(port, s.output()) {
		select {
		case <-s.exited:
			return nil, fmt.Errorf("%s exited before it was ready: %s", k.name, s.output())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("%s not ready after 10s: %s", k.name, s.output())
		}
	}
	return s, nil
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// crashed reports whether the server has ended by itself, and how.
func (s *server) crashed() (bool, string) {
	select {
	case <-s.exited:
	default:
		return false, ""
	}
	out := string(s.output())
	if i := strings.Index(out, "panic: "); i >= 0 {
		line, _, _ := strings.Cut(out[i:], "\n")
		return true, line
	}
	if i := strings.Index(out, "fatal error: "); i >= 0 {
		line, _, _ := strings.Cut(out[i:], "\n")
		return true, line
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) > 0 && lines[len(lines)-1] != "" {
		return true, fmt.Sprintf("%v: %s", s.err, lines[len(lines)-1])
	}
	return true, fmt.Sprint(s.err)
}

// stop ends the server: SIGTERM, then SIGKILL after 3 seconds.
func (s *server) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(3 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
