package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"im-workbook/chattest/proc"
	"im-workbook/tools/internal/load"
)

// A kind is one of the servers the benchmark compares.
type kind struct {
	name    string // column heading
	dialect *load.Dialect
	// command returns the command line to serve on addr; maxUsers is
	// what the scenario needs (ncat refuses more than --max-conns); extra
	// are final's flags for the scenario.
	command func(addr string, maxUsers int, extra []string) *exec.Cmd
	ready   proc.Ready // whether the server accepts connections
}

// build compiles chapter 08 and final from the workspace at root into dir,
// and returns the servers to compare: those two and ncat, when installed.
func build(ctx context.Context, root, dir string) ([]kind, error) {
	ch08, final := filepath.Join(dir, "ch08.test"), filepath.Join(dir, "final")
	// Chapter 08's main hard-codes 127.0.0.1:8888. Its test binary,
	// started by proc.ServeTest, serves on any port instead: the same
	// server code, no fixed port to collide.
	for _, args := range [][]string{
		{"test", "-c", "-o", ch08, "./steps/08-private-chat"},
		{"build", "-o", final, "./final"},
	} {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	kinds := []kind{
		{
			name: "ch08", dialect: load.Dialects["tutorial"],
			command: func(addr string, _ int, _ []string) *exec.Cmd {
				return proc.ServeTest(ch08, addr)
			},
			ready: proc.LineStarting("server listening"),
		},
		{
			name: "final", dialect: load.Dialects["final"],
			// final runs with its default limits (byte budgets: -rate
			// 128 KiB/s and -burst 512 KiB per user, -room-rate 1 MiB/s and
			// -room-burst 512 KiB for the room; -max-users 10000; -idle 5m)
			// and the scenario's extra flags.
			command: func(addr string, _ int, extra []string) *exec.Cmd {
				host, port, _ := net.SplitHostPort(addr)
				return exec.Command(final, append([]string{"-ip", host, "-port", port}, extra...)...)
			},
			ready: proc.LineStarting("server listening"),
		},
	}
	ncat, err := exec.LookPath("ncat")
	if err != nil {
		logf("ncat is not installed (Debian: apt-get install ncat): its column stays empty")
		return kinds, nil
	}
	return append(kinds, kind{
		name: "ncat", dialect: load.Dialects["ncat"],
		command: func(addr string, maxUsers int, _ []string) *exec.Cmd {
			host, port, _ := net.SplitHostPort(addr)
			return exec.Command(ncat, "--chat", "-l", host, port, "--max-conns", fmt.Sprint(maxUsers))
		},
		ready: func(addr string, _ []byte) (int, bool) { return 0, listening(addr) },
	}), nil
}

// listening reports whether something listens on addr (127.0.0.1:port),
// from /proc/net/tcp (a probe connection would itself join the chat).
func listening(addr string) bool {
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return false
	}
	_, p, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(p)
	want := fmt.Sprintf("0100007F:%04X", port)
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) > 3 && f[1] == want && f[3] == "0A" { // 0A: LISTEN
			return true
		}
	}
	return false
}

// crashed says how server s ended by itself: its first panic line, or its
// exit status and last line of output; "" while it runs.
func crashed(s *proc.Server) string {
	if s.Running() {
		return ""
	}
	out := string(s.Out.Bytes())
	for _, p := range []string{"panic: ", "fatal error: "} {
		if i := strings.Index(out, p); i >= 0 {
			line, _, _ := strings.Cut(out[i:], "\n")
			return line
		}
	}
	if out = strings.TrimSpace(out); out != "" {
		return fmt.Sprintf("%v: %s", s.Err(), out[strings.LastIndexByte(out, '\n')+1:])
	}
	return fmt.Sprint(s.Err())
}
