package main

import (
	"net"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Byte budgets (issue 10). Everything a user causes to be delivered is
// counted in bytes as a reader receives them: after sanitizing, with the
// "[addr]name: " prefix and the newline. Three kinds of token bucket pay:
//
//   - the sender's own (Config.Rate, Config.Burst): what one user's lines,
//     or one address's joins and leaves, may cost. Input that delivers
//     nothing costs its raw bytes: a blank line, telnet commands and the
//     echo of a telnet in character mode (these as they are read).
//   - the room's (Config.RoomRate, Config.RoomBurst), shared by everyone:
//     what goes to every queue (a broadcast, paid once since each queue
//     gets one copy; a presence line) is paid here before it is queued.
//   - each user's inbox (Config.Rate, Config.Burst again): what goes to
//     that user's queue alone (a private message, a who reply, a reply to
//     a command) is paid there, so a busy user asking who delays nobody
//     else (red team 4).
//
// So in any t seconds at most RoomBurst + Burst + (RoomRate + Rate)·t
// bytes reach any one queue, and a reader reading at RoomRate + Rate holds
// at most RoomBurst + Burst in its queue: validate requires that to fit in
// QueueBytes. When a budget is spent the sender waits (the server stops
// reading from it; TCP slows it down), as a single flooder always did;
// nothing is dropped or merged.
//
// In a cluster (cluster_nats.go) the same bound holds for every queue on
// every instance: each instance pays a whole room budget again before it
// queues a line of the stream (natsRoom.deliver), while Server.room, which
// pays before a line is published, is shared among the instances
// (natsRoom.shareRoom); a private message is paid from the recipient's
// inbox on the recipient's instance (natsRoom.tell).

// maxPrefix bounds what the server adds to a line's text: "[" address "]"
// name ": " and "\n", or name "想对您说：" and "\n". An address is at most
// about 70 bytes ("[IPv6%zone]:port"), a name maxNameLen characters of at
// most 4 bytes, or an address with "#N".
const maxPrefix = 512

// worstLine is the most one line of maxLine bytes can deliver to a reader:
// sanitize turns each invalid byte into U+FFFD (3 bytes).
func worstLine(maxLine int) int { return 3*maxLine + maxPrefix }

// A budget is a token bucket of bytes. rate.Limiter takes the time from
// its caller, and a time older than one it has already seen moves it back,
// so that span is paid for twice (red team: joins ran 1.3-2.6x over their
// budget). A budget reads the clock under its own lock, which every use of
// the bucket takes: the innermost lock of all (Server.mu may be held).
type budget struct {
	mu  sync.Mutex
	lim *rate.Limiter
}

// newBudget returns a bucket of r bytes per second holding burst bytes;
// r == 0 means no limit.
func newBudget(r float64, burst int) *budget {
	if r == 0 {
		return &budget{lim: rate.NewLimiter(rate.Inf, burst)}
	}
	return &budget{lim: rate.NewLimiter(rate.Limit(r), burst)}
}

// spend takes n bytes from b and waits until they are there, or returns
// false if stop closes first. A nil budget costs nothing.
func spend(b *budget, n int, stop <-chan struct{}) bool {
	return wait(b.reserve(n), stop)
}

// reserve takes n bytes and returns how long to wait until they are
// there. More than the burst is taken in pieces: the bucket goes into
// debt and the wait is that of the last piece.
func (b *budget) reserve(n int) time.Duration {
	d, _ := b.reserveUnless(n, nil)
	return d
}

// reserveUnless is reserve, except that if refuse, given the wait, says
// so, it takes nothing back and returns false.
func (b *budget) reserveUnless(n int, refuse func(time.Duration) bool) (time.Duration, bool) {
	if b == nil || n <= 0 {
		return 0, true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.lim.Limit() == rate.Inf {
		return 0, true
	}
	now := time.Now()
	var taken []*rate.Reservation
	var d time.Duration
	for n > 0 {
		k := min(n, b.lim.Burst())
		r := b.lim.ReserveN(now, k)
		taken = append(taken, r)
		d = r.DelayFrom(now)
		n -= k
	}
	if refuse != nil && refuse(d) {
		for _, r := range slices.Backward(taken) {
			r.CancelAt(now)
		}
		return 0, false
	}
	return d, true
}

// full reports whether b is full: nobody has spent from it lately.
func (b *budget) full() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lim.Limit() == rate.Inf || b.lim.Tokens() >= float64(b.lim.Burst())
}

// set changes b's rate and burst (a cluster shares the room: shareRoom).
func (b *budget) set(r float64, burst int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lim.SetLimit(rate.Limit(r))
	b.lim.SetBurst(burst)
}

// wait waits d, or returns false if stop closes first.
func wait(d time.Duration, stop <-chan struct{}) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return false
	}
}

