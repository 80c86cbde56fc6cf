package chattest

import (
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"im-workbook/chattest/proc"
)

var update = flag.Bool("update", false, "rewrite the expected parts of testdata transcripts from what was observed")

// Waits. Only Quiet bounds a check that nothing arrives; the others are
// ceilings that a passing run never reaches.
var (
	// Quiet is how long "sees nothing" (and the final check that every
	// received byte is in the transcript) waits for bytes that should not come.
	Quiet = 200 * time.Millisecond
	// Patience is the longest a step waits for bytes that should come.
	Patience = 10 * time.Second
	// settle is how long -update waits for a stream to fall silent.
	settle = 300 * time.Millisecond
)

// StartFunc starts a fresh server for one transcript, passing it the
// transcript's "server args". It stops the server in t.Cleanup.
type StartFunc func(t testing.TB, args []string) *Server

// RunDir runs every testdata transcript (*.txt) in dir as a parallel
// subtest, each against its own server from start; nil starts this test
// binary as the chapter's server ([Child]), and then -server and -client
// check the learner's own code instead (see [Check]).
func RunDir(t *testing.T, dir string, start StartFunc) {
	if start == nil {
		if *serverFlag != "" || *clientFlag != "" {
			checkFromFlag(t, dir)
			return
		}
		start = Child{}.Start
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no transcripts (*.txt) in %s", dir)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			t.Parallel()
			runFile(t, path, start)
		})
	}
}

