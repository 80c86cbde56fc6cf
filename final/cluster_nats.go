package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The chat on NATS (see README.md for a diagram). Everything that everyone
// sees goes through one JetStream stream, so every instance delivers it in
// the stream's one order; names and instances live in key-value buckets
// that only JetStream's compare-and-set changes.
const (
	streamName   = "CHAT"       // the room: every broadcast, 已上线 and 下线
	roomSubject  = "chat.room"  // its one subject; the payload is the line as users see it
	tellSubject  = "chat.inst." // + instance id: private messages for that instance's users
	namesBucket  = "chat-names" // hex of each of nameKeys(name) → member: who has a name, where
	leasesBucket = "chat-leases"

	replyUnavailable = "聊天暂时不可用（与 NATS 断开），连接将关闭\n"
	// A private message whose instance did not answer in time: NATS may
	// have dropped it (a slow consumer there), so nobody knows whether it
	// arrived, but its recipient does exist.
	replyNotDelivered = "私聊消息可能未送达：对方所在的实例没有及时回应\n"
)

// errUnavailable turns away a user who cannot join while NATS is gone.
var errUnavailable = rejection{replyUnavailable}

// member is a name's entry in the names bucket: enough for any instance to
// list the user, reach it, and announce its 下线 if its instance dies.
type member struct {
	Name string `json:"name"`
	Addr string `json:"addr"`
	Inst string `json:"inst"` // the instance id serving it
	Sess string `json:"sess"` // this session, unique in the chat
}

// local is what this instance keeps about one of its own users; guarded by
// Server.mu.
type local struct {
	sess string
	revs map[string]uint64 // its name's entries (by bucket key) and their revisions, for compare-and-set
	live bool              // its 已上线 has come back from the stream: it receives the room
}

// natsRoom is the cluster seam on NATS.
type natsRoom struct {
	s     *Server
	log   *slog.Logger
	id    string        // this instance: random, never reused
	lease time.Duration // an instance silent this long is dead
	seq   atomic.Uint64 // for message ids and session ids

	nc     *nats.Conn
	js     jetstream.JetStream
	names  jetstream.KeyValue
	leases jetstream.KeyValue
	tells  *nats.Subscription

	roomMu  sync.Mutex               // guards room and closing: a restart and Close
	room    jetstream.ConsumeContext // the room's ordered consumer
	closing bool                     // Close has begun: no more restarts
	resume  chan struct{}            // a slow consumer dropped part of the room: restart it
	last    uint64                   // the stream sequence of the last room line delivered; guarded by s.mu

	// The room's budget in a cluster (see budget.go). Server.room, which
	// pays before a line is published, is shared: each of n instances has
	// RoomRate/n and RoomBurst/n (shareRoom). delivered, a whole
	// RoomRate/RoomBurst, pays again before a line of the stream is queued
	// here, so no queue gets more from the room than on one machine.
	delivered *budget
	sharedBy  int // the n Server.room is shared by now; only setUp, then heartbeat, use it

	leaseRev uint64 // the revision setUp created this instance's lease at; heartbeat's from then on

	users  map[*User]*local // this instance's users; guarded by s.mu
	bySess map[string]*User // the same by session; guarded by s.mu

	whoMu sync.Mutex // see who

	start     time.Time    // when this instance joined; renewed counts from it
	renewed   atomic.Int64 // when the last renewal that succeeded was sent, as time.Since(start)
	fenceOnce sync.Once
	fenced    chan struct{} // closed, under s.mu, when this instance cannot prove it is alive
	closed    chan struct{} // closed by nats.go once the connection is closed (see Close)
	empty     chan struct{} // closed, under s.mu, once fenced and every user has left
	stopBeat  chan struct{}
	beating   sync.WaitGroup // heartbeat, claims and restarts
	closeOnce sync.Once
	leaving   atomic.Bool // Close has begun: the disconnect is its own
	sweeping  atomic.Bool // a sweep of the buckets is under way
}

// NATSConfig says how an instance joins a chat on NATS.
type NATSConfig struct {
	URLs  string        // nats://host:port[,…]
	Lease time.Duration // an instance silent this long is dead; its users leave
}

// bucketKeys are a name's keys in the names bucket: those of nameKeys,
// hex-encoded, since bucket keys allow only [-/_=.a-zA-Z0-9]. A name is
// taken when any of them is.
func bucketKeys(name string) []string {
	var keys []string
	for _, k := range nameKeys(name) {
		keys = append(keys, "n"+hex.EncodeToString([]byte(k)))
	}
	return keys
}

