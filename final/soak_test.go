package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"im-workbook/chattest"
)

var (
	soakFor     = flag.Duration("soak", 0, "run TestSoak this long (default: a 2-second run)")
	soakClients = flag.Int("soak-clients", 100, "TestSoak: clients that connect, chat, rename, go silent and leave, over and over")
)

// soakConn is one connection of the soak test. A goroutine records every
// line it receives.
type soakConn struct {
	conn   *net.TCPConn
	addr   string
	joined chan struct{} // closed when its own 已上线 has arrived
	ended  chan struct{} // closed when the connection has ended

	mu    sync.Mutex
	lines []string
}

// errBusy: the server turned the connection away because too many from
// its address were waiting to join (while the flooders fill the room's
// budget, joins wait for it too). The client tries again later.
var errBusy = errors.New("turned away: too many joins waiting")

func soakDial(addr string) (*soakConn, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &soakConn{conn: conn.(*net.TCPConn), addr: conn.LocalAddr().String(),
		joined: make(chan struct{}), ended: make(chan struct{})}
	go func() {
		defer close(c.ended)
		sc := bufio.NewScanner(conn)
		self := "[" + c.addr + "]" + c.addr + ": 已上线"
		for sc.Scan() {
			c.mu.Lock()
			c.lines = append(c.lines, sc.Text())
			c.mu.Unlock()
			if sc.Text() == self {
				close(c.joined)
			}
		}
	}()
	select {
	case <-c.joined:
		return c, nil
	case <-c.ended:
		if slices.Contains(c.snapshot(), strings.TrimSuffix(replyBusy, "\n")) {
			return nil, errBusy
		}
		return nil, fmt.Errorf("%s: ended before joining", c.addr)
	case <-time.After(chattest.Patience):
		conn.Close()
		return nil, fmt.Errorf("%s: did not join", c.addr)
	}
}

func (c *soakConn) snapshot() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.lines)
}

