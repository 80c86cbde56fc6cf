package main

// One regression test per fix in README.md's table, named after it. The
// transcripts in testdata/ show the same fixes from a user's side.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"im-workbook/chattest"
)

// chunkReader returns its chunks one Read at a time, as a network would.
type chunkReader struct{ chunks [][]byte }

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.chunks[0])
	if r.chunks[0] = r.chunks[0][n:]; len(r.chunks[0]) == 0 {
		r.chunks = r.chunks[1:]
	}
	return n, nil
}

func chunks(parts ...string) *chunkReader {
	r := &chunkReader{}
	for _, p := range parts {
		r.chunks = append(r.chunks, []byte(p))
	}
	return r
}

// readLines reads every line (or error) until io.EOF.
func readLines(t *testing.T, r io.Reader, bufSize, max int) []string {
	t.Helper()
	lr := newLineReader(r, bufSize, max)
	var got []string
	for {
		line, err := lr.ReadLine()
		switch {
		case err == io.EOF:
			return got
		case errors.Is(err, errLineTooLong):
			got = append(got, "<too long>")
		case err != nil:
			t.Fatalf("ReadLine: %v", err)
		default:
			got = append(got, string(line))
		}
	}
}

func TestFix01LineFraming(t *testing.T) {
	for _, tc := range []struct {
		name  string
		input *chunkReader
		want  []string
	}{
		{"one line", chunks("hello\n"), []string{"hello"}},
		{"crlf", chunks("hello\r\n"), []string{"hello"}},
		{"several lines in one read", chunks("one\ntwo\r\nthree\n"), []string{"one", "two", "three"}},
		{"a line split over many reads", chunks("he", "l", "lo wor", "ld\r", "\n"), []string{"hello world"}},
		{"one character at a time", chunks("h", "i", "\r", "\n", "y", "o", "\n"), []string{"hi", "yo"}},
		{"last line without a newline", chunks("one\ntwo"), []string{"one", "two"}},
		{"only a last line", chunks("hello"), []string{"hello"}},
		{"blank lines are lines (the server ignores them)", chunks("\n\r\n"), []string{"", ""}},
		{"a line longer than the read buffer", chunks(strings.Repeat("x", 40) + "\n"), []string{strings.Repeat("x", 40)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, readLines(t, tc.input, 16, 100))
		})
	}
	// The same through the server: what one user types in any pieces
	// reaches another as exactly those lines.
	_, addr := startServer(t, nil)
	alice, bob := dial(t, addr), dial(t, addr)
	alice.expect(bob.prefix() + "已上线\n")
	for _, piece := range []string{"fir", "st\r\nsec", "ond\n\nthi", "r", "d\n"} {
		alice.send(piece)
	}
	bob.expect(alice.prefix() + "first\n" + alice.prefix() + "second\n" + alice.prefix() + "third\n")
	alice.send("last words")
	require.NoError(t, alice.conn.CloseWrite())
	bob.expect(alice.prefix() + "last words\n" + alice.prefix() + "下线\n")
}

// waitingReader is a chunkReader that, like a User on Unix, can wait for
// input without a buffer. It records whether the line reader held a read
// buffer each time it waited.
type waitingReader struct {
	chunkReader
	lr      *lineReader
	waits   int
	holding int // waits during which lr held a read buffer
}

func (r *waitingReader) waitReadable() error {
	r.waits++
	if r.lr.buf != nil {
		r.holding++
	}
	return nil
}

// An idle connection holds no read buffer: the line reader gives its buffer
// back before it waits for input, even in the middle of a line (the part
// already read is kept in a slice of its own).
func TestLineReaderWaitsWithoutBuffer(t *testing.T) {
	r := &waitingReader{chunkReader: *chunks("one\ntw", "o\r\n", "three")}
	r.lr = newLineReader(r, readBufSize, 100)
	var got []string
	for {
		line, err := r.lr.ReadLine()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		got = append(got, string(line))
	}
	assert.Equal(t, []string{"one", "two", "three"}, got)
	assert.Equal(t, 4, r.waits, "one wait before each of the three reads and the end")
	assert.Zero(t, r.holding, "waits with a read buffer held")
}

