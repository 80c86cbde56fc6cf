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
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"
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
	room   jetstream.ConsumeContext
	tells  *nats.Subscription

	// The room's budget in a cluster (see budget.go). Server.room, which
	// pays before a line is published, is shared: each of n instances has
	// RoomRate/n and RoomBurst/n (shareRoom). delivered, a whole
	// RoomRate/RoomBurst, pays again before a line of the stream is queued
	// here, so no queue gets more from the room than on one machine.
	delivered *rate.Limiter
	sharedBy  int // the n Server.room is shared by now; only setUp, then heartbeat, use it

	users  map[*User]*local // this instance's users; guarded by s.mu
	bySess map[string]*User // the same by session; guarded by s.mu

	whoMu sync.Mutex // see who

	fenceOnce sync.Once
	fenced    chan struct{} // closed when this instance cannot prove it is alive
	stopBeat  chan struct{}
	beating   sync.WaitGroup
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

// joinNATS connects s to the chat on NATS and starts delivering the room
// to s's users. Close leaves the chat.
func joinNATS(s *Server, cfg NATSConfig) (*natsRoom, error) {
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	r := &natsRoom{
		s: s, log: s.log, id: hex.EncodeToString(id), lease: cfg.Lease,
		users: make(map[*User]*local), bySess: make(map[string]*User),
		fenced: make(chan struct{}), stopBeat: make(chan struct{}),
		delivered: newLimiter(s.cfg.RoomRate, s.cfg.RoomBurst),
	}
	// nats.go's defaults would let this instance lose NATS for minutes
	// without noticing, then replay buffered publishes: pings must notice a
	// dead link well inside the lease, and nothing is buffered.
	nc, err := nats.Connect(cfg.URLs,
		nats.Name("final "+r.id),
		nats.PingInterval(cfg.Lease/5),
		nats.MaxPingsOutstanding(2),
		nats.ReconnectBufSize(-1),
		nats.NoReconnect(), // a fenced instance has lost its users anyway
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				r.fence("lost NATS: " + err.Error())
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			// The room's ordered consumer notices the gap a dropped message
			// leaves and starts again after the last one it delivered; a
			// dropped private message is lost, so it is logged.
			r.log.Warn("NATS error", "subject", subjectOf(sub), "err", err)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to NATS at %s: %w", cfg.URLs, err)
	}
	r.nc = nc
	if err := r.setUp(); err != nil {
		nc.Close()
		return nil, err
	}
	r.beating.Add(1)
	go r.heartbeat()
	return r, nil
}

func subjectOf(sub *nats.Subscription) string {
	if sub == nil {
		return ""
	}
	return sub.Subject
}

// setUp makes (or finds) the stream and buckets, takes this instance's
// lease and starts consuming the room from now on.
func (r *natsRoom) setUp() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, err := jetstream.New(r.nc)
	if err != nil {
		return err
	}
	r.js = js
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       streamName,
		Subjects:   []string{roomSubject},
		Storage:    jetstream.FileStorage,
		MaxAge:     time.Hour, // a chat keeps no history: the stream is for order, not memory
		Duplicates: 2 * time.Minute,
	}); err != nil {
		return fmt.Errorf("stream %s: %w", streamName, err)
	}
	if r.names, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: namesBucket}); err != nil {
		return fmt.Errorf("bucket %s: %w", namesBucket, err)
	}
	if r.leases, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: leasesBucket}); err != nil {
		return fmt.Errorf("bucket %s: %w", leasesBucket, err)
	}
	if _, err := r.leases.Create(ctx, r.id, []byte("alive")); err != nil {
		return fmt.Errorf("lease: %w", err)
	}
	if leases, err := r.leaseRevisions(); err == nil {
		r.shareRoom(len(leases))
	}
	if r.tells, err = r.nc.Subscribe(tellSubject+r.id, r.onTell); err != nil {
		return err
	}
	cons, err := js.OrderedConsumer(ctx, streamName, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	r.room, err = cons.Consume(r.deliver, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		r.log.Debug("room consumer", "err", err)
	}))
	return err
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
	line := m.Data()
	if !spend(r.delivered, len(line), r.stopBeat) {
		return
	}
	id := m.Headers().Get(jetstream.MsgIDHeader)
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
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
// survivor announcing a dead instance's 下线 again) a no-op.
func (r *natsRoom) publish(line []byte, id string) error {
	ctx, cancel := r.ctx()
	defer cancel()
	_, err := r.js.Publish(ctx, roomSubject, line, jetstream.WithMsgID(id))
	return err
}

