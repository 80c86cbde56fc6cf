//go:build unix

package terminal

import (
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// A client is a program learners are told to use, and how to install it.
type client struct {
	name    string   // the command
	version []string // arguments that make it say which it is
	is      string   // what that says for the right program
	pkg     string   // the Debian package
}

var (
	telnet = client{"telnet", []string{"--version"}, "GNU inetutils", "inetutils-telnet"}
	nc     = client{"nc", []string{"-h"}, "OpenBSD netcat", "netcat-openbsd"}
)

// require returns the path of c, or skips the test (fails it in CI, where
// .ci/run installs it) if c is missing or is another program of that name.
func (c client) require(t testing.TB) string {
	t.Helper()
	hint := "install it with: sudo apt-get install " + c.pkg
	path, err := exec.LookPath(c.name)
	if err != nil {
		c.missing(t, c.name+" is not installed; "+hint)
	}
	out, _ := exec.Command(path, c.version...).CombinedOutput() // nc -h exits 1
	if !strings.Contains(string(out), c.is) {
		c.missing(t, path+" is not "+c.is+"; "+hint)
	}
	return path
}

func (c client) missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (.ci/run installs it)")
	}
	t.Skip(msg)
}

// Telnet runs inetutils telnet connected to addr (host:port), with extra
// options before the address, and waits until it says it is connected.
func Telnet(t testing.TB, addr string, options ...string) *Terminal {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	args := append(append([]string{}, options...), host, port)
	tm := Start(t, exec.Command(telnet.require(t), args...))
	tm.WaitFor(t, "Escape character is")
	return tm
}

// Nc runs OpenBSD nc connected to addr (host:port), with extra options
// before the address. nc prints nothing when it connects: the caller waits
// for what the server sends.
func Nc(t testing.TB, addr string, options ...string) *Terminal {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	args := append(append([]string{}, options...), host, port)
	return Start(t, exec.Command(nc.require(t), args...))
}