func TestFix02LineLength(t *testing.T) {
	// A 1 MiB line arriving in 1 KiB reads never makes the reader hold more
	// than about one line of the limit, and the next line is read normally.
	const max = 100
	huge := bytes.Repeat([]byte("x"), 1<<20)
	r := io.MultiReader(iotest.OneByteReader(bytes.NewReader([]byte("ok\n"))),
		&chunkReader{chunks: slices.Collect(slices.Chunk(huge, 1024))},
		strings.NewReader("\nnext\n"))
	lr := newLineReader(r, 64, max)
	line, err := lr.ReadLine()
	require.NoError(t, err)
	assert.Equal(t, "ok", string(line))
	_, err = lr.ReadLine()
	require.ErrorIs(t, err, errLineTooLong)
	assert.LessOrEqual(t, cap(lr.long), 2*(max+2), "memory held for a too-long line")
	line, err = lr.ReadLine()
	require.NoError(t, err)
	assert.Equal(t, "next", string(line))

	// Through the server: the sender is told, nobody else sees any of it.
	_, addr := startServer(t, func(c *Config) { c.MaxLine = max })
	alice, bob := dial(t, addr), dial(t, addr)
	alice.expect(bob.prefix() + "已上线\n")
	alice.send(strings.Repeat("y", 64<<10) + "\n")
	alice.expect(fmt.Sprintf(replyTooLong, max))
	bob.nothing()
	alice.send(strings.Repeat("z", max) + "\r\n")
	bob.expect(alice.prefix() + strings.Repeat("z", max) + "\n")
}

func TestFix03TextHygiene(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain text", "plain text"},
		{"\x1b[2J\x1b[31mred", "[2J[31mred"},       // ANSI escapes lose their ESC
		{"\x1b]0;title\x07x", "]0;titlex"},         // OSC: ESC and BEL dropped
		{"a\x00b\x07c\x1bd", "abcd"},               // NUL, BEL, ESC
		{"100\r999", "100999"},                     // a bare CR cannot overwrite the line
		{"c1\u0085\u009b\u009dx", "c1x"},           // C1 controls
		{"\u202eevil\u2066x\u2028y", "evilxy"},     // bidi overrides and line separators
		{"bad\xffutf8\xc3", "bad\ufffdutf8\ufffd"}, // invalid UTF-8 repaired
		{"tab\there", "tab here"},                  // tab becomes a space
		{"helo\x7flo\bo", "hello"},                 // DEL and BS erase (telnet character mode)
		{"\b\b\x7fx", "x"},                         // erasing past the start is harmless
		{"中文\x7f文 🙂‍👩", "中文 🙂‍👩"},                  // erasing removes a whole character; ZWJ emoji kept
		{"\u00e9\u0301", "\u00e9\u0301"},           // combining marks kept
	} {
		assert.Equal(t, tc.want, sanitize([]byte(tc.in)), "sanitize(%q)", tc.in)
	}

	// Telnet commands are removed from the stream, even split across reads.
	telnet := chunks("\xff\xfd\x03he\xff", "\xfb", "\x18llo\xff\xfa\x18\x00xterm", "\xff\xf0!\xff\xff\r\n")
	assert.Equal(t, []string{"hello!\xff"}, readLines(t, telnet, 16, 100))
	assert.Equal(t, "hello!\ufffd", sanitize([]byte("hello!\xff")), "IAC IAC is a 255 byte, which is not UTF-8")
}

