package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"strings"
	"sync"
	"time"
)

// Config holds the server's limits. DefaultConfig documents the defaults
// (they are also the command-line defaults, see main.go). Rates and bursts
// count bytes as a reader receives them: after sanitizing, with the
// "[addr]name: " prefix and the newline (see budget.go).
type Config struct {
	Idle         time.Duration // a user silent this long is kicked; 0: never
	MaxLine      int           // longest line, in bytes, without its newline
	MaxUsers     int           // users online (or joining) at once; the next one is turned away
	Rate         float64       // bytes per second one user (or one address's joins and leaves) may cost, sustained, and others may send one user directly; 0: no limit
	Burst        int           // bytes one user may cost, or be sent directly, at once before Rate applies
	RoomRate     float64       // bytes per second broadcasts and presence lines may put in every user's queue; 0: no limit
	RoomBurst    int           // bytes they may put in it at once before RoomRate applies
	QueueBytes   int           // bytes waiting for one user before it counts as too slow
	WriteTimeout time.Duration // longest one write to a user may take
	Logger       *slog.Logger  // nil: discard
}

// DefaultConfig returns the defaults. With them a user who reads at least
// RoomRate + Rate (1.125 MiB/s) is never dropped, whatever the others send
// within their limits: at most RoomBurst + Burst + (RoomRate + Rate)·t
// bytes reach its queue in any t seconds, and RoomBurst + Burst (1 MiB)
// fits in QueueBytes (1 MiB).
func DefaultConfig() Config {
	return Config{
		Idle:         5 * time.Minute,
		MaxLine:      4096,
		MaxUsers:     10000,
		Rate:         128 << 10,
		Burst:        512 << 10,
		RoomRate:     1 << 20,
		RoomBurst:    512 << 10,
		QueueBytes:   1 << 20,
		WriteTimeout: 10 * time.Second,
	}
}

// validate reports the first limit that is out of range or that breaks
// the budgets' arithmetic (see budget.go), naming Config's fields (main.go
// puts its messages in the words of the flags).
func (c Config) validate() error {
	worst := worstLine(c.MaxLine)
	holdLine := fmt.Sprintf("must hold one longest line as delivered (3 × Config.MaxLine + %d = %d bytes)", maxPrefix, worst)
	switch {
	case c.Idle < 0:
		return errors.New("Config.Idle must not be negative")
	case c.MaxLine < 1:
		return errors.New("Config.MaxLine must be at least 1")
	case c.MaxUsers < 1:
		return errors.New("Config.MaxUsers must be at least 1")
	case !(c.Rate >= 0) || math.IsInf(c.Rate, 0):
		return errors.New("Config.Rate must be a number of bytes per second, 0 or more")
	case !(c.RoomRate >= 0) || math.IsInf(c.RoomRate, 0):
		return errors.New("Config.RoomRate must be a number of bytes per second, 0 or more")
	case c.Rate > 0 && c.Burst < worst:
		return errors.New("Config.Burst " + holdLine)
	case c.RoomRate > 0 && c.RoomBurst < worst:
		return errors.New("Config.RoomBurst " + holdLine)
	case c.QueueBytes < worst:
		return errors.New("Config.QueueBytes " + holdLine)
	case c.RoomRate > 0 && c.Rate == 0:
		return errors.New("Config.Rate must not be 0 while Config.RoomRate is not: it bounds what others may send one user directly (private messages, who replies)")
	case c.RoomRate > 0 && c.RoomBurst+c.Burst > c.QueueBytes:
		return errors.New("Config.RoomBurst + Config.Burst must not exceed Config.QueueBytes: what the room and direct messages may put in one queue at once must fit in it")
	case c.WriteTimeout <= 0:
		return errors.New("Config.WriteTimeout must be positive")
	}
	return nil
}