// addrBudget is what the connections from one address share: their joins
// and leaves cost the same budget as one user's lines, so churning
// connections cannot push others more presence lines than one user could
// push messages.
type addrBudget struct {
	lim     *budget
	conns   int // connections from the address being served
	waiting int // of which waiting for this budget to join (at most maxWaiting)
}

// maxWaiting is how many connections from one address may wait for its
// budget to join at once; the next that would have to wait is turned
// away, so that churning connections cannot fill the server's MaxUsers
// places with waiting joins.
const maxWaiting = 16

// addrBudgetLocked returns the budget of conn's address and counts conn
// against it; s.mu must be held. A budget is forgotten only once it is
// full again and unused (see releaseAddrLocked), so reconnecting does not
// refill it.
func (s *Server) addrBudgetLocked(conn net.Conn) *addrBudget {
	host := hostOf(conn)
	b := s.addrs[host]
	if b == nil {
		if len(s.addrs) >= s.sweepAt {
			s.sweepAddrsLocked()
		}
		b = &addrBudget{lim: newBudget(s.cfg.Rate, s.cfg.Burst)}
		s.addrs[host] = b
	}
	b.conns++
	return b
}

// releaseAddrLocked stops counting u against its address; s.mu must be held.
func (s *Server) releaseAddrLocked(u *User) {
	u.addr.conns--
	if u.addr.conns == 0 && u.addr.lim.full() {
		delete(s.addrs, hostOf(u.conn))
	}
}

// sweepAddrsLocked forgets the budgets nobody uses that have filled up
// again. Sweeping only when the map has doubled keeps it amortised O(1).
func (s *Server) sweepAddrsLocked() {
	for host, b := range s.addrs {
		if b.conns == 0 && b.lim.full() {
			delete(s.addrs, host)
		}
	}
	s.sweepAt = max(64, 2*len(s.addrs))
}

func hostOf(conn net.Conn) string {
	addr := conn.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// presenceLine is the 已上线 or 下线 line of u.
func presenceLine(u *User, what string) []byte {
	return []byte("[" + u.Addr + "]" + u.Name + ": " + what + "\n")
}

// joinCost is what u's 已上线 line costs: its default name is its address,
// or, rarely, the address with "#N" (see Online).
func joinCost(u *User) int {
	return len("["+u.Addr+"]"+u.Addr+": 已上线\n") + len("#1000000")
}

// payPresence waits until u's address and the room can pay n bytes of
// presence line; false if the server began shutting down first.
func (s *Server) payPresence(u *User, n int) bool {
	return spend(u.addr.lim, n, s.done) && spend(s.room, n, s.done)
}

// payJoin is payPresence for u's 已上线 line, except that when u would have
// to wait for its address's budget while maxWaiting others from there
// already do, it takes nothing and returns replyBusy at once (a churner
// turned away does not run its address into debt). Otherwise it returns ""
// once paid, or replyClosing if the server began shutting down first.
func (s *Server) payJoin(u *User) string {
	n := joinCost(u) // at most Burst: validate checks Burst >= worstLine
	s.mu.Lock()
	d, paid := u.addr.lim.reserveUnless(n, func(d time.Duration) bool { return d > 0 && u.addr.waiting >= maxWaiting })
	busy := !paid
	if d > 0 {
		u.addr.waiting++
	}
	s.mu.Unlock()
	if busy {
		return replyBusy
	}
	if d > 0 {
		paid := wait(d, s.done)
		s.mu.Lock()
		u.addr.waiting--
		s.mu.Unlock()
		if !paid {
			return replyClosing
		}
	}
	if !spend(s.room, n, s.done) {
		return replyClosing
	}
	return ""
}