// waitLine waits until a line satisfying ok has arrived at or after
// index from, and returns its index.
func (c *soakConn) waitLine(from int, ok func(string) bool) (int, bool) {
	deadline := time.Now().Add(chattest.Patience)
	for {
		c.mu.Lock()
		for ; from < len(c.lines); from++ {
			if ok(c.lines[from]) {
				c.mu.Unlock()
				return from, true
			}
		}
		c.mu.Unlock()
		if time.Now().After(deadline) {
			return 0, false
		}
		select {
		case <-c.ended:
			return 0, false
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// TestSoak: hundreds of connections connect, chat, rename, ask who, send
// private messages, go silent (some long enough to be kicked) and leave
// (FIN or RST) at random, while a few "stayers" stay connected and read
// everything. Meanwhile a few flooders send longest lines of invalid bytes
// (each byte becomes 3) as fast as their limits let them (issue 10).
// Afterwards: no stayer was dropped; every message whose sender saw it come
// back reached every stayer; all stayers saw the same messages in the same
// order; who lists exactly the connected users; no goroutine is left.
// go test -race -run TestSoak -soak=1m runs it longer.
func TestSoak(t *testing.T) {
	duration := 2 * time.Second
	if *soakFor > 0 {
		duration = *soakFor
	}
	const idle = 1500 * time.Millisecond
	s, addr := startServer(t, func(c *Config) { c.Idle = idle })
	before := goleak.IgnoreCurrent() // the server's accept loop

	const stayerCount = 8
	var stayers []*soakConn
	for range stayerCount {
		c, err := soakDial(addr)
		require.NoError(t, err)
		stayers = append(stayers, c)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, *soakClients+stayerCount)
	var echoedMu sync.Mutex
	var echoed []string // messages whose sender saw them come back
	// Stayers talk every 100–300 ms (far inside the idle time) and wait
	// for their own echo, with their own prefix, before they talk again.
	for i, c := range stayers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				case <-time.After(time.Duration(100+rand.IntN(200)) * time.Millisecond):
				}
				msg := fmt.Sprintf("s%d-%d", i, k)
				from := len(c.snapshot())
				if _, err := c.conn.Write([]byte(msg + "\n")); err != nil {
					errs <- err
					return
				}
				echo := "[" + c.addr + "]" + c.addr + ": " + msg
				if _, ok := c.waitLine(from, func(l string) bool { return l == echo }); !ok {
					errs <- fmt.Errorf("stayer %d: its own %q did not come back", i, msg)
					return
				}
				echoedMu.Lock()
				echoed = append(echoed, msg)
				echoedMu.Unlock()
			}
		}()
	}
	// Flooders: within their limits (the defaults), they cannot get a
	// reader that keeps up dropped.
	const flooderCount = 3
	var flooders []*soakConn
	for range flooderCount {
		c, err := soakDial(addr)
		require.NoError(t, err)
		flooders = append(flooders, c)
		wg.Go(func() {
			line := append(bytes.Repeat([]byte{0x80}, DefaultConfig().MaxLine), '\n')
			batch := bytes.Repeat(line, 16)
			for {
				select {
				case <-stop:
					return
				default:
				}
				_ = c.conn.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
				if _, err := c.conn.Write(batch); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
					errs <- err
					return
				}
			}
		})
	}
	var connsMu sync.Mutex
	var churned []*soakConn
	for i := range *soakClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				c, err := soakDial(addr)
				if errors.Is(err, errBusy) {
					select {
					case <-stop:
					case <-time.After(time.Duration(10+rand.IntN(40)) * time.Millisecond):
					}
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				connsMu.Lock()
				churned = append(churned, c)
				connsMu.Unlock()
				soakSession(c, fmt.Sprintf("c%d-%d", i, k), idle, stop)
			}
		}()
	}
	time.Sleep(duration) // the soak runs in real time
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	// The flooders leave with a reset: whatever they wrote that the server
	// has not read yet (megabytes, at the budget's pace) is discarded, so
	// the wait below does not depend on how much the kernel buffered.
	for _, c := range flooders {
		require.NoError(t, c.conn.SetLinger(0))
		require.NoError(t, c.conn.Close())
	}

	// From here on the stayers only say "keepalive" now and then, so that
	// none of them is kicked while the checks run.
	verified := make(chan struct{})
	var keepalive sync.WaitGroup
	for _, c := range stayers {
		keepalive.Add(1)
		go func() {
			defer keepalive.Done()
			for {
				select {
				case <-verified:
					return
				case <-time.After(300 * time.Millisecond):
					_, _ = c.conn.Write([]byte("keepalive\n"))
				}
			}
		}()
	}
	stopKeepalive := sync.OnceFunc(func() {
		close(verified)
		keepalive.Wait()
	})
	defer stopKeepalive() // also when a check fails

	// Every churned connection has ended on the client side; wait until
	// the server has ended them too (and so announced each offline). Then
	// each stayer says a last marker: a stayer's lines are handled in order,
	// and everyone receives broadcasts in the order they were queued, so
	// once all markers are in, everything before them is in too.
	waitFor(t, "the churned connections and the flooders to end", func() bool { return s.connCount() == stayerCount })
	for i, c := range stayers {
		_, err := fmt.Fprintf(c.conn, "end-%d\n", i)
		require.NoError(t, err)
	}
	var streams [][]string // each stayer's broadcasts, in the order received, up to the last marker
	for _, c := range stayers {
		end := 0
		for i := range stayers {
			marker := fmt.Sprintf(": end-%d", i)
			j, ok := c.waitLine(0, func(l string) bool { return strings.HasSuffix(l, marker) })
			require.True(t, ok, "marker %d", i)
			end = max(end, j+1)
		}
		var stream []string
		for _, l := range c.snapshot()[:end] {
			if strings.HasPrefix(l, "[") {
				stream = append(stream, l)
			}
		}
		streams = append(streams, stream)
	}

	// No stayer was told it is too slow, and the flood did reach them.
	for i, c := range stayers {
		flood := 0
		for _, l := range c.snapshot() {
			require.NotEqual(t, strings.TrimSuffix(replySlow, "\n"), l, "stayer %d was dropped", i)
			if strings.HasSuffix(l, "\uFFFD") {
				flood++
			}
		}
		assert.Positive(t, flood, "stayer %d got no flood lines", i)
		if i == 0 {
			t.Logf("each stayer received %d flood lines of %d bytes", flood, 3*DefaultConfig().MaxLine)
		}
	}

	// No message lost, each join and leave announced exactly once, the
	// same order for everyone.
	for _, c := range churned {
		for _, l := range c.snapshot() {
			if _, msg, ok := strings.Cut(l, ": "); ok && strings.HasPrefix(l, "["+c.addr+"]") && strings.HasPrefix(msg, "c") {
				echoed = append(echoed, msg)
			}
		}
	}
	connections := map[string]int{} // by address: a port can be used again once free
	for _, cc := range churned {
		connections[cc.addr]++
	}
	for i, stream := range streams {
		said := map[string]bool{}
		on, off := map[string]int{}, map[string]int{}
		for _, l := range stream {
			addr, rest, _ := strings.Cut(strings.TrimPrefix(l, "["), "]")
			_, msg, _ := strings.Cut(rest, ": ")
			said[msg] = true
			switch msg {
			case "已上线":
				on[addr]++
			case "下线":
				off[addr]++
			}
		}
		for _, m := range echoed {
			if !said[m] {
				t.Errorf("stayer %d never received %q", i, m)
			}
		}
		for addr, times := range connections {
			if on[addr] != times || off[addr] != times {
				t.Errorf("stayer %d: %s connected %d times, announced online %d times, offline %d times", i, addr, times, on[addr], off[addr])
			}
		}
	}
	// Compare from the moment the last stayer joined.
	last := stayers[stayerCount-1]
	lastJoin := "[" + last.addr + "]" + last.addr + ": 已上线"
	for i := range streams {
		j := slices.Index(streams[i], lastJoin)
		require.GreaterOrEqual(t, j, 0)
		streams[i] = streams[i][j:]
	}
	for i := 1; i < len(streams); i++ {
		if !slices.Equal(streams[0], streams[i]) {
			t.Fatalf("stayers 0 and %d received the broadcasts in different orders", i)
		}
	}
	t.Logf("%d connections churned, %d messages checked, %d broadcasts per stayer", len(churned), len(echoed), len(streams[0]))

	// who lists exactly the connected users, each once.
	isWho := func(l string) bool { return strings.HasSuffix(l, ": 在线...") }
	n := len(stayers[0].snapshot())
	_, err := stayers[0].conn.Write([]byte("who\n"))
	require.NoError(t, err)
	from := n
	for range stayerCount {
		j, ok := stayers[0].waitLine(from, isWho)
		require.True(t, ok)
		from = j + 1
	}
	time.Sleep(chattest.Quiet) // nothing more may come
	var who []string
	for _, l := range stayers[0].snapshot()[n:] {
		if isWho(l) {
			who = append(who, l)
		}
	}
	var want []string
	for _, c := range stayers {
		want = append(want, "["+c.addr+"]"+c.addr+": 在线...")
	}
	assert.ElementsMatch(t, want, who)

	stopKeepalive()
	for _, c := range stayers {
		require.NoError(t, c.conn.Close())
		<-c.ended
	}
	waitFor(t, "every session to end", func() bool { return s.connCount() == 0 })
	goleak.VerifyNone(t, before)
}