// runFile runs one transcript. With -update it rewrites the file's
// expectations from what was observed instead of failing.
func runFile(t testing.TB, path string, start StartFunc) {
	t.Helper()
	original, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := parseScript(path, original)
	if err != nil {
		t.Fatal(err)
	}
	s := newSession(t, sc, start, *update)
	s.run()
	if s.update && slices.ContainsFunc(sc.steps, func(st *step) bool { return st.changed }) {
		if err := os.WriteFile(path, sc.format(original), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("updated %s", path)
	}
}

// newSession starts a server for sc and prepares to run it.
func newSession(t testing.TB, sc *script, start StartFunc, update bool) *session {
	t.Helper()
	s := &session{t: t, sc: sc, target: start(t, sc.args()), clients: map[string]*client{}, ports: map[string]string{}, update: update}
	if s.target.Program != nil {
		s.serverExited = s.target.Program.Exited()
	}
	if s.target.Console != nil {
		s.console = s.newEndpoint(consoleName, s.target.Console.s)
	}
	if _, port, err := net.SplitHostPort(s.target.Addr); err == nil {
		s.ports[port] = consoleName
	}
	for name, addr := range s.target.Instances {
		if _, port, err := net.SplitHostPort(addr); err == nil && port != "" {
			s.ports[port] = name
		}
	}
	if s.console != nil {
		s.console.pos = len(s.norm(s.target.Console.s.Bytes()[:s.target.Console.pos]))
	}
	return s
}

type session struct {
	t      testing.TB
	sc     *script
	target *Server
	// serverExited is closed when the server process has exited; nil
	// when the server is not a process of ours.
	serverExited <-chan struct{}
	console      *endpoint
	clients      map[string]*client
	order        []*client         // in connect order, for the final check
	ports        map[string]string // local port → client name, for placeholders
	update       bool
	crashed      bool

	// Checking a learner's server (see check.go): only what clients see
	// decides, the console is not read, and where the run first departs
	// from the transcript is kept for the report.
	clientsOnly bool
	at          int        // index of the step being run
	diff        difference // filled just before a failure
}

// A difference is where a run first departed from its transcript.
type difference struct {
	at        int    // index of the step in sc.steps; len(sc.steps) for the final check
	want, got string // expected and received bytes, where a step compares them
}

// endpoint is one stream being read by the transcript: a cursor over its
// text with placeholders put in, that passes over any copies of the
// allowed filler at the front of what no step has accounted for yet.
type endpoint struct {
	name string
	cursor
	filler string // bytes a "may see … any number of times" step lets through
}

func (s *session) newEndpoint(name string, stream *proc.Stream) *endpoint {
	ep := &endpoint{name: name, cursor: cursor{s: stream, view: s.norm}}
	ep.skip = func(rest string) int {
		n := 0
		for ep.filler != "" && strings.HasPrefix(rest[n:], ep.filler) {
			n += len(ep.filler)
		}
		return n
	}
	return ep
}

type client struct {
	*endpoint
	conn *net.TCPConn
}

var addrRE = regexp.MustCompile(`127\.0\.0\.1:(\d+)`)

// norm replaces every known address with its placeholder, 127.0.0.1:<name>.
func (s *session) norm(b []byte) string {
	return addrRE.ReplaceAllStringFunc(string(b), func(addr string) string {
		if name, ok := s.ports[addr[len("127.0.0.1:"):]]; ok {
			return "127.0.0.1:<" + name + ">"
		}
		return addr
	})
}

// denorm puts real addresses into typed text.
func (s *session) denorm(text string) string {
	for port, name := range s.ports {
		text = strings.ReplaceAll(text, "127.0.0.1:<"+name+">", "127.0.0.1:"+port)
	}
	return text
}

func (s *session) fatalf(st *step, format string, a ...any) {
	s.t.Helper()
	s.diff.at = s.at
	s.t.Fatalf("%s:%d: %s", s.sc.path, st.line, fmt.Sprintf(format, a...))
}

func (s *session) endpoint(st *step) *endpoint {
	s.t.Helper()
	if st.who == consoleName {
		if s.console == nil {
			s.fatalf(st, "this server's console is not captured")
		}
		return s.console
	}
	c, ok := s.clients[st.who]
	if !ok {
		s.fatalf(st, "%s has not connected", st.who)
	}
	return c.endpoint
}

func (s *session) run() {
	s.t.Helper()
	connected := false
	for i := 0; i < len(s.sc.steps); i++ {
		st := s.sc.steps[i]
		s.at = i
		if s.clientsOnly && st.who == consoleName && st.verb != vCrashes {
			continue
		}
		switch st.verb {
		case vComment:
		case vArgs:
			if connected {
				s.fatalf(st, "server args must come before the first connect")
			}
		case vConnect:
			connected = true
			s.connect(st)
		case vTypes:
			c := s.client(st)
			if _, err := c.conn.Write([]byte(s.denorm(st.text))); err != nil {
				s.fatalf(st, "%s types: %v", st.who, err)
			}
		case vQuits, vResets:
			c := s.client(st)
			if st.verb == vResets {
				_ = c.conn.SetLinger(0) // Close then sends RST instead of FIN.
			}
			_ = c.conn.Close()
		case vWait:
			time.Sleep(st.wait)
		case vSees:
			if repl := s.sees(st); repl != nil {
				s.replace(i, repl)
				i += len(repl) - 1
			}
		case vSeesNothing:
			ep := s.endpoint(st)
			if got := ep.nothing(); got != "" {
				if !s.update {
					s.diff.got = got
					s.fatalf(st, "%s: expected nothing more, got %q", st.who, got)
				}
				ep.pos += len(got)
				repl := seesSteps(st.who, got)
				s.replace(i, repl)
				i += len(repl) - 1
			}
		case vMaySee:
			s.endpoint(st).filler = st.text
		case vDisconnected:
			s.disconnected(st)
		case vCrashes:
			s.crashes(st)
		}
	}
	s.finalCheck()
}

// exited reports whether the server has exited.
func (s *session) exited() bool {
	if s.serverExited == nil {
		return false
	}
	select {
	case <-s.serverExited:
		return true
	default:
		return false
	}
}

// exitedAfterFailure is exited for a run that ended with failure. When a
// connection that the server closed is why, the server may be dying: its
// exit takes a moment longer to be seen than the end of its connections.
func (s *session) exitedAfterFailure(failure string) bool {
	if failure == "" || s.serverExited == nil {
		return s.exited()
	}
	for _, c := range s.order {
		if c.s.Closed() != nil {
			select {
			case <-s.serverExited:
			case <-time.After(time.Second):
			}
			break
		}
	}
	return s.exited()
}

func (s *session) client(st *step) *client {
	s.t.Helper()
	s.endpoint(st)
	return s.clients[st.who]
}

// replace puts repl in the place of step i (an -update rewrite).
func (s *session) replace(i int, repl []*step) {
	s.sc.steps = slices.Replace(s.sc.steps, i, i+1, repl...)
}

// seesSteps renders observed bytes as one sees step per line.
func seesSteps(who, got string) []*step {
	var out []*step
	for _, l := range splitLines(got) {
		out = append(out, &step{verb: vSees, who: who, text: l, changed: true})
	}
	return out
}

func (s *session) connect(st *step) {
	s.t.Helper()
	if _, dup := s.clients[st.who]; dup || st.who == consoleName {
		s.fatalf(st, "%s is already a name in this transcript", st.who)
	}
	addr := s.target.Addr
	d := net.Dialer{Timeout: Patience}
	if st.to != "" {
		var ok bool
		if addr, ok = s.target.Instances[st.to]; !ok {
			s.fatalf(st, "connect %s to %s: no such instance", st.who, st.to)
		}
	}
	if s.target.Instances != nil {
		// Linux may give connections to two instances one local port, and
		// then the second client's default name is "ADDR#2"; binding first
		// gives each client a port of its own.
		d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}
	}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		s.fatalf(st, "connect %s: %v", st.who, err)
	}
	tcp := conn.(*net.TCPConn)
	s.t.Cleanup(func() { _ = tcp.Close() })
	_, port, _ := net.SplitHostPort(conn.LocalAddr().String())
	s.ports[port] = st.who
	c := &client{endpoint: s.newEndpoint(st.who, proc.NewStream(tcp)), conn: tcp}
	s.clients[st.who] = c
	s.order = append(s.order, c)
}

