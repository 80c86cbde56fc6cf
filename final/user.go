package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/time/rate"
)

// writeBufSize is how much a writer copies together into one write.
const writeBufSize = 64 << 10

// writeBufs holds the writers' buffers, which grow up to writeBufSize as
// batches need. Only a writer with several messages to send takes one, and
// only for as long as it writes, so an idle user holds none.
var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// leaveReason says why a session ended. Exactly one is recorded per user,
// and the session then ends exactly once (fix 9).
type leaveReason uint8

const (
	stillHere    leaveReason = iota
	leftQuit                 // the client closed or reset the connection
	leftIdle                 // silent for Config.Idle (fix 10)
	leftSlow                 // its queue overflowed (fix 8)
	leftWrite                // a write stalled past Config.WriteTimeout (fix 8)
	leftShutdown             // the server is shutting down (fix 12)
)

func (r leaveReason) String() string {
	return [...]string{"still here", "quit", "idle", "slow consumer", "write timeout", "shutdown"}[r]
}

// notice is what the user is told on the way out, if anything.
func (r leaveReason) notice() string {
	switch r {
	case leftIdle:
		return replyKicked
	case leftSlow:
		return replySlow
	case leftShutdown:
		return replyClosing
	}
	return ""
}

// longAgo is a deadline in the past: setting it wakes a blocked Read or Write.
var longAgo = time.Unix(1, 0)

// errStopped ends a read once the session has been told to stop.
var errStopped = errors.New("session stopped")

// User is one connection. Its reader goroutine (Server.Handler) reads and
// handles lines. What others send it is appended to its output queue; a
// writer goroutine (ListenMessage) exists only while that queue is not
// empty, so an idle user costs one goroutine, not two. Only these two
// goroutines touch the socket, so nobody else can be held up by it.
type User struct {
	Name string // guarded by server.mu, like the map it is the key of; only u's reader changes it
	Addr string // the client's address; never changes
	key  string // nameKey(Name), guarded by server.mu

	conn    net.Conn
	raw     syscall.RawConn // conn's descriptor, to wait for input without a buffer; nil if it has none
	server  *Server
	limiter *rate.Limiter // fix 13: a user's bytes per second (see budget.go)
	addr    *addrBudget   // shared by the connections from its address; guarded by server.mu
	done    chan struct{} // closed when the session is told to stop

	mu      sync.Mutex    // guards everything below, and the deadlines of conn
	queue   [][]byte      // messages waiting for the writer, shared with other queues, never modified
	queued  int           // bytes in queue (fix 8: at most Config.QueueBytes)
	writing bool          // a ListenMessage goroutine is running
	drained chan struct{} // closed by that goroutine when it returns after Close
	reason  leaveReason
	closed  bool // Close was called: nothing more is queued
	failed  bool // a write failed or the queue overflowed: drop everything
	aborted bool // Shutdown ran out of time: no more writes at all
	midLine bool // the last write ended inside a line: a notice must start a new one
	crlf    bool // a telnet in character mode: '\n' goes out as "\r\n" (telnet.go)
}

// NewUser prepares a user for conn; Server.Handler runs it.
func NewUser(conn net.Conn, server *Server) *User {
	addr := conn.RemoteAddr().String()
	u := &User{
		Name:    addr,
		Addr:    addr,
		conn:    conn,
		server:  server,
		limiter: newLimiter(server.cfg.Rate, server.cfg.Burst),
		done:    make(chan struct{}),
	}
	if sc, ok := conn.(syscall.Conn); ok {
		u.raw, _ = sc.SyscallConn() // a nil raw just means no waiting without a buffer
	}
	return u
}

// SendMsg queues msg for this user and returns at once: the caller (often
// a broadcast, with the user map locked) never waits for this user's socket.
func (u *User) SendMsg(msg string) {
	u.send([]byte(msg))
}

// send queues msg, which is shared (a broadcast puts the same slice in
// every queue) and must not be modified. If the queue would hold more than
// Config.QueueBytes the user is too slow: its backlog is dropped and its
// session stopped (fix 8).
func (u *User) send(msg []byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed || u.failed {
		return
	}
	if u.queued+len(msg) > u.server.cfg.QueueBytes {
		u.queue, u.queued, u.failed = nil, 0, true
		u.stopLocked(leftSlow)
		_ = u.conn.SetWriteDeadline(longAgo) // cut short a write stuck on a full connection
		return
	}
	u.queue = append(u.queue, msg)
	u.queued += len(msg)
	if !u.writing {
		u.writing = true
		go u.ListenMessage()
	}
}