func (r *natsRoom) join(u *User) error {
	s := r.s
	joined := func() {
		s.mu.Lock()
		s.joining--
		s.mu.Unlock()
	}
	if r.isFenced() {
		joined()
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
			joined()
			r.log.Warn("cannot claim a name", "err", err)
			return errUnavailable
		}
		name = fmt.Sprintf("%s#%d", u.Addr, i)
	}
	s.mu.Lock()
	s.joining--
	if s.closing {
		s.mu.Unlock()
		r.free(revs)
		return errClosing
	}
	u.Name = name
	s.OnlineMap[name] = u
	s.claimLocked(u, nameKeys(name))
	r.users[u] = &local{sess: sess, revs: revs}
	r.bySess[sess] = u
	s.mu.Unlock()
	if err := r.publish(presenceLine(u, "已上线"), "on."+sess); err != nil {
		// Never live, u would hear nothing: turn it away instead.
		r.log.Warn("cannot announce a join", "err", err)
		s.mu.Lock()
		delete(s.OnlineMap, name)
		s.releaseKeysLocked(u)
		delete(r.users, u)
		delete(r.bySess, sess)
		s.mu.Unlock()
		r.free(revs)
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
		_ = r.names.Delete(ctx, k, jetstream.LastRevision(rev))
	}
}

func (r *natsRoom) leftLocked(u *User) []byte {
	if l := r.users[u]; l != nil {
		l.live = false
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
	if err := r.publish(line, "off."+l.sess); err != nil {
		r.log.Warn("cannot announce a leave", "err", err)
	}
	r.free(l.revs)
	s.mu.Lock()
	delete(r.users, u)
	delete(r.bySess, l.sess)
	s.releaseKeysLocked(u)
	s.mu.Unlock()
}

func (r *natsRoom) say(line []byte) {
	if err := r.publish(line, r.id+"."+fmt.Sprint(r.seq.Add(1))); err != nil {
		r.log.Warn("cannot publish", "err", err)
	}
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

func (r *natsRoom) tell(u *User, name, line string) {
	ctx, cancel := r.ctx()
	e, err := r.names.Get(ctx, bucketKeys(name)[0])
	cancel()
	var m member
	if err == nil {
		err = json.Unmarshal(e.Value(), &m)
	}
	if err != nil || m.Name != name {
		r.replyNoUser(u)
		return
	}
	d, err := r.tellStep(m.Inst, tellMsg{Sess: m.Sess, Size: len(line)})
	if err == nil {
		if !wait(d, u.done) {
			return
		}
		if _, err = r.tellStep(m.Inst, tellMsg{Sess: m.Sess, Line: line}); err != nil && !errors.Is(err, errGone) {
			// The line may have arrived, its answer not: 该用户不存在
			// would be a lie.
			r.log.Warn("a private message may be lost", "err", err)
			return
		}
	}
	if err != nil {
		r.replyNoUser(u)
	}
}

// errGone answers a tell to a user who is not (or no longer) there; also
// when its instance has no subscription any more.
var errGone = errors.New("the recipient has gone")

// replyNoUser tells u 该用户不存在, paid from u's own inbox, as every reply.
func (r *natsRoom) replyNoUser(u *User) {
	if spend(u.inbox, len(replyNoUser), u.done) {
		u.SendMsg(replyNoUser)
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
		return reserve(to.inbox, min(t.Size, worstLine(s.cfg.MaxLine))), nil
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
	r.s.room.SetLimit(rate.Limit(cfg.RoomRate / float64(n)))
	r.s.room.SetBurst(max(cfg.RoomBurst/n, 1))
}

func (r *natsRoom) rename(u *User, name string) {
	if r.isFenced() {
		u.SendMsg(replyUnavailable)
		return
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
		r.log.Warn("cannot rename", "err", err)
		u.SendMsg(replyUnavailable)
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
	return all, ctx.Err()
}

func (r *natsRoom) who() string {
	// One read of the bucket at a time per instance: a user sending who as
	// fast as its budget allows must not turn into as many NATS consumers.
	r.whoMu.Lock()
	all, err := r.members()
	r.whoMu.Unlock()
	if err != nil {
		return replyUnavailable
	}
	slices.SortFunc(all, func(a, b entry) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Sess, b.Sess)) })
	// A name has an entry per key: list each user once.
	all = slices.CompactFunc(all, func(a, b entry) bool { return a.Sess == b.Sess && a.Name == b.Name })
	var b strings.Builder
	for _, m := range all {
		b.WriteString("[" + m.Addr + "]" + m.Name + ": " + replyOnline + "\n")
	}
	return b.String()
}

// heartbeat renews this instance's lease every lease/5 and watches the
// others'. A watchdog fences this instance lease/2 after the last renewal
// that succeeded was sent, whatever the calls below are waiting for: that
// is before any other instance can see its lease as stale (unchanged for a
// whole lease). A lease that stays unchanged for a whole lease is claimed
// by compare-and-set; only the claimer announces that instance's users.
// The leases it reads also say how many instances share the room's
// publish budget (shareRoom).
// So an instance's users leave everywhere at most 1.4 leases after it
// died (plus the claim itself): 11.2 s with the default 8 s.
func (r *natsRoom) heartbeat() {
	defer r.beating.Done()
	tick := time.NewTicker(r.lease / 5)
	defer tick.Stop()
	watchdog := time.AfterFunc(r.lease/2, func() { r.fence("cannot renew the lease in time") })
	defer watchdog.Stop()
	rev := uint64(0)
	if e, err := r.getLease(r.id); err == nil {
		rev = e.Revision()
	}
	type seen struct {
		rev   uint64
		since time.Time
	}
	others := map[string]seen{}
	for {
		select {
		case <-r.stopBeat:
			return
		case <-r.fenced:
			return
		case <-tick.C:
		}
		sent := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), r.lease/5)
		n, err := r.leases.Update(ctx, r.id, []byte("alive"), rev)
		cancel()
		switch {
		case err == nil:
			rev = n
			watchdog.Reset(r.lease/2 - time.Since(sent))
		case errors.Is(err, jetstream.ErrKeyExists):
			r.fence("another instance claimed this one's lease")
			return
		}
		now := time.Now()
		leases, err := r.leaseRevisions()
		if err != nil {
			continue
		}
		r.shareRoom(len(leases))
		for id := range others {
			if _, ok := leases[id]; !ok {
				delete(others, id)
			}
		}
		for id, lr := range leases {
			if id == r.id {
				continue
			}
			if o, ok := others[id]; !ok || o.rev != lr {
				others[id] = seen{lr, now}
			} else if now.Sub(o.since) > r.lease {
				delete(others, id)
				r.beating.Add(1)
				go func() { // a long claim must not delay this instance's own renewal
					defer r.beating.Done()
					r.claim(id, lr)
				}()
			}
		}
	}
}