// joinNATS connects s to the chat on NATS, as a new instance, and starts
// delivering the room to s's users. Close leaves the chat.
func joinNATS(ctx context.Context, s *Server, cfg NATSConfig) (*natsRoom, error) {
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	r := &natsRoom{
		s: s, log: s.log, id: hex.EncodeToString(id), lease: cfg.Lease, start: time.Now(),
		users: make(map[*User]*local), bySess: make(map[string]*User),
		fenced: make(chan struct{}), empty: make(chan struct{}), closed: make(chan struct{}),
		stopBeat: make(chan struct{}), resume: make(chan struct{}, 1),
		delivered: newBudget(s.cfg.RoomRate, s.cfg.RoomBurst),
	}
	// nats.go's defaults would let this instance lose NATS for minutes
	// without noticing, then replay buffered publishes: pings must notice a
	// dead link well inside the lease, and nothing is buffered.
	nc, err := nats.Connect(cfg.URLs,
		nats.Name("final "+r.id),
		nats.PingInterval(cfg.Lease/5),
		nats.MaxPingsOutstanding(2),
		nats.ReconnectBufSize(-1),
		nats.NoReconnect(), // a fenced instance has lost its users; it rejoins as a new one
		nats.DisconnectErrHandler(func(c *nats.Conn, _ error) {
			// With reconnects off nats.go passes no error here, even when
			// the server went away; every disconnect but Close's own is a
			// loss.
			if !r.leaving.Load() {
				r.fence(fmt.Sprint("lost NATS: ", c.LastError()))
			}
		}),
		nats.ErrorHandler(r.asyncError),
		nats.ClosedHandler(func(*nats.Conn) { close(r.closed) }),
	)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to NATS at %s: %w", redacted(cfg.URLs), err)
	}
	r.nc = nc
	if err := r.setUp(ctx); err != nil {
		r.leaving.Store(true) // never joined: nothing to fence
		nc.Close()
		return nil, err
	}
	r.beating.Add(2)
	go r.heartbeat()
	go r.restarts()
	return r, nil
}

// asyncError is NATS's report of what went wrong away from any call. A
// slow consumer is a subscription whose messages piled up past its pending
// limits, so NATS dropped some:
//   - on the private-message subscription, a dropped message is a request
//     nobody answers: its sender is told it may not have arrived (see
//     tell), never that its recipient does not exist;
//   - on any other (the room's; or a who's short read of a bucket, where
//     it costs one needless restart), the room's ordered consumer is
//     restarted after the last line it delivered (see restarts), so no
//     line is lost or delivered twice.
//
// With the room's pull consumer holding at most one pull's worth (500
// lines, some 6 MiB with the default MaxLine) and NATS's default limits
// (500,000 messages, 64 MiB), neither should happen; a test forces both
// with tiny limits.
func (r *natsRoom) asyncError(_ *nats.Conn, sub *nats.Subscription, err error) {
	if !errors.Is(err, nats.ErrSlowConsumer) {
		r.log.Warn("NATS error", "subject", subjectOf(sub), "err", err)
		return
	}
	if sub == r.tells {
		dropped, _ := sub.Dropped()
		r.log.Warn("slow consumer: private messages dropped; their senders hear they may not have arrived", "dropped", dropped)
		return
	}
	r.log.Warn("slow consumer: restarting the room after its last line", "subject", subjectOf(sub))
	select {
	case r.resume <- struct{}{}:
	default: // a restart is pending already
	}
}

func subjectOf(sub *nats.Subscription) string {
	if sub == nil {
		return ""
	}
	return sub.Subject
}