// sees checks a sees/prints step. Under -update it returns the steps that
// should replace it when what arrived differs; otherwise it fails the test.
func (s *session) sees(st *step) []*step {
	s.t.Helper()
	ep := s.endpoint(st)
	want := st.text
	if st.anyOrd {
		want = strings.Join(st.items, "")
	}
	got, err := ep.wait(func(rest string) (int, verdict) {
		switch {
		case len(rest) >= len(want):
			return 0, found
		case !st.mayBecome(rest):
			return 0, doubtful
		}
		return 0, waiting
	})
	arrived := got
	if err == nil {
		got = got[:len(want)]
		if !st.anyOrd && got == want || st.anyOrd && sameLines(got, st.items) {
			ep.pos += len(want)
			ep.filler = ""
			return nil
		}
	}
	if s.update {
		got := ep.settle()
		ep.pos += len(got)
		if st.anyOrd {
			return []*step{{verb: vSees, who: st.who, anyOrd: true, items: splitLines(got), changed: true}}
		}
		if got == "" {
			return []*step{{verb: vSeesNothing, who: st.who, changed: true}}
		}
		return seesSteps(st.who, got)
	}
	s.diff.want, s.diff.got = want, arrived
	what := "sees"
	if st.who == consoleName {
		what = "prints"
	}
	if st.anyOrd {
		s.fatalf(st, "%s %s, in any order: mismatch (-want +got, sorted):\n%s", st.who, what,
			cmp.Diff(sorted(st.items), sorted(splitLines(got))))
	}
	if err != nil && strings.HasPrefix(want, got) {
		s.fatalf(st, "%s %s: got only %q before %v (-want +got):\n%s", st.who, what, got, err, cmp.Diff(want, got))
	}
	s.fatalf(st, "%s %s: mismatch (-want +got):\n%s", st.who, what, cmp.Diff(want, got))
	return nil
}

// mayBecome reports whether got, the bytes so far, can still grow into
// what the sees step st expects: no complete line of an unordered block
// is one it does not list.
func (st *step) mayBecome(got string) bool {
	if !st.anyOrd {
		return strings.HasPrefix(st.text, got)
	}
	left := slices.Clone(st.items)
	for _, l := range splitLines(got) {
		if !strings.HasSuffix(l, "\n") {
			break
		}
		i := slices.Index(left, l)
		if i < 0 {
			return false
		}
		left = slices.Delete(left, i, i+1)
	}
	return true
}

// settle waits for the first byte (up to Patience), then until the
// stream has been silent for a moment, and returns everything unread.
func (ep *endpoint) settle() string {
	got, _ := ep.wait(func(rest string) (int, verdict) {
		if rest == "" {
			return 0, waiting
		}
		return 0, doubtful
	})
	return got
}

func (s *session) disconnected(st *step) {
	s.t.Helper()
	got, err := s.client(st).ended()
	if err != nil {
		s.fatalf(st, "%s is still connected after %v", st.who, Patience)
	}
	if got != "" {
		s.diff.got = got
		s.fatalf(st, "%s: unread bytes before the end of the connection: %q", st.who, got)
	}
}

func (s *session) crashes(st *step) {
	s.t.Helper()
	if s.serverExited == nil || s.console == nil {
		s.fatalf(st, "this server cannot be watched for a crash")
	}
	select {
	case <-s.serverExited:
	case <-time.After(Patience):
		s.fatalf(st, "the server is still running after %v", Patience)
	}
	s.crashed = true
	if s.clientsOnly {
		return
	}
	got, _ := s.console.toEnd() // until the pipe closes
	if strings.HasPrefix(got, st.text) && st.text != "" {
		return
	}
	if s.update {
		first, _, _ := strings.Cut(got, "\n")
		st.text, st.changed = first+"\n", true
		st.raw = fmt.Sprintf("server crashes %s", strconv.Quote(st.text))
		return
	}
	s.fatalf(st, "server crashes: its output does not start with %q:\n%s", st.text, got)
}

// finalCheck fails if any endpoint received bytes no step accounts for,
// or if the server exited without a "server crashes" step.
func (s *session) finalCheck() {
	s.t.Helper()
	eps := make([]*endpoint, 0, len(s.order)+1)
	for _, c := range s.order {
		eps = append(eps, c.endpoint)
	}
	if s.console != nil && !s.clientsOnly {
		eps = append(eps, s.console)
	}
	s.at = len(s.sc.steps)
	time.Sleep(Quiet)
	var msgs []string
	for _, ep := range eps {
		if got, _, _ := ep.unread(); got != "" {
			if s.update {
				ep.pos += len(got)
				s.sc.steps = append(s.sc.steps, seesSteps(ep.name, got)...)
				continue
			}
			msgs = append(msgs, fmt.Sprintf("%s received bytes the transcript does not show: %q", ep.name, got))
		}
	}
	if s.serverExited != nil && !s.crashed {
		select {
		case <-s.serverExited:
			msgs = append(msgs, fmt.Sprintf("the server exited (%v) but the transcript has no \"server crashes\" step", s.target.Program.Err()))
		default:
		}
	}
	if len(msgs) > 0 {
		s.diff.at = s.at
		s.t.Fatalf("%s: at the end:\n%s", s.sc.path, strings.Join(msgs, "\n"))
	}
}

func sameLines(got string, items []string) bool {
	return slices.Equal(sorted(splitLines(got)), sorted(items))
}

func sorted(ss []string) []string {
	out := slices.Clone(ss)
	slices.Sort(out)
	return out
}