func (r *natsRoom) getLease(id string) (jetstream.KeyValueEntry, error) {
	ctx, cancel := r.ctx()
	defer cancel()
	return r.leases.Get(ctx, id)
}

func (r *natsRoom) leaseRevisions() (map[string]uint64, error) {
	ctx, cancel := r.ctx()
	defer cancel()
	w, err := r.leases.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, err
	}
	defer func() { _ = w.Stop() }()
	revs := map[string]uint64{}
	for e := range w.Updates() {
		if e == nil {
			return revs, nil
		}
		revs[e.Key()] = e.Revision()
	}
	return nil, ctx.Err()
}

// claim takes a dead instance's lease, then says 下线 for each of its users
// (with the message id that instance would have used, so a 下线 it did
// send is not repeated) and frees their names. A claimer that dies half
// way leaves the lease unchanged, so another survivor claims it in turn.
func (r *natsRoom) claim(dead string, rev uint64) {
	ctx, cancel := r.ctx()
	_, err := r.leases.Update(ctx, dead, []byte("claimed by "+r.id), rev)
	cancel()
	if err != nil {
		return // another survivor was first, or it came back
	}
	r.log.Info("an instance died; its users leave", "instance", dead)
	all, err := r.members()
	if err != nil {
		return
	}
	for _, e := range all {
		if e.Inst != dead {
			continue
		}
		// Once per user: its other entries publish the same id again.
		line := []byte("[" + e.Addr + "]" + e.Name + ": 下线\n")
		if err := r.publish(line, "off."+e.Sess); err != nil {
			return
		}
		r.free(map[string]uint64{e.key: e.rev})
	}
	ctx, cancel = r.ctx()
	_ = r.leases.Delete(ctx, dead)
	cancel()
}