// setUp makes (or finds) the stream and buckets, takes this instance's
// lease and starts consuming the room from now on.
func (r *natsRoom) setUp(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	js, err := jetstream.New(r.nc)
	if err != nil {
		return err
	}
	r.js = js
	// A chat keeps no history: the stream is for order, not memory. It
	// keeps lines as long as duplicates are detected (a dead instance's
	// 下线, said again by its claimer at most 1.4 leases later), and so at
	// most RoomRate times that: 120 MiB at the default 1 MiB/s.
	stream, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       streamName,
		Subjects:   []string{roomSubject},
		Storage:    jetstream.FileStorage,
		MaxAge:     2 * time.Minute,
		Duplicates: 2 * time.Minute,
	})
	if err != nil {
		return fmt.Errorf("stream %s: %w", streamName, err)
	}
	if r.names, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: namesBucket}); err != nil {
		return fmt.Errorf("bucket %s: %w", namesBucket, err)
	}
	if r.leases, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: leasesBucket}); err != nil {
		return fmt.Errorf("bucket %s: %w", leasesBucket, err)
	}
	r.renewed.Store(int64(time.Since(r.start)))
	if r.leaseRev, err = r.leases.Create(ctx, r.id, []byte("alive")); err != nil {
		return fmt.Errorf("lease: %w", err)
	}
	if leases, err := r.leaseRevisions(); err == nil {
		r.shareRoom(len(leases))
	}
	if r.tells, err = r.nc.Subscribe(tellSubject+r.id, r.onTell); err != nil {
		return err
	}
	// From now on: after the stream's last line, which a restart also
	// starts after (the cursor).
	r.last = stream.CachedInfo().State.LastSeq
	r.room, err = r.consume(ctx, r.last+1)
	return err
}

// consume starts an ordered consumer of the room at stream sequence from.
func (r *natsRoom) consume(ctx context.Context, from uint64) (jetstream.ConsumeContext, error) {
	cons, err := r.js.OrderedConsumer(ctx, streamName, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   from,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer: %w", err)
	}
	return cons.Consume(r.deliver, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		r.log.Debug("room consumer", "err", err)
	}))
}

// restarts starts the room's consumer again after the last line delivered
// whenever asyncError asks: the old one stops first, so nothing is
// delivered twice, and the new one starts at the very next line, so
// nothing is lost. (The ordered consumer would notice a gap itself, but
// only when the next line comes, and a dropped last line would wait.)
func (r *natsRoom) restarts() {
	defer r.beating.Done()
	for {
		select {
		case <-r.stopBeat:
			return
		case <-r.fenced:
			return
		case <-r.resume:
		}
		r.roomMu.Lock()
		if !r.closing {
			r.room.Stop()
			<-r.room.Closed()
			r.s.mu.Lock()
			from := r.last + 1
			r.s.mu.Unlock()
			ctx, cancel := r.ctx()
			room, err := r.consume(ctx, from)
			cancel()
			if err != nil {
				r.roomMu.Unlock()
				r.fence("cannot restart the room: " + err.Error())
				return
			}
			r.room = room
		}
		r.roomMu.Unlock()
	}
}

// deliver puts one line of the room, in the stream's order, in the queue
// of every live user of this instance. A user becomes live at its own
// 已上线, so it sees that and everything after it, like everyone else.
//
// It pays the room's whole budget first, whatever the publishers paid:
// however many instances publish, no queue here gets more than RoomBurst +
// RoomRate·t from the room, as on one machine. Waiting here holds up the
// stream, not NATS: nats.go calls deliver on this consumer's own
// goroutine, stops its heartbeat check while deliver runs, and pulls no
// more than its batch (500 messages) ahead, so the rest waits in the
// stream. Close stops the wait (stopBeat).
func (r *natsRoom) deliver(m jetstream.Msg) {
	meta, err := m.Metadata()
	if err != nil {
		return // not a stream message
	}
	line := m.Data()
	if !spend(r.delivered, len(line), r.stopBeat) {
		return
	}
	id := m.Headers().Get(jetstream.MsgIDHeader)
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if meta.Sequence.Stream <= r.last {
		return // delivered already, before a restart
	}
	r.last = meta.Sequence.Stream
	if sess, ok := strings.CutPrefix(id, "on."); ok {
		if u := r.bySess[sess]; u != nil {
			r.users[u].live = true
		}
	}
	for u, l := range r.users {
		if l.live {
			u.send(line)
		}
	}
}

func (r *natsRoom) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), r.lease/2)
}

// publish appends line to the room with id, which makes a second copy (a
// survivor announcing a dead instance's 下线 again) a no-op. An instance
// that cannot publish fences itself (see failed).
func (r *natsRoom) publish(line []byte, id string) error {
	if !r.alive() {
		return errFenced
	}
	ctx, cancel := r.ctx()
	defer cancel()
	_, err := r.js.Publish(ctx, roomSubject, line, jetstream.WithMsgID(id))
	r.failed("cannot publish", err)
	return err
}