// Server is the chat server.
type Server struct {
	cfg Config
	log *slog.Logger

	// mu is the one lock for who is online: OnlineMap, every User.Name,
	// and the order of messages. A message is put in every queue while mu
	// is held, so all users receive messages in the same order; putting it
	// in a queue never waits for a socket (fix 4, fix 8).
	mu        sync.Mutex
	OnlineMap map[string]*User       // online users by name
	byKey     map[string]*User       // online users by each of nameKeys: no two look alike
	conns     map[*User]struct{}     // every connection being served, online or not
	places    int                    // connections admitted and not yet offline (joining or online): at most MaxUsers
	addrs     map[string]*addrBudget // by client address (host)
	sweepAt   int                    // sweep addrs when it grows this large
	closing   bool                   // Shutdown has begun
	listener  net.Listener

	room *budget // the room's byte budget (see budget.go)

	// cluster is the chat: memoryChat on one machine, natsChat when
	// several instances share it (cluster.go).
	cluster cluster

	handlers sync.WaitGroup // one per connection
	done     chan struct{}  // closed when Shutdown begins

	// pause waits d between failed accepts, or returns false once the
	// server is shutting down. A test can replace it to record the delays.
	pause func(d time.Duration) bool
}

// NewServer returns a server with the given limits.
func NewServer(cfg Config) *Server {
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		OnlineMap: make(map[string]*User),
		byKey:     make(map[string]*User),
		conns:     make(map[*User]struct{}),
		addrs:     make(map[string]*addrBudget),
		sweepAt:   64,
		done:      make(chan struct{}),
		room:      newBudget(cfg.RoomRate, cfg.RoomBurst),
	}
	s.cluster = memoryChat{s}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.pause = s.sleep
	return s
}

// Accept backoff (fix 11), as net/http does: 5 ms, doubling, at most 1 s.
const (
	minAcceptDelay = 5 * time.Millisecond
	maxAcceptDelay = time.Second
)

// Serve accepts connections on ln until Shutdown, and returns nil then.
// Other accept errors (say, too many open files) are retried with backoff
// instead of ending the server or spinning; a listener closed by someone
// else ends Serve with an error.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ln.Close()
	}
	s.listener = ln
	s.mu.Unlock()

	var delay time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			delay = min(max(2*delay, minAcceptDelay), maxAcceptDelay)
			s.log.Warn("accept failed; retrying", "err", err, "delay", delay)
			if !s.pause(delay) {
				return nil
			}
			continue
		}
		delay = 0
		s.serveConn(conn)
	}
}

// sleep is the real pause: it ends early when Shutdown begins.
func (s *Server) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.done:
		return false
	}
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// serveConn starts the connection's goroutines, unless the server is
// shutting down. Counting it under mu means Shutdown, which sets closing
// under mu, waits for every connection that was let in.
func (s *Server) serveConn(conn net.Conn) {
	u := NewUser(conn, s)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		_ = conn.Close()
		return
	}
	s.conns[u] = struct{}{}
	u.addr = s.addrBudgetLocked(conn)
	s.handlers.Add(1)
	go s.Handler(u)
}

// Handler runs one connection's session on its reader goroutine, from
// Online to Offline, and returns once the connection is closed and no
// writer goroutine of it is left.
func (s *Server) Handler(u *User) {
	defer s.handlers.Done()
	s.log.Debug("connected", "addr", u.Addr)
	err := s.admit(u)
	if err == nil {
		err = s.Online(u)
	}
	if err != nil {
		s.log.Debug("turned away", "addr", u.Addr, "why", err)
		var r rejection
		errors.As(err, &r)
		u.Close(r.reply)
	} else {
		reason := u.readLoop()
		left := s.Offline(u)
		s.log.Debug("disconnected", "addr", u.Addr, "why", reason)
		if reason == leftSlow || reason == leftWrite {
			s.log.Info("disconnected a user that does not keep up", "addr", u.Addr, "why", reason)
		}
		s.announceLeave(u, left)
		u.Close(reason.notice())
	}
	s.mu.Lock()
	delete(s.conns, u)
	s.releaseAddrLocked(u)
	s.mu.Unlock()
}

// rejection is why a connection is turned away before it goes online:
// reply is what the client is told.
type rejection struct{ reply string }

func (r rejection) Error() string { return strings.TrimSuffix(r.reply, "\n") }