func TestFix04NoDataRaces(t *testing.T) {
	// Run with -race: many users doing who, rename, to and broadcast at
	// once. Every user reads everything, so none is slow.
	_, addr := startServer(t, nil)
	const users, rounds = 20, 20
	var wg sync.WaitGroup
	errs := make(chan error, users)
	for i := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- chatter(addr, i, rounds)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// chatter connects, does rounds of who/rename/to/broadcast, and checks
// that its own messages come back, reading everything it receives. It
// runs on its own goroutine, so it returns errors instead of failing.
func chatter(addr string, id, rounds int) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		buf := make([]byte, 0, 4096)
		tmp := make([]byte, 4096)
		for {
			n, err := conn.Read(tmp)
			buf = append(buf, tmp[:n]...)
			for {
				i := bytes.IndexByte(buf, '\n')
				if i < 0 {
					break
				}
				lines <- string(buf[:i+1])
				buf = buf[i+1:]
			}
			if err != nil {
				return
			}
		}
	}()
	waitLine := func(want string) error {
		timeout := time.After(chattest.Patience)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					return fmt.Errorf("user %d: connection ended waiting for %q", id, want)
				}
				if strings.Contains(l, want) {
					return nil
				}
			case <-timeout:
				return fmt.Errorf("user %d: no %q", id, want)
			}
		}
	}
	for r := range rounds {
		name := fmt.Sprintf("u%d-%d", id, r%3)
		msg := fmt.Sprintf("msg-%d-%d", id, r)
		cmds := fmt.Sprintf("who\nrename %s\nto u%d-0 %s\n%s\n", name, (id+1)%20, msg, msg)
		if _, err := conn.Write([]byte(cmds)); err != nil {
			return err
		}
		if err := waitLine(": " + msg + "\n"); err != nil {
			return err
		}
	}
	return nil
}

func TestFix05RenameAtomic(t *testing.T) {
	_, addr := startServer(t, nil)
	const n = 20
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = dial(t, addr)
	}
	// Everyone asks at once, in one burst of writes.
	for _, c := range clients {
		c.send("rename same\n")
	}
	won := 0
	for i, c := range clients {
		l := c.line()
		for strings.HasSuffix(l, ": 已上线\n") { // those who joined later
			l = c.line()
		}
		switch l {
		case "用户名已修改为：same\n":
			won++
		case replyNameUsed:
		default:
			t.Fatalf("client %d: unexpected %q", i, l)
		}
	}
	assert.Equal(t, 1, won, "exactly one rename to the same name succeeds")

	// who lists each connected user exactly once.
	clients[0].send("who\n")
	var listed []string
	for range n {
		listed = append(listed, clients[0].line())
	}
	clients[0].nothing()
	var want []string
	for _, c := range clients {
		want = append(want, c.addr)
	}
	var got []string
	for _, l := range listed {
		addr, _, _ := strings.Cut(strings.TrimPrefix(l, "["), "]")
		got = append(got, addr)
	}
	assert.ElementsMatch(t, want, got)
	assert.Equal(t, 1, strings.Count(strings.Join(listed, ""), "]same: 在线...\n"))
}

func TestFix06WholeWordCommands(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want command
	}{
		{"who", command{kind: cmdWho}},
		{"whoever", command{kind: cmdSay, text: "whoever"}},
		{"who's there?", command{kind: cmdSay, text: "who's there?"}},
		{"who is here", command{kind: cmdUsage, reply: usageWho}},
		{"rename bob", command{kind: cmdRename, name: "bob"}},
		{"rename|bob", command{kind: cmdRename, name: "bob"}},
		{"rename\t bob", command{kind: cmdRename, name: "bob"}},
		{"renamed it", command{kind: cmdSay, text: "renamed it"}},
		{"rename", command{kind: cmdUsage, reply: usageRename}},
		{"rename a b", command{kind: cmdUsage, reply: fmt.Sprintf(replyBadName, maxNameLen)}},
		{"rename a:b", command{kind: cmdUsage, reply: fmt.Sprintf(replyBadName, maxNameLen)}},
		{"to bob hi", command{kind: cmdTo, name: "bob", text: "hi"}},
		{"to|bob|hi there", command{kind: cmdTo, name: "bob", text: "hi there"}},
		{"tomorrow is fine", command{kind: cmdSay, text: "tomorrow is fine"}},
		{"today", command{kind: cmdSay, text: "today"}},
		{"to", command{kind: cmdUsage, reply: usageToName}},
		{"to bob", command{kind: cmdUsage, reply: usageToText}},
		{"hello", command{kind: cmdSay, text: "hello"}},
	} {
		assert.Equal(t, tc.want, parseCommand(tc.in), "parseCommand(%q)", tc.in)
	}
}