// failed fences this instance when a NATS call failed: it can no longer
// keep the chat's promises (a line lost, a name not freed), so it lets a
// survivor claim its lease, announce its users' 下线 (the same message
// ids: once) and free their names. A compare-and-set that lost is not a
// failure, nor is anything after Close began.
func (r *natsRoom) failed(what string, err error) {
	if err == nil || errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) || r.leaving.Load() {
		return
	}
	r.fence(what + ": " + err.Error())
}

func (r *natsRoom) join(u *User) error {
	s := r.s
	if !r.alive() {
		return errUnavailable
	}
	sess := r.id + "-" + fmt.Sprint(r.seq.Add(1))
	name := u.Addr
	var revs map[string]uint64
	for i := 2; ; i++ {
		var err error
		revs, err = r.claimName(name, member{name, u.Addr, r.id, sess}, nil)
		if err == nil {
			break
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			r.failed("cannot claim a name", err)
			return errUnavailable
		}
		name = fmt.Sprintf("%s#%d", u.Addr, i)
	}
	s.mu.Lock()
	if s.closing || r.isFenced() {
		s.mu.Unlock()
		r.free(revs)
		if s.closing {
			return errClosing
		}
		return errUnavailable
	}
	u.Name = name
	s.OnlineMap[name] = u
	s.claimLocked(u, nameKeys(name))
	r.users[u] = &local{sess: sess, revs: revs}
	r.bySess[sess] = u
	s.mu.Unlock()
	if err := r.publish(presenceLine(u, "已上线"), "on."+sess); err != nil {
		// Never live, u would hear nothing: turn it away. Its 已上线 may
		// have landed all the same, so its names stay for the claimer of
		// this (fenced) instance, which says its 下线.
		s.mu.Lock()
		delete(s.OnlineMap, name)
		r.forgetLocked(u, sess)
		s.mu.Unlock()
		return errUnavailable
	}
	return nil
}

// claimName takes every bucket key of name for m, each by create-if-absent,
// except those in own (this user's keys now, by revision), which it
// updates. If one is taken it gives back what it created and returns an
// error that is jetstream.ErrKeyExists; own keys are only updated once
// every other key is taken. It returns the name's keys and revisions.
func (r *natsRoom) claimName(name string, m member, own map[string]uint64) (map[string]uint64, error) {
	v, _ := json.Marshal(m)
	ctx, cancel := r.ctx()
	defer cancel()
	revs := map[string]uint64{}
	var mine []string
	for _, k := range bucketKeys(name) {
		if _, ok := own[k]; ok {
			mine = append(mine, k)
			continue
		}
		rev, err := r.names.Create(ctx, k, v)
		if err != nil {
			r.free(revs)
			return nil, err
		}
		revs[k] = rev
	}
	for _, k := range mine {
		rev, err := r.names.Update(ctx, k, v, own[k])
		if err != nil {
			r.free(revs)
			return nil, err
		}
		revs[k] = rev
	}
	return revs, nil
}

// free deletes the given entries, each only if it is still at that
// revision: a survivor may have freed it already, and someone else taken it.
func (r *natsRoom) free(revs map[string]uint64) {
	ctx, cancel := r.ctx()
	defer cancel()
	for k, rev := range revs {
		r.failed("cannot free a name", r.names.Delete(ctx, k, jetstream.LastRevision(rev)))
	}
}

func (r *natsRoom) leftLocked(u *User) []byte {
	if l := r.users[u]; l != nil {
		l.live = false
		delete(r.bySess, l.sess) // its 已上线, if still on its way, must not make it live again
	}
	return presenceLine(u, "下线")
}

func (r *natsRoom) leave(u *User, line []byte) {
	s := r.s
	s.mu.Lock()
	l := r.users[u]
	s.mu.Unlock()
	if l == nil { // never joined
		return
	}
	// A 下线 that may not have landed leaves u's names to the claimer of
	// this instance (publish fenced it), which says it (once: same id).
	if r.publish(line, "off."+l.sess) == nil {
		r.free(l.revs)
	}
	s.mu.Lock()
	r.forgetLocked(u, l.sess)
	s.mu.Unlock()
}

// forgetLocked takes u off this instance; s.mu is held. The last user of a
// fenced instance to go lets it close (see natsChat.rejoin).
func (r *natsRoom) forgetLocked(u *User, sess string) {
	delete(r.users, u)
	delete(r.bySess, sess)
	r.s.releaseKeysLocked(u)
	if len(r.users) == 0 && r.isFenced() {
		closeOnce(r.empty)
	}
}

