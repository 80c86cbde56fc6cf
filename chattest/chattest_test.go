package chattest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// greeter is the program the Program tests drive: it prints its args,
// answers each line, and exits with status 3 on "fail".
func greeter(args []string) {
	fmt.Println("args", args)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() == "fail" {
			os.Exit(3)
		}
		fmt.Printf("> %s\n", sc.Text())
	}
	fmt.Print("bye")
}

// The tests run transcripts against a tiny line server of their own: it
// greets each client with its address, echoes each line to its sender,
// prints "conn ADDR" on its console, and panics on the line "panic".
func TestMain(m *testing.M) {
	Main(m, Roles{
		Serve: func(ip string, port int, args []string) {
			l, err := net.Listen("tcp", net.JoinHostPort(ip, fmt.Sprint(port)))
			if err != nil {
				fmt.Println("listen:", err)
				return
			}
			fmt.Println("server listening... args", args)
			serveEcho(l, true)
		},
		Program: greeter,
		Tests:   func(m *testing.M) { goleak.VerifyTestMain(m) },
	})
}

func serveEcho(l net.Listener, console bool) {
	for {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		if console {
			fmt.Println("conn", conn.RemoteAddr())
		}
		go func() {
			defer conn.Close()
			fmt.Fprintf(conn, "welcome %s\n", conn.RemoteAddr())
			sc := bufio.NewScanner(conn)
			for sc.Scan() {
				if sc.Text() == "panic" {
					panic("boom")
				}
				fmt.Fprintf(conn, "%s\n", sc.Text())
			}
		}()
	}
}

// inProcess starts the echo server in this process, without a console.
func inProcess(t testing.TB, _ []string) *Server {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { serveEcho(l, false); close(done) }()
	t.Cleanup(func() { l.Close(); <-done })
	return &Server{Addr: l.Addr().String()}
}

// recorder is a testing.TB whose Fatal stops the transcript's goroutine
// and records the message, so a test can check that a transcript fails.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	failed []string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, a ...any) {
	r.mu.Lock()
	r.failed = append(r.failed, fmt.Sprintf(format, a...))
	r.mu.Unlock()
	runtime.Goexit()
}
func (r *recorder) Fatal(a ...any) { r.Fatalf("%s", fmt.Sprint(a...)) }

// runText writes text to a transcript file and runs it, returning the
// failure message ("" if it passed) and the file's text afterwards.
func runText(t *testing.T, text string, start StartFunc, upd bool) (string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "t.txt")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	old := *update
	*update = upd
	defer func() { *update = old }()
	rec := &recorder{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); runFile(rec, path, start) }()
	<-done
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	return strings.Join(rec.failed, "\n"), string(after)
}

const echoOK = `# a comment
connect alice
alice sees "welcome 127.0.0.1:<alice>\n"
connect bob
bob sees "welcome 127.0.0.1:<bob>\n"
alice types "to 127.0.0.1:<bob>\n"
alice sees "to 127.0.0.1:<bob>\n"
bob types "one\ntwo\n"
bob sees, in any order:
    "two\n"
    "one\n"
bob types "x"
bob sees nothing
alice quits
`

func TestPassingTranscript(t *testing.T) {
	failed, after := runText(t, echoOK, inProcess, false)
	assert.Empty(t, failed)
	assert.Equal(t, echoOK, after, "a passing run leaves the file alone")
}

func TestFailures(t *testing.T) {
	for _, tc := range []struct {
		name, script, want string
	}{
		{"wrong bytes", "connect a\na sees \"welcome 127.0.0.1:<a>!\"\n", "t.txt:2: a sees: mismatch"},
		{"too few bytes", "connect a\na sees \"welcome 127.0.0.1:<a>\\nmore\"\n", "t.txt:2: a sees"},
		{"wrong placeholder", "connect a\nconnect b\na sees \"welcome 127.0.0.1:<b>\\n\"\n", "t.txt:3: a sees"},
		{"unordered", "connect a\na types \"x\\ny\\n\"\na sees \"welcome 127.0.0.1:<a>\\n\"\na sees, in any order:\n  \"x\\n\"\n  \"z\\n\"\n", "t.txt:4: a sees, in any order: mismatch"},
		{"something arrives", "connect a\na sees nothing\n", "t.txt:2: a: expected nothing more"},
		{"unaccounted bytes", "connect a\n", "a received bytes the transcript does not show"},
		{"not connected", "b types \"x\"\n", "t.txt:1: b has not connected"},
		{"no console", "server prints \"x\"\n", "console is not captured"},
		{"unread before the end", "connect a\na sees \"welcome 127.0.0.1:<a>\\n\"\na types \"hi\\n\"\na is disconnected\n", "t.txt:4: a: unread bytes"},
		{"still connected", "connect a\na sees \"welcome 127.0.0.1:<a>\\n\"\na is disconnected\n", "t.txt:3: a is still connected after 1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := Patience
			Patience = 500 * Quiet / 100 // fail fast: 1s
			defer func() { Patience = old }()
			failed, _ := runText(t, tc.script, inProcess, false)
			assert.Contains(t, failed, tc.want)
		})
	}
}