// soakSession does random things on c until it leaves, and returns once
// the connection has ended. Its messages are tagged with tag.
func soakSession(c *soakConn, tag string, idle time.Duration, stop <-chan struct{}) {
	defer func() { <-c.ended }()
	for k := 0; ; k++ {
		var line string
		switch r := rand.IntN(20); {
		case r < 8:
			line = fmt.Sprintf("%s-%d\n", tag, k)
		case r < 11:
			line = fmt.Sprintf("rename n%d\n", rand.IntN(30))
		case r < 13:
			line = "who\n"
		case r < 15:
			line = fmt.Sprintf("to n%d psst\n", rand.IntN(30))
		case r < 16: // go silent, sometimes for longer than the idle time
			select {
			case <-time.After(time.Duration(rand.Int64N(int64(idle * 13 / 10)))):
			case <-stop:
			case <-c.ended: // kicked
				return
			}
			continue
		case r < 17: // leave abruptly, sometimes in the middle of a line
			_, _ = c.conn.Write([]byte("half a li"))
			_ = c.conn.SetLinger(0)
			_ = c.conn.Close()
			return
		default:
			_ = c.conn.Close()
			return
		}
		if _, err := c.conn.Write([]byte(line)); err != nil {
			_ = c.conn.Close() // kicked meanwhile
			return
		}
		select {
		case <-stop:
			_ = c.conn.Close()
			return
		case <-c.ended:
			_ = c.conn.Close()
			return
		case <-time.After(time.Duration(20+rand.IntN(180)) * time.Millisecond):
		}
	}
}