// closeOnce closes c unless it is closed already; the caller holds the
// lock that guards c.
func closeOnce(c chan struct{}) {
	select {
	case <-c:
	default:
		close(c)
	}
}

func (r *natsRoom) say(line []byte) {
	_ = r.publish(line, r.id+"."+fmt.Sprint(r.seq.Add(1))) // a failure fences this instance
}

// A private message is paid from its recipient's inbox, on the
// recipient's instance, as on one machine: in two steps, each a request
// to that instance (or a call, when it is this one). First its inbox
// reserves the bytes and says how long the sender must wait for them;
// the sender waits that long (the recipient's inbox in debt holds it back)
// and then asks for the line to be delivered. Neither step waits on the
// recipient's side, so one recipient in debt holds up no tell to anyone
// else there; a sender's tells, one after the other, keep their order.

// tellMsg is one step of a private message: reserve Size bytes of the
// inbox of the user of session Sess, or deliver Line to it.
type tellMsg struct {
	Sess string `json:"sess"`
	Size int    `json:"size,omitempty"`
	Line string `json:"line,omitempty"`
}

// maxNameBytes bounds every name a user can have: a chosen one is at most
// maxNameLen characters of at most 4 bytes, a default one an address
// (see maxPrefix). tell asks NATS about no longer name: its bucket key
// goes into a subject, and a subject past the server's control line (4
// KiB) makes the server cut this instance's connection.
const maxNameBytes = maxNameLen * utf8.UTFMax

func (r *natsRoom) tell(u *User, name, line string) {
	if len(name) > maxNameBytes {
		r.reply(u, replyNoUser)
		return
	}
	if !r.alive() {
		return // fenced: u is being disconnected
	}
	ctx, cancel := r.ctx()
	e, err := r.names.Get(ctx, bucketKeys(name)[0])
	cancel()
	if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		r.failed("cannot look a name up", err) // u is told by the fence
		return
	}
	var m member
	if err == nil {
		err = json.Unmarshal(e.Value(), &m)
	}
	if err != nil || m.Name != name {
		r.reply(u, replyNoUser)
		return
	}
	d, err := r.tellStep(m.Inst, tellMsg{Sess: m.Sess, Size: len(line)})
	if err == nil {
		if !wait(d, u.done) || !r.alive() {
			return
		}
		_, err = r.tellStep(m.Inst, tellMsg{Sess: m.Sess, Line: line})
	}
	switch {
	case err == nil:
	case errors.Is(err, errGone): // not there, or its instance has left the chat, and its users with it
		r.reply(u, replyNoUser)
	default:
		// No answer in time: the request was dropped there (a slow
		// consumer) or that instance is stuck. The line may have arrived
		// (the answer to the second step lost): 该用户不存在 would be a lie.
		r.log.Warn("a private message may not have been delivered", "err", err)
		r.reply(u, replyNotDelivered)
	}
}

// errGone answers a tell to a user who is not (or no longer) there; also
// when its instance has no subscription any more.
var errGone = errors.New("the recipient has gone")

// reply sends u msg, paid from u's own inbox, as every reply.
func (r *natsRoom) reply(u *User, msg string) {
	if spend(u.inbox, len(msg), u.done) {
		u.SendMsg(msg)
	}
}

// tellStep takes step t at instance inst, and returns how long the sender
// must wait before the next step.
func (r *natsRoom) tellStep(inst string, t tellMsg) (time.Duration, error) {
	if inst == r.id {
		return r.takeTellStep(t)
	}
	ctx, cancel := r.ctx()
	defer cancel()
	data, _ := json.Marshal(t)
	reply, err := r.nc.RequestWithContext(ctx, tellSubject+inst, data)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return 0, errGone // its instance has left the chat
	case err != nil:
		return 0, err
	case string(reply.Data) == "gone":
		return 0, errGone
	}
	ns, err := strconv.ParseInt(string(reply.Data), 10, 64)
	return time.Duration(ns), err
}

// onTell takes a step of a private message that another instance sent
// here. It answers the nanoseconds to wait, or "gone".
func (r *natsRoom) onTell(m *nats.Msg) {
	var t tellMsg
	err := json.Unmarshal(m.Data, &t)
	var d time.Duration
	if err == nil {
		d, err = r.takeTellStep(t)
	}
	answer := "gone"
	if err == nil {
		answer = strconv.FormatInt(int64(d), 10)
	}
	_ = m.Respond([]byte(answer))
}

