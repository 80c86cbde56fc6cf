package load

import (
	"bufio"
	"context"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeServer is a small, correct server of the chapters' protocol, with
// hooks to make it misbehave. Broadcasts are written under one lock, in
// order.
type fakeServer struct {
	ln net.Listener
	// relay decides what the server broadcasts for a line a user typed:
	// the text to send, or "" for nothing. Default: "[addr]addr: line".
	relay func(addr, line string) string

	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup

	// second, when set, is a second instance of the same chat that lags:
	// see addSecond.
	second *lagging
}

// lagging is a second instance of a fake server's chat, as final on NATS
// is: a user's join enters the chat's order lag after it connects; the
// instance delivers everything the chat says, in the chat's order, lag
// after the first instance does, and a user on it hears the chat from its
// own join on.
type lagging struct {
	lag   time.Duration
	feed  chan said // buffered for a test's whole chat
	done  chan struct{}
	conns map[net.Conn]bool // guarded by the first instance's mu
	users int               // users who joined it; guarded by mu
	// lastJoin is when it delivered a join last; firstLine is when the
	// chat got its first line from a sender. Guarded by mu too.
	lastJoin, firstLine time.Time
}

// said is a message of the chat, on its way to the second instance.
type said struct {
	at     time.Time
	msg    string
	joiner net.Conn // the user whose join msg is, if it is on the second instance
}

func startFake(t *testing.T, relay func(addr, line string) string) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &fakeServer{ln: ln, relay: relay, conns: map[net.Conn]bool{}}
	if s.relay == nil {
		s.relay = func(addr, line string) string { return "[" + addr + "]" + addr + ": " + line }
	}
	s.wg.Go(s.serve)
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *fakeServer) addr() string { return s.ln.Addr().String() }

// addSecond starts the lagging second instance and returns its address.
func (s *fakeServer) addSecond(t *testing.T, lag time.Duration) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.mu.Lock()
	s.second = &lagging{lag: lag, feed: make(chan said, 1000), done: make(chan struct{}), conns: map[net.Conn]bool{}}
	s.mu.Unlock()
	s.wg.Go(func() { s.serveOn(ln, true) })
	s.wg.Go(func() {
		for {
			var m said
			select {
			case <-s.second.done:
				return
			case m = <-s.second.feed:
			}
			time.Sleep(time.Until(m.at.Add(lag)))
			s.mu.Lock()
			if m.joiner != nil {
				s.second.conns[m.joiner] = true
				s.second.lastJoin = time.Now()
			}
			for c := range s.second.conns {
				_, _ = c.Write([]byte(m.msg + "\n"))
			}
			s.mu.Unlock()
		}
	})
	t.Cleanup(func() {
		ln.Close()
		close(s.second.done)
		s.mu.Lock()
		for c := range s.second.conns {
			c.Close()
		}
		s.mu.Unlock()
	})
	return ln.Addr().String()
}

func (s *fakeServer) serve() { s.serveOn(s.ln, false) }

func (s *fakeServer) serveOn(ln net.Listener, second bool) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s.wg.Go(func() { s.handle(c, second) })
	}
}

func (s *fakeServer) handle(c net.Conn, second bool) {
	addr := c.RemoteAddr().String()
	s.mu.Lock()
	if second {
		s.second.users++
	} else {
		s.conns[c] = true
	}
	s.mu.Unlock()
	joiner := c
	if second {
		time.Sleep(s.second.lag) // its join takes the way round the cluster too
	} else {
		joiner = nil
	}
	s.say("["+addr+"]"+addr+": 已上线", joiner)
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		line := sc.Text()
		if line == "who" {
			s.mu.Lock()
			_, _ = c.Write([]byte("[" + addr + "]" + addr + ": 在线...\n"))
			s.mu.Unlock()
			continue
		}
		if msg := s.relay(addr, line); msg != "" {
			s.mu.Lock()
			if s.second != nil && s.second.firstLine.IsZero() {
				s.second.firstLine = time.Now()
			}
			s.mu.Unlock()
			s.broadcast(msg)
		}
	}
	s.mu.Lock()
	delete(s.conns, c)
	if s.second != nil {
		delete(s.second.conns, c)
	}
	s.mu.Unlock()
	c.Close()
}

