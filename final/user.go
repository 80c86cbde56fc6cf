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
	leftFenced               // the instance lost the chat on NATS (cluster_nats.go)
)

func (r leaveReason) String() string {
	return [...]string{"still here", "quit", "idle", "slow consumer", "write timeout", "shutdown", "fenced"}[r]
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
	case leftFenced:
		return replyUnavailable
	}
	return ""
}

// longAgo is a deadline in the past: setting it wakes a blocked Read or Write.
var longAgo = time.Unix(1, 0)

// errStopped ends a read once the session has been told to stop.
var errStopped = errors.New("session stopped")

// User is one connection. Its reader goroutine (Server.Handler) reads and
// handles lines. What others send it is appended to its output queue; a
// writer goroutine (flush) exists only while that queue is not empty, so
// an idle user costs one goroutine, not two. Only these two goroutines
// touch the socket, so nobody else can be held up by it.
//
// Lock order: Server.mu before User.mu. A broadcast holds Server.mu while
// it queues for every user (send takes u.mu); nothing that holds u.mu
// takes Server.mu.
type User struct {
	Name string   // guarded by server.mu, like the map it is the key of; only u's reader changes it
	Addr string   // the client's address; never changes
	keys []string // nameKeys(Name), guarded by server.mu

	conn    net.Conn
	raw     syscall.RawConn // conn's descriptor, to wait for input without a buffer; nil if it has none
	server  *Server
	limiter *budget       // fix 13: a user's bytes per second (see budget.go)
	inbox   *budget       // what others send this user alone: private messages, replies (see budget.go)
	addr    *addrBudget   // shared by the connections from its address; guarded by server.mu
	done    chan struct{} // closed when the session is told to stop (reason is set)

	mu      sync.Mutex  // guards everything below, and the deadlines of conn
	state   state       // where u is in its life
	reason  leaveReason // why the session ends; set once, when it is told to stop
	queue   [][]byte    // messages waiting for the writer, shared with other queues, never modified
	queued  int         // bytes in queue (fix 8: at most Config.QueueBytes)
	writing bool        // a flush is running (on its own goroutine, or Close's)
	flushed sync.Cond   // on mu; signalled when a flush returns
	midLine bool        // the last write ended inside a line: a notice must start a new one
	crlf    bool        // a telnet in character mode: '\n' goes out as "\r\n" (telnet.go)
}