func TestFix07PrivateMessageExact(t *testing.T) {
	_, addr := startServer(t, nil)
	alice, bob := dial(t, addr), dial(t, addr)
	alice.expect(bob.prefix() + "已上线\n")
	bob.rename("bob")
	alice.send("to bob  two  spaces,\ta tab  \n")
	bob.expect(alice.addr + "想对您说：two  spaces, a tab\n")
	// Every reply ends with a newline, so the next one starts on its own
	// line: each line read is exactly one reply, in order.
	alice.send("to nobody hi\nto bob\nto\nrename\nrename x y\nwho now\n")
	for _, want := range []string{
		replyNoUser,
		usageToText,
		usageToName,
		usageRename,
		fmt.Sprintf(replyBadName, maxNameLen),
		usageWho,
	} {
		require.True(t, strings.HasSuffix(want, "\n"), "%q", want)
		assert.Equal(t, want, alice.line())
	}
	alice.nothing()
}

// countingConn counts the writes to a connection, and can hold them up.
type countingConn struct {
	net.Conn
	writes atomic.Int32
	hold   chan struct{} // while open, each write waits for a receive
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	if c.hold != nil {
		<-c.hold
	}
	return c.Conn.Write(p)
}

func TestFix08SlowConsumer(t *testing.T) {
	t.Run("queued messages are written in batches", func(t *testing.T) {
		s := NewServer(DefaultConfig())
		server, peer := net.Pipe()
		defer peer.Close()
		conn := &countingConn{Conn: server, hold: make(chan struct{})}
		u := NewUser(conn, s)
		received := make(chan []byte)
		go func() { b, _ := io.ReadAll(peer); received <- b }()
		u.SendMsg("first\n") // starts the writer, which waits in its first write
		waitFor(t, "the first write", func() bool { return conn.writes.Load() == 1 })
		var want strings.Builder
		want.WriteString("first\n")
		for i := range 100 {
			m := fmt.Sprintf("message %d\n", i)
			u.SendMsg(m) // queued behind the first write, never waiting for it
			want.WriteString(m)
		}
		close(conn.hold)
		u.Close("")
		assert.Equal(t, want.String(), string(<-received))
		assert.EqualValues(t, 2, conn.writes.Load(), "one write for the first message, one for the 100 queued behind it")
	})

	t.Run("a stalled reader is dropped, the others keep receiving", func(t *testing.T) {
		s, addr := startServer(t, func(c *Config) { c.QueueBytes, c.Rate, c.RoomRate = 256<<10, 0, 0 })
		watcher, sender := dial(t, addr), dial(t, addr)
		watcher.expect(sender.prefix() + "已上线\n")
		stalled := dialRaw(t, addr)
		require.NoError(t, stalled.conn.SetReadBuffer(4096)) // and it never reads
		joined := "[" + stalled.addr + "]" + stalled.addr + ": 已上线\n"
		watcher.expect(joined)
		sender.expect(joined)
		// 5 MB towards the stalled reader: more than the kernel buffers (at
		// most 4 MB here) and its queue hold. The others read everything.
		gone := flood(t, sender, []*client{watcher, sender}, 5000, 1000, "["+stalled.addr+"]"+stalled.addr+": 下线\n")
		assert.True(t, gone, "the stalled reader was dropped")
		assert.Equal(t, 2, s.online())
		waitFor(t, "the stalled connection to end", func() bool { return s.connCount() == 2 })
	})

	t.Run("a write that stalls past the write timeout ends the session", func(t *testing.T) {
		s, addr := startServer(t, func(c *Config) { c.WriteTimeout, c.QueueBytes, c.Rate, c.RoomRate = 200*time.Millisecond, 64<<20, 0, 0 })
		watcher := dial(t, addr)
		stalled := dialRaw(t, addr)
		require.NoError(t, stalled.conn.SetReadBuffer(4096))
		watcher.expect("[" + stalled.addr + "]" + stalled.addr + ": 已上线\n")
		// Far less than its queue may hold, more than the kernel buffers:
		// only the write deadline can notice.
		gone := flood(t, watcher, []*client{watcher}, 2000, 3000, "["+stalled.addr+"]"+stalled.addr+": 下线\n")
		if !gone {
			watcher.expect("[" + stalled.addr + "]" + stalled.addr + ": 下线\n")
		}
		waitFor(t, "the stalled connection to end", func() bool { return s.connCount() == 1 })
	})
}

