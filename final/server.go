package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
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
	joining   int                    // connections waiting to join: they count against MaxUsers
	addrs     map[string]*addrBudget // by client address (host)
	sweepAt   int                    // sweep addrs when it grows this large
	closing   bool                   // Shutdown has begun
	listener  net.Listener

	room *rate.Limiter // the room's byte budget (see budget.go)

	// cluster, when set, carries the chat to other instances (cluster.go);
	// nil on one machine, where everything below happens in memory.
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
		room:      newLimiter(cfg.RoomRate, cfg.RoomBurst),
	}
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
	case len(s.OnlineMap)+s.joining >= s.cfg.MaxUsers:
		err = rejection{fmt.Sprintf(replyFull, s.cfg.MaxUsers)}
	default:
		s.joining++
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if reply := s.payJoin(u); reply != "" {
		s.mu.Lock()
		s.joining--
		s.mu.Unlock()
		return rejection{reply}
	}
	return nil
}

// Online adds u, admitted, to the map and announces it to everyone. During
// a shutdown it returns errClosing instead.
func (s *Server) Online(u *User) error {
	if s.cluster != nil {
		return s.cluster.join(u)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.joining--
	if s.closing {
		return errClosing
	}
	// A default name is the address, which no rename can take (names have
	// no ':'). Only a client reconnecting from the same port before its old
	// connection has been noticed as gone can find it taken.
	name := u.Addr
	for i := 2; s.OnlineMap[name] != nil || s.takenLocked(nameKeys(name), u); i++ {
		name = fmt.Sprintf("%s#%d", u.Addr, i)
	}
	s.OnlineMap[name] = u
	u.Name = name
	s.claimLocked(u, nameKeys(name))
	s.broadcastLocked(presenceLine(u, "已上线"))
	return nil
}

// Offline removes u, once per user: only u's own reader goroutine calls
// it, once, whatever ended the session (fix 9). It returns the 下线 line
// to announce, or nil during a shutdown (everyone is leaving and hears
// why). u's name stays taken (in byKey) until announceLeave: nobody, not
// even a client reconnecting from the same address and port, joins or
// renames as u before everyone has been told that u left.
func (s *Server) Offline(u *User) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.OnlineMap, u.Name)
	if s.cluster != nil { // the other instances' users hear it even now
		return s.cluster.leftLocked(u)
	}
	if s.closing {
		return nil
	}
	return presenceLine(u, "下线")
}

// announceLeave tells everyone u left, once its address and the room can
// pay for the line, and frees u's name.
func (s *Server) announceLeave(u *User, line []byte) {
	paid := line != nil && s.payPresence(u, len(line))
	if s.cluster != nil {
		s.cluster.leave(u, line) // paid or not: an instance shutting down still says who left
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if paid && !s.closing {
		s.broadcastLocked(line)
	}
	s.releaseKeysLocked(u)
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
	s.broadcast([]byte("[" + from.Addr + "]" + from.Name + ": " + msg + "\n"))
}

// broadcast puts line in every online user's queue.
func (s *Server) broadcast(line []byte) {
	if s.cluster != nil {
		s.cluster.say(line)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.broadcastLocked(line)
}

func (s *Server) broadcastLocked(line []byte) {
	for _, u := range s.OnlineMap {
		u.send(line) // never blocks: see User.send
	}
}

// whoPageBytes bounds one page of a who reply (see sendWho).
const whoPageBytes = 16 << 10

// sendWho sends u the who list, one "[addr]name: 在线..." line per online
// user by name, in pages of at most min(Burst, whoPageBytes) bytes (and at
// least one line), each paid from u's inbox before it is queued. So a list
// longer than Config.QueueBytes still arrives (red team 3), asking costs
// the room nothing (red team 4), and a user waiting for its inbox holds no
// list. Each page is taken when it is sent: someone who joins, leaves or
// renames meanwhile may be listed by either name, or not at all.
func (s *Server) sendWho(u *User) {
	if s.cluster != nil {
		s.sendWhoList(u, s.cluster.who())
		return
	}
	size := min(s.cfg.Burst, whoPageBytes)
	for after := ""; ; { // every name sorts after ""
		page, last := s.whoPage(after, size)
		if len(page) == 0 || !spend(u.inbox, len(page), u.done) {
			return
		}
		u.send(page)
		after = last
	}
}

// whoPage returns the who lines of the online users whose names sort after
// after, in name order, as many as fit in size bytes (at least one), and
// the last name on the page; nil once nobody is left.
func (s *Server) whoPage(after string, size int) (page []byte, last string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	users := make([]*User, 0, len(s.OnlineMap))
	for name, o := range s.OnlineMap {
		if name > after {
			users = append(users, o)
		}
	}
	slices.SortFunc(users, func(a, b *User) int { return cmp.Compare(a.Name, b.Name) })
	for _, o := range users {
		line := "[" + o.Addr + "]" + o.Name + ": " + replyOnline + "\n"
		if len(page) > 0 && len(page)+len(line) > size {
			break
		}
		page, last = append(page, line...), o.Name
	}
	return page, last
}

// rename gives u a new name if nobody has it or one that looks like it
// (fix 5: the check and the change happen under one lock, so two users can
// never end up with one name, and the map and the name never disagree).
// Renaming to a name that looks like one's own is allowed.
func (s *Server) rename(u *User, name string) {
	if s.cluster != nil {
		s.cluster.rename(u, name)
		return
	}
	keys := nameKeys(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.takenLocked(keys, u) {
		u.SendMsg(replyNameUsed)
		return
	}
	delete(s.OnlineMap, u.Name)
	u.Name = name
	s.OnlineMap[name] = u
	s.claimLocked(u, keys)
	u.SendMsg(fmt.Sprintf(replyRenamed, name))
}

// recipient returns the online user called name, or nil.
func (s *Server) recipient(name string) *User {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.OnlineMap[name]
}

// sendTo delivers line, a private message from u, to to, which u's line
// named and whose inbox has paid for it, if to is still online.
func (s *Server) sendTo(u, to *User, line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.OnlineMap[to.Name] != to {
		u.SendMsg(replyNoUser)
		return
	}
	to.SendMsg(line)
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