// takeTellStep reserves t.Size bytes of the recipient's inbox and returns
// the wait, or delivers t.Line; errGone if the recipient is not live here.
func (r *natsRoom) takeTellStep(t tellMsg) (time.Duration, error) {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	to := r.bySess[t.Sess]
	if to == nil || !r.users[to].live {
		return 0, errGone
	}
	if t.Line == "" {
		return to.inbox.reserve(min(t.Size, worstLine(s.cfg.MaxLine))), nil
	}
	to.SendMsg(t.Line)
	return 0, nil
}

// shareRoom shares the room's budget for publishing (Server.room) among
// the n instances that hold a lease (a dead one's counts until it is
// claimed: the share is smaller, never larger, than it should be). The
// stream then grows no faster than deliver pays for it, so a line waits
// in it at most about RoomBurst/RoomRate. When an instance joins, the
// others notice within lease/5; until then the shares add up to at most
// one more share, which waits in the stream a little longer: no queue
// gets more, since deliver pays the whole budget.
func (r *natsRoom) shareRoom(n int) {
	cfg := r.s.cfg
	if cfg.RoomRate == 0 || n < 1 || n == r.sharedBy {
		return
	}
	r.sharedBy = n
	r.s.room.set(cfg.RoomRate/float64(n), max(cfg.RoomBurst/n, 1))
}

func (r *natsRoom) rename(u *User, name string) {
	if !r.alive() {
		return // u has been told (alive fenced), and is on its way out
	}
	s := r.s
	s.mu.Lock()
	l := r.users[u]
	sess, old := l.sess, l.revs
	s.mu.Unlock()
	// A key the name shares with one's own name (one that looks like it)
	// is still one's own: updated, not created.
	revs, err := r.claimName(name, member{name, u.Addr, r.id, sess}, old)
	if err == nil {
		gone := map[string]uint64{}
		for k, rev := range old {
			if _, kept := revs[k]; !kept {
				gone[k] = rev
			}
		}
		r.free(gone)
	}
	switch {
	case errors.Is(err, jetstream.ErrKeyExists):
		u.SendMsg(replyNameUsed)
		return
	case err != nil:
		r.failed("cannot rename", err) // u is told by the fence
		return
	}
	s.mu.Lock()
	delete(s.OnlineMap, u.Name)
	u.Name = name
	s.OnlineMap[name] = u
	s.claimLocked(u, nameKeys(name))
	l.revs = revs
	s.mu.Unlock()
	u.SendMsg(fmt.Sprintf(replyRenamed, name))
}

// entry is one entry of the names bucket.
type entry struct {
	key string
	rev uint64
	member
}

// members reads the whole names bucket: a name has an entry per key.
func (r *natsRoom) members() ([]entry, error) {
	ctx, cancel := r.ctx()
	defer cancel()
	w, err := r.names.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, err
	}
	defer func() { _ = w.Stop() }()
	var all []entry
	for e := range w.Updates() {
		if e == nil { // the end of what the bucket holds now
			return all, nil
		}
		var m member
		if json.Unmarshal(e.Value(), &m) == nil {
			all = append(all, entry{e.Key(), e.Revision(), m})
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, errors.New("the names bucket's watcher stopped early")
}

func (r *natsRoom) who() string {
	// One read of the bucket at a time per instance: a user sending who as
	// fast as its budget allows must not turn into as many NATS consumers.
	r.whoMu.Lock()
	all, err := r.members()
	r.whoMu.Unlock()
	if err != nil {
		r.failed("cannot read the names", err) // the asker is told by the fence
		return ""
	}
	// List each user once: a name has an entry per key, and a user
	// renaming has its new name's entries before its old ones are freed.
	// The newest entry of a session (revisions grow in the bucket) is its
	// name now, or the one it is taking.
	slices.SortFunc(all, func(a, b entry) int { return cmp.Or(cmp.Compare(a.Sess, b.Sess), cmp.Compare(b.rev, a.rev)) })
	all = slices.CompactFunc(all, func(a, b entry) bool { return a.Sess == b.Sess })
	slices.SortFunc(all, func(a, b entry) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Sess, b.Sess)) })
	var b strings.Builder
	for _, m := range all {
		b.WriteString("[" + m.Addr + "]" + m.Name + ": " + replyOnline + "\n")
	}
	return b.String()
}