// flood has sender say n lines of size bytes, 100 at a time, each hundred
// only after every reader has received the one before (so the readers,
// which keep up, never have much queued). It reports whether the readers
// saw the line offline in between, which they must all see if one does.
func flood(t *testing.T, sender *client, readers []*client, n, size int, offline string) bool {
	t.Helper()
	const chunk = 100
	body := strings.Repeat("x", size-1) + "\n"
	want := sender.prefix() + body
	seen := make([]bool, len(readers))
	for sent := 0; sent < n; sent += chunk {
		sender.send(strings.Repeat(body, chunk))
		for i, r := range readers {
			for got := 0; got < chunk; {
				l := r.line()
				if l == offline && !seen[i] {
					seen[i] = true
					continue
				}
				require.Equal(t, want, l, "reader %d, line %d", i, sent+got)
				got++
			}
		}
	}
	for i := range readers {
		require.Equal(t, seen[0], seen[i], "readers disagree on whether %q came", offline)
	}
	return seen[0]
}

// closeCounter counts Close calls on the connections a listener accepts.
type closeCounter struct {
	net.Listener
	mu    sync.Mutex
	conns []*countedConn
}

type countedConn struct {
	net.Conn
	closes atomic.Int32
}

func (c *countedConn) Close() error {
	c.closes.Add(1)
	return c.Conn.Close()
}

func (l *closeCounter) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &countedConn{Conn: conn}
	l.mu.Lock()
	l.conns = append(l.conns, cc)
	l.mu.Unlock()
	return cc, nil
}