func TestUpdateRewritesExpectations(t *testing.T) {
	in := `# alice says two lines
connect alice
alice sees "wrong\n"
alice types "one\ntwo\n"
alice sees nothing
alice types "three\n"
alice sees, in any order:
    "nope\n"
`
	want := `# alice says two lines
connect alice
alice sees "welcome 127.0.0.1:<alice>\n"
alice types "one\ntwo\n"
alice sees "one\n"
alice sees "two\n"
alice types "three\n"
alice sees, in any order:
    "three\n"
`
	failed, after := runText(t, in, inProcess, true)
	assert.Empty(t, failed)
	if diff := cmp.Diff(want, after); diff != "" {
		t.Errorf("-update result (-want +got):\n%s", diff)
	}
	// The rewritten file passes as it is.
	failed, again := runText(t, after, inProcess, false)
	assert.Empty(t, failed)
	assert.Equal(t, after, again)
}

func TestChildConsoleAndCrash(t *testing.T) {
	script := `server args -x=1
connect alice
server prints "conn 127.0.0.1:<alice>\n"
alice sees "welcome 127.0.0.1:<alice>\n"
alice types "panic\n"
server crashes "panic: boom\n"
alice is disconnected
`
	failed, _ := runText(t, script, Child{}.Start, false)
	assert.Empty(t, failed)

	// Without the crashes step, the exit is reported.
	script = strings.Replace(script, "server crashes \"panic: boom\\n\"\n", "", 1)
	failed, _ = runText(t, script, Child{}.Start, false)
	assert.Contains(t, failed, "the server exited")
}

func TestChildReadyLineIsSkipped(t *testing.T) {
	// The ready line carries the args ("server listening... args [-x=1]"):
	// all of it is skipped, so the console starts with the first connection.
	script := "server args -x=1\nconnect a\nserver prints \"conn 127.0.0.1:<a>\\n\"\na sees \"welcome 127.0.0.1:<a>\\n\"\n"
	failed, _ := runText(t, script, Child{}.Start, false)
	assert.Empty(t, failed)
}

func TestMaySeeAnyNumberOfTimes(t *testing.T) {
	script := `connect a
a sees "welcome 127.0.0.1:<a>\n"
a types "x\n\n\n\ny\n"
a sees "x\n"
a may see "\n" any number of times
a sees "y\n"
a types "\n"
a sees nothing
`
	// The filler ends with the sees step that matched after it: the last
	// blank line is unaccounted for, and "sees nothing" says so.
	failed, _ := runText(t, script, inProcess, false)
	assert.Contains(t, failed, `t.txt:8: a: expected nothing more, got "\n"`)

	script = strings.Replace(script, "a types \"\\n\"\na sees nothing\n", "a types \"z\\n\"\na sees \"z\\n\"\n", 1)
	failed, after := runText(t, script, inProcess, false)
	assert.Empty(t, failed)
	assert.Equal(t, script, after)

	// Zero copies are fine too.
	failed, _ = runText(t, "connect a\na may see \"\\n\" any number of times\na sees \"welcome 127.0.0.1:<a>\\n\"\n", inProcess, false)
	assert.Empty(t, failed)
}

func TestParseErrors(t *testing.T) {
	for _, line := range []string{
		"frobnicate",
		"alice sees hello",
		"connect",
		"connect al ice",
		"wait forever",
		"server types \"x\"",
		"alice prints \"x\"",
		"alice crashes \"x\"",
		"alice may see \"\"  any number of times",
		"alice may see \"x\"",
	} {
		_, err := parseScript("p.txt", []byte("# ok\n"+line+"\n"))
		if assert.Error(t, err, line) {
			assert.Contains(t, err.Error(), "p.txt:2:", line)
		}
	}
}

func TestSplitLines(t *testing.T) {
	assert.Equal(t, []string{"a\n", "\n", "b"}, splitLines("a\n\nb"))
	assert.Nil(t, splitLines(""))
}