// NewUser prepares a user for conn; Server.Handler runs it.
func NewUser(conn net.Conn, server *Server) *User {
	addr := conn.RemoteAddr().String()
	u := &User{
		Name:    addr,
		Addr:    addr,
		conn:    conn,
		server:  server,
		limiter: newBudget(server.cfg.Rate, server.cfg.Burst),
		inbox:   newBudget(server.cfg.Rate, server.cfg.Burst),
		done:    make(chan struct{}),
	}
	u.flushed.L = &u.mu
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

// state is where a user is in its life. It only moves forward, down this
// list (steps may be skipped), and only under User.mu:
//
//	state     entered by                                   send queues  written
//	chatting  NewUser                                      yes          yes
//	leaving   stop (idle, quit, shutdown)                  yes          yes
//	flushing  Close                                        no           what is queued
//	dropped   a queue overflow or a failed write           no           Close's notice only
//	aborted   abort (Shutdown out of time)                 no           nothing
//	closed    the end of Close                             no           nothing
//
// abort may come in any state but closed. The reader reads only while
// chatting: stopLocked wakes it.
type state uint8

const (
	chatting state = iota // the session runs; what others send is queued and written
	leaving               // told to stop (reason says why); the reader is ending the session; still queued and written
	flushing              // Close: nothing more is queued; what is queued is written, then the connection closes
	dropped               // the queue overflowed or a write failed: the queue is gone, nothing more is queued or written but Close's notice
	aborted               // Shutdown ran out of time: nothing more is written at all
	closed                // the connection is closed
)

// moveLocked moves u on to state to, never back; u.mu must be held.
func (u *User) moveLocked(to state) {
	u.state = max(u.state, to)
}

// send queues msg, which is shared (a broadcast puts the same slice in
// every queue) and must not be modified. If the queue would hold more than
// Config.QueueBytes the user is too slow: its backlog is dropped and its
// session stopped (fix 8).
func (u *User) send(msg []byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.state >= flushing {
		return
	}
	if u.queued+len(msg) > u.server.cfg.QueueBytes {
		u.dropLocked(leftSlow)
		_ = u.conn.SetWriteDeadline(longAgo) // cut short a write stuck on a full connection
		return
	}
	u.queue = append(u.queue, msg)
	u.queued += len(msg)
	if !u.writing {
		u.writing = true
		go u.flush()
	}
}

// flush is the user's writer. The tutorial's ListenMessage ran for the
// whole session, waiting on C; flush runs only while the queue is not
// empty (send starts it), so an idle user has no writer. It copies what is
// queued, up to writeBufSize, into one buffer and writes it in one system
// call (fix 8: batches, not a write per message), each write under a
// deadline, until the queue is empty or the user is dropped or aborted.
func (u *User) flush() {
	var bp *[]byte // a buffer from writeBufs, taken when a batch needs one
	defer func() {
		if bp != nil {
			writeBufs.Put(bp)
		}
	}()
	for {
		u.mu.Lock()
		if len(u.queue) == 0 || u.state >= dropped {
			u.writing = false
			u.queue = nil // an idle user keeps no queue
			u.flushed.Broadcast()
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
	if errors.Is(err, os.ErrDeadlineExceeded) {
		u.dropLocked(leftWrite)
	} else {
		u.dropLocked(leftQuit) // the client has gone (reset, broken pipe)
	}
}

// dropLocked forgets u's queue, writes nothing more to it (but Close's
// notice) and stops the session for reason r; u.mu must be held.
func (u *User) dropLocked(r leaveReason) {
	u.queue, u.queued = nil, 0
	u.moveLocked(dropped)
	u.stopLocked(r)
}

// stop asks the session to end for reason r (the first reason wins). It
// does not close anything: it wakes the reader, which ends the session.
func (u *User) stop(r leaveReason) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.stopLocked(r)
}

// stopLocked moves u on to leaving (at least), records r, the first
// reason only, and wakes the reader: its spending stops waiting (done) and
// its read returns (a past deadline). u.mu must be held.
func (u *User) stopLocked(r leaveReason) {
	u.moveLocked(leaving)
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
	if u.state == closed {
		return
	}
	u.moveLocked(aborted)
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
//
// A dropped user's notice is written here, alone, under u.mu: that is the
// lock abort takes to set its past deadline, so an abort either comes
// first (nothing is written) or cuts this write short; it is never undone
// by the notice's own deadline. Holding u.mu for up to noticeTimeout holds
// up nobody else: u is offline by now (or never was), so no broadcast,
// which would take u.mu under Server.mu, reaches it.
func (u *User) Close(notice string) {
	u.mu.Lock()
	wasDropped := u.state == dropped // its queue is gone: try the notice alone, briefly
	u.moveLocked(flushing)
	if notice != "" && u.state == flushing {
		u.queue = append(u.queue, []byte(notice))
	}
	if len(u.queue) > 0 && !u.writing {
		u.writing = true
		u.mu.Unlock()
		u.flush() // the last flush, on this goroutine
		u.mu.Lock()
	}
	for u.writing {
		u.flushed.Wait()
	}
	if wasDropped && notice != "" && u.state == dropped {
		if u.midLine { // a write was cut short: the notice starts a line of its own
			notice = "\n" + notice
		}
		_ = u.conn.SetWriteDeadline(time.Now().Add(noticeTimeout))
		_, _ = u.conn.Write([]byte(notice))
	}
	u.moveLocked(closed)
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
	if u.state != chatting {
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
		// (at least its own bytes), and the budget of where it goes (the
		// room, or one user's inbox) what it puts in any one queue. Over
		// budget, the user's lines wait here. The server stops reading from
		// it meanwhile, so TCP slows the sender down; no line is lost and
		// nobody else waits.
		if !spend(u.limiter, max(raw, d.size), u.done) || !spend(d.lim, d.size, u.done) {
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
// puts in any one queue, which lim pays for before do runs: the room's
// budget for what goes to everyone, the recipient's inbox for what goes to
// one user; nil when do pays it itself (a private message on NATS: the
// recipient's inbox is on its instance, see cluster.tell).
type delivery struct {
	size int
	lim  *budget
	do   func()
}

func (u *User) reply(msg string) delivery {
	return delivery{len(msg), u.inbox, func() { u.SendMsg(msg) }}
}

// pay charges u's own budget n bytes of input that delivers nothing to
// others (telnet commands, the echo): the line reader pays before each read.
func (u *User) pay(n int) error {
	if !spend(u.limiter, n, u.done) {
		return errStopped
	}
	return nil
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
		// Paid page by page from u's own inbox: see cluster.who.
		return delivery{do: func() { s.cluster.who(u) }}
	case cmdRename:
		size := max(len(fmt.Sprintf(replyRenamed, cmd.name)), len(replyNameUsed))
		return delivery{size, u.inbox, func() { s.cluster.rename(u, cmd.name) }}
	case cmdTo:
		// The recipient's inbox pays: the cluster knows where it is.
		return s.cluster.tell(u, cmd.name, fmt.Sprintf(replyPrivate, u.Name, cmd.text))
	case cmdUsage:
		return u.reply(cmd.reply)
	default:
		line := []byte("[" + u.Addr + "]" + u.Name + ": " + cmd.text + "\n")
		return delivery{len(line), s.room, func() { s.cluster.say(line) }}
	}
}