func (s *fakeServer) broadcast(msg string) { s.say(msg, nil) }

// say delivers msg to the first instance's users now, and passes it on
// to the second instance, if any.
func (s *fakeServer) say(msg string, joiner net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_, _ = c.Write([]byte(msg + "\n"))
	}
	if s.second != nil {
		s.second.feed <- said{time.Now(), msg, joiner}
	}
}

func fastConfig(addr string) Config {
	return Config{
		Addr: addr, Dialect: Dialects["tutorial"], Readers: 5, Senders: 3, Lines: 20, Size: 40,
		StallAfter: 300 * time.Millisecond, Timeout: 10 * time.Second, DropCheck: 100 * time.Millisecond,
	}
}

func TestRunComplete(t *testing.T) {
	for _, mode := range []Mode{Lockstep, Burst} {
		t.Run(string(mode), func(t *testing.T) {
			s := startFake(t, nil)
			cfg := fastConfig(s.addr())
			cfg.Mode = mode
			cfg.KeepAlive = 5 * time.Millisecond // answered by the server, ignored by the readers
			res, err := Run(context.Background(), cfg)
			require.NoError(t, err)
			assert.True(t, res.Joined)
			assert.Equal(t, 8, res.Clients)
			assert.Equal(t, int64(5*3*20), res.Expected)
			assert.True(t, res.Complete(), "%+v", res)
			assert.Equal(t, 5, res.CompleteReaders)
			assert.Equal(t, 60, res.Latencies, "the observer timed every line")
			assert.Positive(t, res.P50)
			assert.GreaterOrEqual(t, res.P99, res.P50)
			assert.Positive(t, res.Rate)
			assert.False(t, res.Stalled || res.TimedOut)
			assert.Zero(t, res.Disconnected)
		})
	}
}

// Spread over two instances of one chat, the second lagging, a run
// connects every other user to the second instance and starts sending
// only once the second instance has announced everyone (the witness).
func TestRunSpreadOverTwoInstances(t *testing.T) {
	for _, mode := range []Mode{Lockstep, Burst} {
		t.Run(string(mode), func(t *testing.T) {
			s := startFake(t, nil)
			const lag = 30 * time.Millisecond
			cfg := fastConfig(s.addr())
			cfg.Mode, cfg.Also, cfg.Pids = mode, []string{s.addSecond(t, lag)}, []int{os.Getpid(), os.Getpid()}
			res, err := Run(context.Background(), cfg)
			require.NoError(t, err)
			assert.True(t, res.Joined)
			assert.True(t, res.Complete(), "%+v", res)
			assert.Positive(t, res.RSS)
			s.mu.Lock()
			defer s.mu.Unlock()
			assert.Equal(t, 8, res.Clients)
			assert.Equal(t, 4, s.second.users, "every other user: the witness, 1 reader, 2 senders")
			assert.False(t, s.second.firstLine.Before(s.second.lastJoin), "a line was sent before the second instance announced everyone")
		})
	}
}

func TestRunCountsLostAndDamagedLines(t *testing.T) {
	s := startFake(t, func(addr, line string) string {
		switch {
		case strings.HasPrefix(line, "#L1.5."):
			return "" // lost
		case strings.HasPrefix(line, "#L2.7."):
			return "[" + addr + "]" + addr + ": " + line[:len(line)-1] // last byte dropped
		case strings.HasPrefix(line, "#L0.3."):
			return line // no sender prefix
		}
		return "[" + addr + "]" + addr + ": " + line
	})
	cfg := fastConfig(s.addr())
	cfg.Mode = Burst
	res, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	assert.False(t, res.Complete())
	assert.True(t, res.Stalled, "the last lines never come: the run stops as stalled")
	assert.Equal(t, res.Expected-3*5, res.Delivered)
	assert.Equal(t, int64(5), res.Corrupt)
	assert.Equal(t, int64(5), res.Unattributed)
	assert.Zero(t, res.CompleteReaders)
}