func TestFix09Lifecycle(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Idle = 500 * time.Millisecond
	cfg.QueueBytes = 8 << 10
	cfg.Rate, cfg.RoomRate = 0, 0 // the watcher floods the slow reader
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ln := &closeCounter{Listener: raw}
	s := NewServer(cfg)
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	before := goleak.IgnoreCurrent() // the server itself: its accept loop
	addr := raw.Addr().String()

	// The watcher keeps talking when it waits, so it is never idle; it sees the 下线
	// of each of the others, who leave in every possible way.
	watcher := dial(t, addr)
	offline := func(c *client) string { return "[" + c.addr + "]" + c.addr + ": 下线\n" }
	joined := func(c *client) { watcher.expect("[" + c.addr + "]" + c.addr + ": 已上线\n") }

	quitter := dial(t, addr)
	joined(quitter)
	require.NoError(t, quitter.conn.Close())
	watcher.expect(offline(quitter))

	resetter := dial(t, addr)
	joined(resetter)
	require.NoError(t, resetter.conn.SetLinger(0))
	require.NoError(t, resetter.conn.Close())
	watcher.expect(offline(resetter))

	idler := dial(t, addr)
	joined(idler)
	keepTalkingUntil(t, watcher, offline(idler))
	assert.Equal(t, replyKicked, strings.ReplaceAll(idler.closed(), watcher.prefix()+"tick\n", ""))

	slow := dialRaw(t, addr) // talks (so it is not idle) but never reads: its queue overflows
	require.NoError(t, slow.conn.SetReadBuffer(1024))
	joined(slow)
	big := watcher.prefix() + strings.Repeat("z", 1000) + "\n"
	said := "[" + slow.addr + "]" + slow.addr + ": k\n"
	for i, gone := 0, false; !gone; i++ {
		require.Less(t, i, 10000, "the slow reader was never dropped")
		_, _ = slow.conn.Write([]byte("k\n")) // fails once it has been dropped
		watcher.send(big[len(watcher.prefix()):])
		for l := watcher.line(); l != big; l = watcher.line() {
			if l == offline(slow) {
				gone = true
				continue
			}
			require.Equal(t, said, l)
		}
	}

	// Every session has ended: each announced offline once (nothing more
	// arrives), each connection closed exactly once, no goroutine left.
	watcher.send("done\n")
	for l := watcher.line(); l != watcher.prefix()+"done\n"; l = watcher.line() {
		require.Contains(t, []string{big, said}, l)
	}
	watcher.nothing()
	require.NoError(t, watcher.conn.Close())
	waitFor(t, "every session to end", func() bool { return s.connCount() == 0 })
	goleak.VerifyNone(t, before)
	ln.mu.Lock()
	for i, c := range ln.conns {
		assert.EqualValues(t, 1, c.closes.Load(), "connection %d closed once", i)
	}
	ln.mu.Unlock()

	require.NoError(t, s.Shutdown(context.Background()))
	require.NoError(t, <-served)
}

func TestFix10IdleKick(t *testing.T) {
	const idle = 500 * time.Millisecond
	s, addr := startServer(t, func(c *Config) { c.Idle = idle })
	before := goleak.IgnoreCurrent() // the server's own accept loop
	func() {
		talker := dial(t, addr)
		// Several users idle out at once (in the chapters this could crash
		// the server with "send on closed channel").
		var idlers []*client
		for range 5 {
			c := dial(t, addr)
			talker.expect(c.prefix() + "已上线\n")
			idlers = append(idlers, c)
		}
		start := time.Now()
		var offline []string
		for _, c := range idlers {
			offline = append(offline, "["+c.addr+"]"+c.addr+": 下线\n")
		}
		keepTalkingUntil(t, talker, offline...)
		assert.GreaterOrEqual(t, time.Since(start), idle*8/10, "nobody is kicked early")
		for _, c := range idlers {
			all := c.closed()
			assert.True(t, strings.HasSuffix(all, replyKicked), "%q", all)
			assert.Equal(t, 1, strings.Count(all, replyKicked))
		}
		// Talk for longer than the idle time: no second 下线, no second kick.
		for end := time.Now().Add(idle * 3 / 2); ; time.Sleep(50 * time.Millisecond) {
			talker.send("tick\n")
			talker.expect(talker.prefix() + "tick\n")
			if time.Now().After(end) {
				break
			}
		}
		talker.nothing()
		require.NoError(t, talker.conn.Close())
		waitFor(t, "every session to end", func() bool { return s.connCount() == 0 })
	}()
	goleak.VerifyNone(t, before) // nothing spinning, nothing left
}

