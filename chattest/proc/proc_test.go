package proc

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The test binary plays the child roles itself: a server that prints its
// ready line and accepts one connection, a program that writes to both
// standard output and standard error, and a server that dies first.
func TestMain(m *testing.M) {
	IfChild(func(ip string, port int, args []string) {
		if len(args) > 0 && args[0] == "die" {
			fmt.Println("dying")
			os.Exit(3)
		}
		l, err := net.Listen("tcp", net.JoinHostPort(ip, fmt.Sprint(port)))
		if err != nil {
			fmt.Println("listen:", err)
			os.Exit(1)
		}
		fmt.Println("starting")
		fmt.Println("server listening... args", args)
		c, err := l.Accept()
		if err == nil {
			fmt.Fprintln(c, "hello")
			c.Close()
		}
	}, func(args []string) {
		fmt.Fprintln(os.Stdout, "out", args)
		fmt.Fprintln(os.Stderr, "err")
		fmt.Fprintln(os.Stdout, "out again")
	})
	os.Exit(m.Run())
}

const patience = 10 * time.Second

func TestServe(t *testing.T) {
	s, err := Serve(func(addr string) *exec.Cmd { return ServeTest(os.Args[0], addr, "a", "b c") }, LineStarting("server listening"), patience)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Kill()
	if got, want := string(s.Out.Bytes()[:s.Ready]), "starting\nserver listening... args [a b c]\n"; got != want {
		t.Errorf("console up to the ready line: %q, want %q", got, want)
	}
	c, err := net.DialTimeout("tcp", s.Addr, patience)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 6)
	if _, err := c.Read(buf); err != nil || string(buf) != "hello\n" {
		t.Errorf("read %q, %v", buf, err)
	}
	if err := s.Err(); err != nil {
		t.Errorf("the server exited with %v", err)
	}
}

func TestServeExitsBeforeReady(t *testing.T) {
	_, err := Serve(func(addr string) *exec.Cmd { return ServeTest(os.Args[0], addr, "die") }, LineStarting("server listening"), patience)
	if err == nil || !strings.Contains(err.Error(), "exited before it was ready (exit status 3)") || !strings.Contains(err.Error(), `"dying\n"`) {
		t.Errorf("error %v; want the exit status and the output", err)
	}
}

func TestServeNotReady(t *testing.T) {
	start := time.Now()
	_, err := Serve(func(addr string) *exec.Cmd { return ServeTest(os.Args[0], addr) }, LineStarting("never printed"), 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "not ready within 300ms") {
		t.Errorf("error %v; want not ready", err)
	}
	if time.Since(start) > patience {
		t.Errorf("took %v", time.Since(start))
	}
}

func TestStartMergesOutputInOrder(t *testing.T) {
	p, err := Start(RunTest(os.Args[0], "x"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
	<-p.Out.Done()
	if got, want := string(p.Out.Bytes()), "out [x]\nerr\nout again\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	if p.Running() {
		t.Error("still running after it exited")
	}
}

func TestStartKeepsAGivenStderr(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := RunTest(os.Args[0])
	cmd.Stderr = w
	p, err := Start(cmd)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	errs := NewStream(r)
	<-p.Out.Done()
	<-errs.Done()
	if got := string(p.Out.Bytes()); got != "out []\nout again\n" {
		t.Errorf("stdout %q", got)
	}
	if got := string(errs.Bytes()); got != "err\n" {
		t.Errorf("stderr %q", got)
	}
}

func TestFreeAddr(t *testing.T) {
	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the free address %s cannot be listened on: %v", addr, err)
	}
	l.Close()
}