func (r *natsRoom) isFenced() bool {
	select {
	case <-r.fenced:
		return true
	default:
		return false
	}
}

// fence is the end of this instance in the chat: it can no longer prove it
// is alive, so before another instance frees its users' names it tells
// them and lets run shut the server down.
func (r *natsRoom) fence(why string) {
	r.fenceOnce.Do(func() {
		r.log.Error("leaving the chat: fenced", "why", why)
		r.s.mu.Lock()
		for u := range r.users {
			u.SendMsg(replyUnavailable)
		}
		r.s.mu.Unlock()
		close(r.fenced)
	})
}

// Close leaves the chat: the users have left already (Shutdown), so this
// gives up the lease and lets the connection go.
func (r *natsRoom) Close() {
	close(r.stopBeat)
	r.beating.Wait()
	r.room.Stop()
	<-r.room.Closed()
	_ = r.tells.Unsubscribe()
	select {
	case <-r.fenced:
	default:
		ctx, cancel := r.ctx()
		_ = r.leases.Delete(ctx, r.id)
		cancel()
	}
	_ = r.nc.Drain()
	for !r.nc.IsClosed() {
		time.Sleep(5 * time.Millisecond)
	}
}

// clusterFlags are the command line's -nats flags.
type clusterFlags struct {
	listen, urls, dir string
	lease             time.Duration
}

// startCluster joins s to the chat the flags name, if any. fenced is
// closed when the instance has to leave (nil: never); leave, after the
// server's Shutdown, leaves the chat and stops the embedded NATS server.
func startCluster(s *Server, f clusterFlags) (fenced <-chan struct{}, leave func(), err error) {
	switch {
	case f.listen == "" && f.urls == "":
		return nil, func() {}, nil // one machine: no NATS at all
	case f.listen != "" && f.urls != "":
		return nil, nil, errors.New("-nats-listen and -nats do not go together: the other instances join this one with -nats")
	case f.lease < 100*time.Millisecond:
		return nil, nil, errors.New("-nats-lease must be at least 100ms")
	}
	var embedded *embeddedNATS
	if f.listen != "" {
		if embedded, err = startNATS(f.listen, f.dir); err != nil {
			return nil, nil, fmt.Errorf("cannot run NATS on %s: %w", f.listen, err)
		}
		f.urls = embedded.URL()
	}
	r, err := joinNATS(s, NATSConfig{URLs: f.urls, Lease: f.lease})
	if err != nil {
		if embedded != nil {
			embedded.Shutdown()
		}
		return nil, nil, err
	}
	s.cluster = r
	s.log.Info("joined the chat on NATS", "instance", r.id, "nats", f.urls)
	return r.fenced, func() {
		r.Close()
		if embedded != nil {
			embedded.Shutdown()
		}
	}, nil
}

// embeddedNATS runs a NATS server with JetStream in this process, keeping
// its data in dir (a fresh temporary directory when dir is "").
type embeddedNATS struct {
	ns   *server.Server
	temp string // removed on Shutdown
}

func startNATS(hostPort, dir string) (*embeddedNATS, error) {
	e := &embeddedNATS{}
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "final-nats-"); err != nil {
			return nil, err
		}
		e.temp = dir
	}
	host, port, err := splitHostPort(hostPort)
	if err != nil {
		return nil, err
	}
	ns, err := server.NewServer(&server.Options{
		Host: host, Port: port, JetStream: true, StoreDir: dir,
		NoSigs: true, NoLog: true, ServerName: "final-" + hostPort,
	})
	if err != nil {
		return nil, err
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded NATS server on %s did not start", hostPort)
	}
	e.ns = ns
	return e, nil
}

func splitHostPort(hostPort string) (string, int, error) {
	host, p, err := net.SplitHostPort(hostPort)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("bad port in %q", hostPort)
	}
	return host, port, nil
}

// URL is where clients connect.
func (e *embeddedNATS) URL() string { return e.ns.ClientURL() }

// Shutdown stops the server and waits for it.
func (e *embeddedNATS) Shutdown() {
	e.ns.Shutdown()
	e.ns.WaitForShutdown()
	if e.temp != "" {
		_ = os.RemoveAll(e.temp)
	}
}
