package main

// Starting a chat on NATS (issue 15): the -nats flags, the embedded NATS
// server of -nats-listen, and the natsChat that rejoins as a new instance
// after a fence. See cluster_nats.go for the chat itself.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// clusterFlags are the command line's -nats flags.
type clusterFlags struct {
	listen, urls, dir string
	lease             time.Duration
}

// startCluster joins s to the chat the flags name, if any; leave, after
// the server's Shutdown, leaves the chat and stops the embedded NATS
// server.
func startCluster(s *Server, f clusterFlags) (leave func(), err error) {
	switch {
	case f.dir != "" && f.listen == "":
		return nil, errors.New("-nats-dir goes with -nats-listen: it is where the embedded NATS server keeps its data")
	case f.listen == "" && f.urls == "":
		return func() {}, nil // one machine: no NATS at all
	case f.listen != "" && f.urls != "":
		return nil, errors.New("-nats-listen and -nats do not go together: the other instances join this one with -nats")
	case f.lease < 100*time.Millisecond:
		return nil, errors.New("-nats-lease must be at least 100ms")
	}
	var embedded *embeddedNATS
	if f.listen != "" {
		if embedded, err = startNATS(f.listen, f.dir); err != nil {
			return nil, fmt.Errorf("cannot run NATS on %s: %w", f.listen, err)
		}
		f.urls = embedded.URL()
	}
	cfg := NATSConfig{URLs: f.urls, Lease: f.lease}
	r, err := joinNATS(context.Background(), s, cfg)
	if err != nil {
		if embedded != nil {
			embedded.Shutdown()
		}
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	c := &natsChat{s: s, cfg: cfg, done: make(chan struct{})}
	c.room.Store(r)
	s.cluster = c
	s.log.Info("joined the chat on NATS", "instance", r.id, "nats", redacted(f.urls))
	go c.rejoin(ctx)
	return func() {
		stop()
		<-c.done
		c.room.Load().Close()
		if embedded != nil {
			embedded.Shutdown()
		}
	}, nil
}

// natsChat is an instance's place in the chat across fences: the cluster
// seam of a Server on NATS. It serves through one natsRoom at a time.
// When that room is fenced its users are disconnected; once the last has
// left, rejoin closes it and joins the chat again as a new instance, with
// a new id and lease (a survivor claims the old one and says its users
// 下线). Until then the fenced room turns every newcomer away. A user's
// every call goes to the room it joined: the room changes only once all
// of them have left.
type natsChat struct {
	s    *Server
	cfg  NATSConfig
	room atomic.Pointer[natsRoom]
	done chan struct{} // closed when rejoin has returned
}

func (c *natsChat) join(u *User) error          { return c.room.Load().join(u) }
func (c *natsChat) leftLocked(u *User) []byte   { return c.room.Load().leftLocked(u) }
func (c *natsChat) leave(u *User, line []byte)  { c.room.Load().leave(u, line) }
func (c *natsChat) say(line []byte)             { c.room.Load().say(line) }
func (c *natsChat) rename(u *User, name string) { c.room.Load().rename(u, name) }
func (c *natsChat) who(u *User)                 { c.s.sendWhoList(u, c.room.Load().who()) }

// tell leaves lim nil: natsRoom.tell pays the recipient's inbox on its
// instance, in two steps.
func (c *natsChat) tell(u *User, name, line string) delivery {
	return delivery{len(line), nil, func() { c.room.Load().tell(u, name, line) }}
}

// Rejoin backoff: the first attempt right after the fence, then from
// minRejoinDelay, doubling, to a quarter of the lease (2 s by default).
const minRejoinDelay = 100 * time.Millisecond

// rejoin waits for the room to be fenced, lets it go once its users have
// left, and joins the chat again, retrying with backoff until NATS is back
// or ctx (the server's leave) ends.
func (c *natsChat) rejoin(ctx context.Context) {
	defer close(c.done)
	for {
		old := c.room.Load()
		select {
		case <-ctx.Done():
			return
		case <-old.fenced:
		}
		old.nc.Close() // its users' leaving fails fast: nothing it would still send is wanted
		select {
		case <-ctx.Done():
			return
		case <-old.empty:
		}
		old.Close()
		r := c.joinAgain(ctx)
		if r == nil {
			return
		}
		c.room.Store(r)
		c.s.log.Info("rejoined the chat on NATS as a new instance", "instance", r.id, "was", old.id)
	}
}

// joinAgain joins the chat as a new instance, retrying with backoff; nil
// once ctx ends.
func (c *natsChat) joinAgain(ctx context.Context) *natsRoom {
	delay := time.Duration(0)
	for {
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		r, err := joinNATS(ctx, c.s, c.cfg)
		if err == nil {
			return r
		}
		level := slog.LevelDebug // said once at the default level: NATS may stay away for long
		if delay == 0 {
			level = slog.LevelWarn
		}
		delay = min(max(2*delay, minRejoinDelay), c.cfg.Lease/4)
		c.s.log.Log(ctx, level, "cannot rejoin the chat yet; retrying", "err", err, "every", delay, "up to", c.cfg.Lease/4)
	}
}

// embeddedNATS runs a NATS server with JetStream in this process, keeping
// its data in dir (a fresh temporary directory when dir is "").
type embeddedNATS struct {
	ns   *server.Server
	temp string // removed on Shutdown
}

func startNATS(hostPort, dir string) (_ *embeddedNATS, err error) {
	host, port, err := splitHostPort(hostPort)
	if err != nil {
		return nil, err
	}
	e := &embeddedNATS{}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "final-nats-"); err != nil {
			return nil, err
		}
		e.temp = dir
		defer func() {
			if err != nil {
				_ = os.RemoveAll(dir)
			}
		}()
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

// redacted is urls (nats://user:password@host:port[,…]) fit for a log:
// each password replaced by "xxxxx".
func redacted(urls string) string {
	list := strings.Split(urls, ",")
	for i, s := range list {
		if u, err := url.Parse(strings.TrimSpace(s)); err == nil {
			list[i] = u.Redacted()
		}
	}
	return strings.Join(list, ",")
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
