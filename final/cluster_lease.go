package main

// Leases (issue 15): how the instances of a chat on NATS know which of
// them are alive, what a survivor does when one dies, and how an instance
// that cannot prove it is alive fences itself. See cluster_nats.go for the
// chat itself and cluster_start.go for joining and rejoining.

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// heartbeat renews this instance's lease every lease/5 and watches the
// others'. A watchdog fences this instance lease/2 after the last renewal
// that succeeded was sent, whatever the calls below are waiting for: that
// is before any other instance can see its lease as stale (unchanged for a
// whole lease). A lease that stays unchanged for a whole lease is claimed
// by compare-and-set; only the claimer announces that instance's users.
// The leases it reads also say how many instances share the room's
// publish budget (shareRoom). Once a lease it sweeps both buckets' delete
// markers (sweep).
// So an instance's users leave everywhere at most 1.4 leases after it
// died (plus the claim itself): 11.2 s with the default 8 s.
func (r *natsRoom) heartbeat() {
	defer r.beating.Done()
	tick := time.NewTicker(r.lease / 5)
	defer tick.Stop()
	watchdog := time.AfterFunc(r.lease/2, func() { r.fence("cannot renew the lease in time") })
	defer watchdog.Stop()
	rev := r.leaseRev
	type seen struct {
		rev   uint64
		since time.Time
	}
	others := map[string]seen{}
	for ticks := 1; ; ticks++ {
		select {
		case <-r.stopBeat:
			return
		case <-r.fenced:
			return
		case <-tick.C:
		}
		if ticks%5 == 0 && r.sweeping.CompareAndSwap(false, true) { // once a lease
			r.beating.Add(1)
			go func() {
				defer r.beating.Done()
				defer r.sweeping.Store(false)
				for _, kv := range []jetstream.KeyValue{r.names, r.leases} {
					if err := r.sweep(kv); err != nil {
						r.log.Debug("cannot sweep a bucket", "bucket", kv.Bucket(), "err", err)
					}
				}
			}()
		}
		sent := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), r.lease/5)
		n, err := r.leases.Update(ctx, r.id, []byte("alive"), rev)
		cancel()
		switch {
		case err == nil:
			rev = n
			r.renewed.Store(int64(sent.Sub(r.start)))
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

// sweep removes the delete markers of kv. A deleted key leaves one for
// good, and every connection has a name of its own (its address), every
// instance start an id of its own: without sweeping, the buckets would
// grow by a marker per connection and per instance ever. Each marker is
// purged with what came before it on its key, up to its own revision
// only, so a key created again meanwhile stays. (Such a create, between
// reading the marker and writing over it, may fail as if the key were
// taken: a default name gets "#2", a rename is refused; rare and harmless.)
func (r *natsRoom) sweep(kv jetstream.KeyValue) error {
	ctx, cancel := r.ctx()
	defer cancel()
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return err
	}
	var markers []jetstream.KeyValueEntry
	for e := range w.Updates() {
		if e == nil {
			break
		}
		if e.Operation() != jetstream.KeyValuePut {
			markers = append(markers, e)
		}
	}
	_ = w.Stop()
	if len(markers) == 0 {
		return ctx.Err()
	}
	stream, err := r.js.Stream(ctx, "KV_"+kv.Bucket())
	if err != nil {
		return err
	}
	for _, e := range markers {
		err := stream.Purge(ctx, jetstream.WithPurgeSubject("$KV."+kv.Bucket()+"."+e.Key()), jetstream.WithPurgeSequence(e.Revision()+1))
		if err != nil {
			return err
		}
	}
	return nil
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
// way leaves the lease "claimed by" it and unchanged from then on, so
// another survivor claims it in turn a lease later and says the rest.
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

// errFenced is what this instance can no longer do: speak for its users.
var errFenced = errors.New("fenced: this instance's lease may have been claimed")

// alive reports whether this instance's lease is surely still its own: it
// was renewed less than lease/2 ago, and so cannot have been claimed. The
// watchdog fences at that moment; but a process that was paused (SIGSTOP,
// a frozen VM) runs its timers and its users' waiting lines in any order
// when it resumes, and those lines must not reach the chat after a
// survivor has said their users 下线. So whatever speaks for a user asks
// first, and fences if the lease is past its time.
func (r *natsRoom) alive() bool {
	if r.isFenced() {
		return false
	}
	if time.Since(r.start)-time.Duration(r.renewed.Load()) < r.lease/2 {
		return true
	}
	r.fence("cannot renew the lease in time")
	return false
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
// them the chat is unavailable and disconnects them, and takes nobody new
// (join). natsChat.rejoin then joins the chat again as a new instance.
func (r *natsRoom) fence(why string) {
	r.fenceOnce.Do(func() {
		r.log.Error("leaving the chat: fenced", "why", why)
		r.s.mu.Lock()
		defer r.s.mu.Unlock()
		close(r.fenced)
		for u := range r.users {
			u.stop(leftFenced)
		}
		if len(r.users) == 0 {
			closeOnce(r.empty)
		}
	})
}

// Close leaves the chat: the users have left already (Shutdown, or fence),
// so this gives up the lease, unless fenced (a survivor claims it), and
// lets the connection go. A second Close does nothing.
func (r *natsRoom) Close() {
	r.closeOnce.Do(func() {
		r.leaving.Store(true)
		close(r.stopBeat)
		r.roomMu.Lock()
		r.closing = true
		r.room.Stop()
		<-r.room.Closed()
		r.roomMu.Unlock()
		r.beating.Wait()
		_ = r.tells.Unsubscribe()
		if r.isFenced() {
			r.nc.Close() // nothing it would still send is wanted
			return
		}
		ctx, cancel := r.ctx()
		_ = r.leases.Delete(ctx, r.id)
		cancel()
		_ = r.nc.Drain()
		<-r.closed // Drain returns at once; the connection closes when it is done
	})
}