// keepTalkingUntil has c say "tick" every 50 ms, as a user who is not
// idle would, until every one of lines has arrived, in any order, each
// once. Any other line fails the test.
func keepTalkingUntil(t *testing.T, c *client, lines ...string) {
	t.Helper()
	want := map[string]bool{}
	for _, l := range lines {
		want[l] = true
	}
	for len(want) > 0 {
		c.send("tick\n")
		for l := c.line(); l != c.prefix()+"tick\n"; l = c.line() {
			require.True(t, want[l], "unexpected %q", l)
			delete(want, l)
		}
		if len(want) > 0 {
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// fakeListener fails Accept with errs, then hands out conns, then waits to
// be closed.
type fakeListener struct {
	errs   []error
	conns  []net.Conn
	closed chan struct{}
	once   sync.Once
}

func (l *fakeListener) Accept() (net.Conn, error) {
	if len(l.errs) > 0 {
		err := l.errs[0]
		l.errs = l.errs[1:]
		return nil, err
	}
	if len(l.conns) > 0 {
		c := l.conns[0]
		l.conns = l.conns[1:]
		return c, nil
	}
	<-l.closed
	return nil, net.ErrClosed
}

func (l *fakeListener) Close() error   { l.once.Do(func() { close(l.closed) }); return nil }
func (l *fakeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

func TestFix11AcceptBackoff(t *testing.T) {
	emfile := &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	server, peer := net.Pipe()
	defer peer.Close()
	ln := &fakeListener{closed: make(chan struct{}), conns: []net.Conn{server}}
	for range 10 {
		ln.errs = append(ln.errs, emfile)
	}
	s := NewServer(DefaultConfig())
	var delays []time.Duration
	s.pause = func(d time.Duration) bool { delays = append(delays, d); return true }
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()

	// After the errors, the server is still accepting: the pipe's user is served.
	buf := make([]byte, 64)
	n, err := peer.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "[pipe]pipe: 已上线\n", string(buf[:n]))
	go func() { _, _ = io.Copy(io.Discard, peer) }()
	require.NoError(t, s.Shutdown(context.Background()))
	require.NoError(t, <-served)
	ms := time.Millisecond
	assert.Equal(t, []time.Duration{5 * ms, 10 * ms, 20 * ms, 40 * ms, 80 * ms, 160 * ms, 320 * ms, 640 * ms, time.Second, time.Second}, delays)

	t.Run("a listener closed by someone else ends Serve with an error", func(t *testing.T) {
		ln := &fakeListener{closed: make(chan struct{})}
		ln.Close()
		err := NewServer(DefaultConfig()).Serve(ln)
		assert.ErrorIs(t, err, net.ErrClosed)
	})
	t.Run("a listen error exits non-zero with a clear message", func(t *testing.T) {
		taken, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer taken.Close()
		_, port, _ := net.SplitHostPort(taken.Addr().String())
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"-port", port}, &stdout, &stderr)
		assert.Equal(t, 1, code)
		assert.Empty(t, stdout.String())
		assert.Contains(t, stderr.String(), "cannot listen on 127.0.0.1:"+port)
		assert.Contains(t, stderr.String(), "address already in use")
	})
	t.Run("bad flags exit 2", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		assert.Equal(t, 2, run(context.Background(), []string{"-burst", "0"}, &stdout, &stderr))
		assert.Contains(t, stderr.String(), "-burst must hold one longest line")
	})
}

func TestFix12Shutdown(t *testing.T) {
	t.Run("everyone is told, queued messages are flushed, connections closed", func(t *testing.T) {
		s, addr := startServer(t, nil)
		alice, bob := dial(t, addr), dial(t, addr)
		alice.expect(bob.prefix() + "已上线\n")
		alice.send("last message\n")
		alice.expect(alice.prefix() + "last message\n")
		require.NoError(t, s.Shutdown(context.Background()))
		// bob has not read anything since joining: all of it is still delivered,
		// then the notice, then the end. Nobody is announced offline.
		assert.Equal(t, alice.prefix()+"last message\n"+replyClosing, bob.closed())
		assert.Equal(t, replyClosing, alice.closed())
		_, err := net.Dial("tcp", addr)
		assert.Error(t, err, "no longer accepting")
	})

	t.Run("a stalled reader cannot hold shutdown up past its timeout", func(t *testing.T) {
		s, addr := startServer(t, func(c *Config) { c.Rate, c.RoomRate, c.QueueBytes = 0, 0, 64<<20 })
		talker := dial(t, addr)
		stalled := dialRaw(t, addr)
		require.NoError(t, stalled.conn.SetReadBuffer(1024))
		talker.expect("[" + stalled.addr + "]" + stalled.addr + ": 已上线\n")
		// 6 MB: the kernel buffers take at most about 4 MB, so the stalled
		// user's writer is blocked with the rest still queued.
		flood(t, talker, []*client{talker}, 1500, 4000, "")
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		assert.ErrorIs(t, s.Shutdown(ctx), context.DeadlineExceeded)
		assert.Less(t, time.Since(start), 2*time.Second)
		assert.Equal(t, 0, s.connCount())
	})

	t.Run("SIGTERM and SIGINT exit 0", func(t *testing.T) {
		for _, sig := range []os.Signal{syscall.SIGTERM, os.Interrupt} {
			srv := startChild(t)
			c := dial(t, srv.Addr)
			require.NoError(t, srv.Program.Signal(sig))
			assert.Equal(t, replyClosing, c.closed())
			require.NoError(t, srv.Program.Exit(t), "exit status, after: %s", srv.Program.Out.Bytes())
			assert.Contains(t, string(srv.Program.Out.Bytes()), "shutting down")
		}
	})
}

