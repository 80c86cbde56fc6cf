// Package proc starts the workbook's child processes, once for the whole
// workspace: a program whose output is read as it comes, or a server on a
// free loopback port, started once it prints its ready line. It imports
// neither testing nor testify, so that tools' binaries use it as the
// tests do (chattest wraps it for tests).
package proc

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"time"
)

// Process is a running child process. Its standard output, and its
// standard error unless the command set one, go to Out in the order it
// wrote them.
type Process struct {
	In  io.WriteCloser // its standard input
	Out *Stream

	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has exited
	err    error         // how it exited; written before exited is closed
}

// Start starts cmd; its Stdin and Stdout must be unset.
func Start(cmd *exec.Cmd) (*Process, error) {
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = pw
	if cmd.Stderr == nil {
		cmd.Stderr = pw // one pipe keeps stdout and stderr in order
	}
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, err
	}
	pw.Close()
	p := &Process{In: in, Out: NewStream(pr), cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
		<-p.Out.Done() // the pipe ends once every writer (the child and any of its children) is gone
		pr.Close()
	}()
	return p, nil
}

// Exited is closed once the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Err waits for the process to exit and returns how: nil for exit status
// 0, else an *exec.ExitError.
func (p *Process) Err() error {
	<-p.exited
	return p.err
}

// Running reports whether the process has not exited yet.
func (p *Process) Running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Pid is the process's id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Name is the program's path, for messages.
func (p *Process) Name() string { return p.cmd.Path }

// Signal sends sig to the process: os.Interrupt, say, as Ctrl-C does on a
// terminal, or a server's shutdown signal.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Kill kills the process if it is still running and waits until it is gone.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// FreeAddr returns a loopback address ("127.0.0.1:port") that nothing
// listens on right now.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Server is a child server, ready for connections.
type Server struct {
	*Process
	Addr  string // host:port to dial
	Ready int    // bytes of Out up to the end of its ready line
}

// Ready reports whether a server that serves on addr and has printed out
// so far accepts connections, and where in out its console goes on.
type Ready func(addr string, out []byte) (end int, ok bool)

// LineStarting is ready once a complete line starting with prefix has
// been printed; the console goes on after that line.
func LineStarting(prefix string) Ready {
	return func(_ string, data []byte) (int, bool) {
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
}

// Serve starts the server that command returns for a free loopback
// address and waits up to patience for it to be ready. A free port can be
// taken between our check and the child's listen, so it tries three times.
func Serve(command func(addr string) *exec.Cmd, ready Ready, patience time.Duration) (*Server, error) {
	var err error
	for try := 0; try < 3; try++ {
		var s *Server
		if s, err = serve(command, ready, patience); err == nil {
			return s, nil
		}
	}
	return nil, err
}

func serve(command func(addr string) *exec.Cmd, ready Ready, patience time.Duration) (*Server, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	p, err := Start(command(addr))
	if err != nil {
		return nil, err
	}
	deadline := time.NewTimer(patience)
	defer deadline.Stop()
	poll := time.NewTicker(10 * time.Millisecond) // for readiness that output does not show
	defer poll.Stop()
	for {
		data, changed, rerr := p.Out.Snapshot()
		if end, ok := ready(addr, data); ok {
			return &Server{Process: p, Addr: addr, Ready: end}, nil
		}
		if rerr != nil {
			return nil, fmt.Errorf("%s exited before it was ready (%v): %q", p.Name(), p.Err(), data)
		}
		select {
		case <-changed:
		case <-poll.C:
		case <-deadline.C:
			p.Kill()
			return nil, fmt.Errorf("%s not ready within %v: %q", p.Name(), patience, p.Out.Bytes())
		}
	}
}