// ListenMessage is the user's writer: it copies what is queued, up to
// writeBufSize, into one buffer and writes it in one system call (fix 8:
// batches, not a write per message), each write under a deadline, until
// the queue is empty; then it returns.
func (u *User) ListenMessage() {
	var bp *[]byte // a buffer from writeBufs, taken when a batch needs one
	defer func() {
		if bp != nil {
			writeBufs.Put(bp)
		}
	}()
	for {
		u.mu.Lock()
		if len(u.queue) == 0 || u.failed || u.aborted {
			u.writing = false
			u.queue = nil // an idle user keeps no queue
			if u.drained != nil {
				close(u.drained)
			}
			u.mu.Unlock()
			return
		}
		var batch []byte
		n := 1
		if len(u.queue) == 1 {
			batch = u.queue[0] // one message: write it as it is, no copy
		} else {
			if bp == nil {
				bp = writeBufs.Get().(*[]byte)
			}
			batch = append((*bp)[:0], u.queue[0]...)
			for n < len(u.queue) && len(batch)+len(u.queue[n]) <= writeBufSize {
				batch = append(batch, u.queue[n]...)
				n++
			}
			if cap(batch) <= writeBufSize {
				*bp = batch
			}
		}
		clear(u.queue[:n]) // let the messages go
		u.queue, u.queued = u.queue[n:], u.queued-len(batch)
		// Under mu, so that an abort (which sets a past deadline) is never
		// overwritten by this fresh one.
		_ = u.conn.SetWriteDeadline(time.Now().Add(u.server.cfg.WriteTimeout))
		crlf := u.crlf
		u.mu.Unlock()

		if crlf {
			batch = nvtNewlines(batch)
		}
		n, err := u.conn.Write(batch)
		if n > 0 {
			u.mu.Lock()
			u.midLine = batch[n-1] != '\n'
			u.mu.Unlock()
		}
		if err != nil {
			u.writeFailed(err)
		}
	}
}

// writeFailed stops the session after a failed or timed-out write.
func (u *User) writeFailed(err error) {
	u.server.log.Debug("write failed", "addr", u.Addr, "err", err)
	u.mu.Lock()
	defer u.mu.Unlock()
	u.queue, u.queued, u.failed = nil, 0, true
	if errors.Is(err, os.ErrDeadlineExceeded) {
		u.stopLocked(leftWrite)
	} else {
		u.stopLocked(leftQuit) // the client has gone (reset, broken pipe)
	}
}

// stop asks the session to end for reason r (the first reason wins). It
// does not close anything: it wakes the reader, which ends the session.
func (u *User) stop(r leaveReason) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.stopLocked(r)
}

func (u *User) stopLocked(r leaveReason) {
	if u.reason != stillHere {
		return
	}
	u.reason = r
	close(u.done)
	_ = u.conn.SetReadDeadline(longAgo)
}

// abort cuts every read and write short at once (Shutdown out of time).
func (u *User) abort() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.aborted = true
	u.stopLocked(leftShutdown)
	_ = u.conn.SetDeadline(longAgo)
}

// noticeTimeout bounds the attempt to tell a user whose queue was dropped
// why it is being disconnected.
const noticeTimeout = 100 * time.Millisecond

// Close queues a last notice (if any), waits until everything queued has
// been written (or has failed), and closes the connection. Only the
// user's reader goroutine calls it, once: the connection is closed exactly
// once (fix 9), and after Close no goroutine of this user is left.
func (u *User) Close(notice string) {
	u.mu.Lock()
	u.closed = true
	dropped := u.failed // its queue is gone: try the notice alone, briefly
	if notice != "" && !dropped {
		u.queue = append(u.queue, []byte(notice))
	}
	switch {
	case u.writing:
		u.drained = make(chan struct{})
		u.mu.Unlock()
		<-u.drained
	case len(u.queue) > 0:
		u.writing = true
		u.mu.Unlock()
		u.ListenMessage() // the last flush, on this goroutine
	default:
		u.mu.Unlock()
	}
	u.mu.Lock()
	if dropped && notice != "" && !u.aborted {
		if u.midLine { // a write was cut short: the notice starts a line of its own
			notice = "\n" + notice
		}
		_ = u.conn.SetWriteDeadline(time.Now().Add(noticeTimeout))
		_, _ = u.conn.Write([]byte(notice))
	}
	u.mu.Unlock()
	_ = u.conn.Close()
}