func TestRunLockstepWaitsForTheObserver(t *testing.T) {
	// The server relays each line 5 ms after it arrives. In lockstep a
	// sender's next line never arrives while its previous one waits; in
	// burst it does (so the check can fail).
	for _, tt := range []struct {
		mode      Mode
		overlaps  bool
		lineCount int
	}{{Lockstep, false, 10}, {Burst, true, 10}} {
		t.Run(string(tt.mode), func(t *testing.T) {
			var (
				mu       sync.Mutex
				pending  = map[string]bool{}
				overlaps int
				s        *fakeServer
			)
			s = startFake(t, func(addr, line string) string {
				mu.Lock()
				if pending[addr] {
					overlaps++
				}
				pending[addr] = true
				mu.Unlock()
				s.wg.Go(func() {
					time.Sleep(5 * time.Millisecond)
					mu.Lock()
					pending[addr] = false
					mu.Unlock()
					s.broadcast("[" + addr + "]" + addr + ": " + line)
				})
				return ""
			})
			cfg := fastConfig(s.addr())
			cfg.Mode, cfg.Lines = tt.mode, tt.lineCount
			res, err := Run(context.Background(), cfg)
			require.NoError(t, err)
			mu.Lock()
			defer mu.Unlock()
			assert.Equal(t, tt.overlaps, overlaps > 0, "overlaps: %d", overlaps)
			if tt.mode == Lockstep {
				assert.True(t, res.Complete())
			}
		})
	}
}

func TestRunStalledConsumerAndTimeout(t *testing.T) {
	s := startFake(t, func(string, string) string { return "" }) // relays nothing
	cfg := fastConfig(s.addr())
	cfg.Stalled = 1
	cfg.StallAfter = time.Hour
	cfg.Timeout = 500 * time.Millisecond
	res, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	assert.True(t, res.TimedOut)
	assert.Zero(t, res.Delivered)
	assert.Equal(t, 9, res.Clients)
	assert.Zero(t, res.StalledDropped, "the fake server keeps its stalled client")
}

func TestRunServerGone(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	res, err := Run(context.Background(), fastConfig(addr))
	require.NoError(t, err)
	assert.Equal(t, 1, res.Refused)
	assert.Contains(t, res.RefusedErr, "refused")
	assert.False(t, res.Joined)
}

func TestIdleAndLeave(t *testing.T) {
	s := startFake(t, nil)
	pid := os.Getpid() // the fake server runs in this process
	idle, err := Idle(context.Background(), IdleConfig{
		Addr: s.addr(), Dialect: Dialects["tutorial"], Users: 30, Pid: pid, Timeout: 10 * time.Second,
	})
	require.NoError(t, err)
	assert.Equal(t, 30, idle.Clients)
	assert.Equal(t, 30, idle.JoinsSeen)
	assert.True(t, idle.Joined)
	assert.Positive(t, idle.RSSBefore)
	assert.Positive(t, idle.RSSAfter)

	lv, err := Leave(context.Background(), LeaveConfig{
		Addr: s.addr(), Dialect: Dialects["tutorial"], Users: 10, Pid: pid,
		After: 10 * time.Millisecond, Window: 50 * time.Millisecond, Timeout: 10 * time.Second,
	})
	require.NoError(t, err)
	assert.Equal(t, 10, lv.Clients)
	assert.True(t, lv.Spoke, "every user's line arrived before they quit")
	assert.False(t, lv.Gone)
}

func TestUnknownMode(t *testing.T) {
	_, err := Run(context.Background(), Config{Addr: "127.0.0.1:1", Dialect: Dialects["tutorial"], Readers: 1, Mode: "fast"})
	assert.ErrorContains(t, err, `unknown mode "fast" (want lockstep or burst)`)
}
