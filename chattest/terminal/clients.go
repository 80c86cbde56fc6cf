//go:build unix

package terminal

import (
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"im-workbook/chattest"
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

// EchoStorm shows the tutorial's chapters 06-09 failing a learner who
// types Chinese into inetutils telnet (issue 14): "rename 小明" puts
// telnet's IAC AO and IAC DO TIMING-MARK (小 holds 0x8f, ^O) into the
// name; every broadcast that carries the name makes telnet answer, the
// answer is broadcast again, and an nc user beside it gets a screenful of
// lines nobody typed. The test reads until that screen is full, then
// stops both clients: the storm costs a bounded, short time.
func EchoStorm(t *testing.T, addr string) {
	t.Helper()
	bob := Nc(t, addr)
	bob.WaitFor(t, "已上线")
	alice := Telnet(t, addr)
	bob.WaitUntil(t, "alice online", func(s string) bool { return strings.Count(s, "已上线") == 2 })
	alice.Line(t, "rename 小明")
	screen := bob.WaitUntil(t, "a screenful of one line nobody typed", func(s string) bool {
		lines := strings.Split(s, "\n")
		if len(lines) < Height-1 {
			return false
		}
		repeated := lines[len(lines)-2] // the last one may still be arriving
		return strings.HasPrefix(repeated, "[") && strings.Count(s, repeated+"\n") >= Height-3
	})
	alice.Kill()
	bob.Kill()
	t.Logf("bob's screen (nc) once full, %d bytes received:\n%s", bob.Written(), screen)
}

// TelnetFreeze shows a chapter that does not speak telnet freezing a
// learner's telnet (issue 14): a message with 小 in it (0x8f, taken for
// ^O) makes telnet send IAC AO and DO TIMING-MARK, and telnet shows no
// output until that is answered, which the chapters never do. A message
// bob (nc) then sends reaches bob's screen but not alice's.
func TelnetFreeze(t *testing.T, addr string) {
	t.Helper()
	alice := Telnet(t, addr)
	alice.WaitFor(t, "已上线")
	bob := Nc(t, addr)
	bob.WaitFor(t, "已上线")
	alice.WaitUntil(t, "bob online", func(s string) bool { return strings.Count(s, "已上线") == 2 })
	alice.Line(t, "hello")
	bob.WaitFor(t, "hello")
	alice.WaitUntil(t, "hello twice", func(s string) bool { return strings.Count(s, "hello") == 2 })
	alice.Line(t, "小明")
	bob.Line(t, "can you see me")
	// nc's own echo of the line, then the broadcast.
	bob.WaitUntil(t, "the broadcast", func(s string) bool { return strings.Count(s, "can you see me") == 2 })
	if !alice.RunsFor(chattest.Quiet) || strings.Contains(alice.Screen(), "can you see me") {
		t.Errorf("alice's telnet was expected to be frozen; its screen:\n%s", alice.Screen())
	}
	t.Logf("alice's screen (telnet), frozen:\n%s", alice.Screen())
	t.Logf("bob's screen (nc):\n%s", bob.Screen())
}

// ClientSideFix is the shell line the READMEs give for typing Chinese into
// inetutils telnet at a chapter that does not speak telnet: no special
// keys in the terminal (so telnet takes no byte of a character for one),
// and no escape character.
const ClientSideFix = "stty discard undef susp undef intr undef quit undef && telnet -E"

// TelnetClientSideFix runs inetutils telnet connected to addr the way
// ClientSideFix says, from sh in the pseudo-terminal.
func TelnetClientSideFix(t testing.TB, addr string) *Terminal {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	telnet.require(t)
	tm := Start(t, exec.Command("sh", "-c", ClientSideFix+" "+host+" "+port))
	tm.WaitFor(t, "Connected to")
	return tm
}