// errClosing turns away a connection that arrives during a shutdown.
var errClosing = rejection{replyClosing}

// admit holds a place for u among MaxUsers (fix 13), then waits until u's
// address and the room can pay for its 已上线 line. If it returns nil, u
// must go Online; otherwise it returns a rejection.
func (s *Server) admit(u *User) error {
	s.mu.Lock()
	var err error
	switch {
	case s.closing:
		err = errClosing
	case s.places >= s.cfg.MaxUsers:
		err = rejection{fmt.Sprintf(replyFull, s.cfg.MaxUsers)}
	default:
		s.places++
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if reply := s.payJoin(u); reply != "" {
		s.leavePlace()
		return rejection{reply}
	}
	return nil
}

// leavePlace gives back the place admit held for a connection turned away.
func (s *Server) leavePlace() {
	s.mu.Lock()
	s.places--
	s.mu.Unlock()
}

// Online puts u, admitted, online under a name unique in the chat and
// announces it to everyone (cluster.join), or gives its place back and
// returns the rejection to turn it away with (errClosing during a
// shutdown).
func (s *Server) Online(u *User) error {
	err := s.cluster.join(u)
	if err != nil {
		s.leavePlace()
	}
	return err
}

// Offline removes u, once per user: only u's own reader goroutine calls
// it, once, whatever ended the session (fix 9). It returns the 下线 line
// to announce, or nil if nobody is to hear it (cluster.leftLocked). u's
// name stays taken (in byKey) until announceLeave: nobody, not even a
// client reconnecting from the same address and port, joins or renames as
// u before everyone has been told that u left.
func (s *Server) Offline(u *User) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.OnlineMap, u.Name)
	s.places--
	return s.cluster.leftLocked(u)
}

// announceLeave tells everyone u left, once its address and the room can
// pay for the line, and frees u's name.
func (s *Server) announceLeave(u *User, line []byte) {
	if line != nil {
		// False only once a shutdown has begun; cluster.leave knows who
		// still needs to hear the line then.
		s.payPresence(u, len(line))
	}
	s.cluster.leave(u, line)
}

// takenLocked reports whether another user than u holds one of keys.
func (s *Server) takenLocked(keys []string, u *User) bool {
	for _, k := range keys {
		if o := s.byKey[k]; o != nil && o != u {
			return true
		}
	}
	return false
}

// claimLocked gives u the keys of its new name, after releasing its old ones.
func (s *Server) claimLocked(u *User, keys []string) {
	s.releaseKeysLocked(u)
	u.keys = keys
	for _, k := range keys {
		s.byKey[k] = u
	}
}

// releaseKeysLocked frees the keys u holds.
func (s *Server) releaseKeysLocked(u *User) {
	for _, k := range u.keys {
		if s.byKey[k] == u {
			delete(s.byKey, k)
		}
	}
	u.keys = nil
}

// BroadCast sends "[addr]name: msg" to every online user.
func (s *Server) BroadCast(from *User, msg string) {
	s.cluster.say([]byte("[" + from.Addr + "]" + from.Name + ": " + msg + "\n"))
}

// Shutdown stops accepting, tells every user, lets each writer flush what
// is queued and close its connection, and waits for every connection's
// goroutines (fix 12). When ctx ends first, the remaining reads and writes
// are cut short and Shutdown returns ctx's error once they have ended.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing {
		s.closing = true
		close(s.done)
		if s.listener != nil {
			_ = s.listener.Close()
		}
	}
	users := s.connList()
	s.mu.Unlock()

	for _, u := range users {
		u.stop(leftShutdown)
	}
	finished := make(chan struct{})
	go func() {
		s.handlers.Wait()
		close(finished)
	}()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	users = s.connList()
	s.mu.Unlock()
	for _, u := range users {
		u.abort()
	}
	<-finished
	return ctx.Err()
}

// connList returns every connection being served; s.mu must be held.
func (s *Server) connList() []*User {
	users := make([]*User, 0, len(s.conns))
	for u := range s.conns {
		users = append(users, u)
	}
	return users
}