func TestFix13Limits(t *testing.T) {
	t.Run("max users", func(t *testing.T) {
		_, addr := startServer(t, func(c *Config) { c.MaxUsers = 2 })
		a, b := dial(t, addr), dial(t, addr)
		a.expect(b.prefix() + "已上线\n")
		turnedAway := dialRaw(t, addr)
		assert.Equal(t, fmt.Sprintf(replyFull, 2), turnedAway.closed())
		a.nothing()
		b.nothing()
	})

	t.Run("rate limit: a flood is slowed down, nothing is lost", func(t *testing.T) {
		// Limits count bytes as delivered: here each line delivers size
		// bytes, the burst holds one longest line (worstLine) and the rate
		// is 50 such lines a second.
		const maxLine, lines = 16, 30
		var rate float64
		_, addr := startServer(t, func(c *Config) {
			c.MaxLine, c.Burst = maxLine, worstLine(maxLine)
			rate = 50 * float64(len("[127.0.0.1:65535]127.0.0.1:65535: line 00\n"))
			c.Rate = rate
		})
		flooder, other := dial(t, addr), dial(t, addr)
		flooder.expect(other.prefix() + "已上线\n")
		var all strings.Builder
		for i := range lines {
			fmt.Fprintf(&all, "line %02d\n", i)
		}
		size := len(flooder.prefix() + "line 00\n")
		start := time.Now()
		flooder.send(all.String())
		for i := range lines {
			other.expect(fmt.Sprintf("%sline %02d\n", flooder.prefix(), i))
		}
		// The first burst bytes pass at once, the rest at the rate.
		minimum := time.Duration(float64(lines*size-worstLine(maxLine)) / rate * float64(time.Second))
		assert.GreaterOrEqual(t, time.Since(start), minimum-10*time.Millisecond)
	})
}

// TestUserStates walks a user through its life (user.go's state): it only
// moves forward, send queues only while chatting or leaving, and after
// Close nothing is queued or written.
func TestUserStates(t *testing.T) {
	server, peer := net.Pipe()
	defer peer.Close()
	u := NewUser(server, NewServer(DefaultConfig()))
	received := make(chan []byte)
	go func() { b, _ := io.ReadAll(peer); received <- b }()
	state := func() state {
		u.mu.Lock()
		defer u.mu.Unlock()
		return u.state
	}

	require.Equal(t, chatting, state())
	u.SendMsg("one\n")
	u.stop(leftIdle)
	assert.Equal(t, leaving, state())
	u.stop(leftQuit) // the first reason wins
	assert.Equal(t, leftIdle, u.leaveReason(nil))
	u.SendMsg("two\n") // still queued while the session ends
	u.Close(replyKicked)
	assert.Equal(t, closed, state())
	u.SendMsg("three\n") // nothing after Close
	u.abort()            // nor back from closed
	assert.Equal(t, closed, state())
	assert.Equal(t, "one\ntwo\n"+replyKicked, string(<-received))
}