// waitReadable blocks until the connection has bytes to read (or has
// ended), so that the line reader borrows a read buffer only then: an idle
// user holds none. Before it waits it renews the idle deadline (fix 10: the
// kick is a read deadline; there is no timer goroutine and no channel to
// close), unless the session was stopped, which a renewed deadline would
// otherwise hide.
func (u *User) waitReadable() error {
	u.mu.Lock()
	if u.reason != stillHere {
		u.mu.Unlock()
		return errStopped
	}
	if idle := u.server.cfg.Idle; idle > 0 {
		_ = u.conn.SetReadDeadline(time.Now().Add(idle))
	}
	u.mu.Unlock()
	if u.raw == nil {
		return nil // the Read that follows waits instead, with its buffer
	}
	return waitReadable(u.raw)
}

// Read reads from the connection for the line reader, after waitReadable.
func (u *User) Read(p []byte) (int, error) {
	return u.conn.Read(p)
}

// readLoop reads and handles the user's lines until the session ends, and
// returns why it ended.
func (u *User) readLoop() leaveReason {
	lr := newLineReader(u, readBufSize, u.server.cfg.MaxLine)
	for {
		line, err := lr.ReadLine()
		if err != nil && !errors.Is(err, errLineTooLong) {
			return u.leaveReason(err)
		}
		raw := lr.cost() // what the user sent for this line
		var d delivery
		if err != nil { // fix 2: a line too long never reaches anybody else
			d = u.reply(fmt.Sprintf(replyTooLong, u.server.cfg.MaxLine))
		} else if msg := strings.TrimSpace(sanitize(line)); msg != "" { // a blank line delivers nothing
			d = u.plan(msg)
		}
		// Fix 13 and issue 10: the line costs its sender what it delivers
		// (at least its own bytes), and the room what it puts in any one
		// queue. Over budget, the user's lines wait here. The server stops
		// reading from it meanwhile, so TCP slows the sender down; no line
		// is lost and nobody else waits.
		if !spend(u.limiter, max(raw, d.size), u.done) || !spend(u.server.room, d.size, u.done) {
			return u.leaveReason(errStopped)
		}
		if d.do != nil {
			d.do()
		}
	}
}

// leaveReason decides why the session ended after a read error: a stop
// request wins, a missed read deadline is an idle kick, anything else means
// the client has gone.
func (u *User) leaveReason(err error) leaveReason {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.reason == stillHere {
		r := leftQuit
		if errors.Is(err, os.ErrDeadlineExceeded) {
			r = leftIdle
		}
		u.stopLocked(r)
	}
	return u.reason
}

// delivery is what handling one line puts in queues: size is the most it
// puts in any one queue, which the room's budget pays for before do runs.
type delivery struct {
	size int
	do   func()
}

func (u *User) reply(msg string) delivery {
	return delivery{len(msg), func() { u.SendMsg(msg) }}
}

// DoMessage handles one line the user typed, at once.
func (u *User) DoMessage(msg string) {
	u.plan(msg).do()
}

// plan works out what msg, one line the user typed, will deliver. Only u's
// reader changes u.Name, so reading it here needs no lock.
func (u *User) plan(msg string) delivery {
	s := u.server
	cmd := parseCommand(msg)
	switch cmd.kind {
	case cmdWho:
		// The list is built only once paid for, so that many users asking
		// at once hold no lists while they wait. If it grew meanwhile, the
		// room pays the difference before it is queued.
		size := s.whoSize()
		return delivery{size, func() {
			reply := s.whoReply()
			if spend(s.room, len(reply)-size, u.done) {
				u.SendMsg(reply)
			}
		}}
	case cmdRename:
		size := max(len(fmt.Sprintf(replyRenamed, cmd.name)), len(replyNameUsed))
		return delivery{size, func() { s.rename(u, cmd.name) }}
	case cmdTo:
		line := fmt.Sprintf(replyPrivate, u.Name, cmd.text)
		return delivery{max(len(line), len(replyNoUser)), func() { s.sendTo(u, cmd.name, line) }}
	case cmdUsage:
		return u.reply(cmd.text)
	default:
		line := []byte("[" + u.Addr + "]" + u.Name + ": " + cmd.text + "\n")
		return delivery{len(line), func() { s.broadcast(line) }}
	}
}
