package load

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"
)

// IdleConfig describes an idle-memory run: Users clients connect and never
// speak (they read what they are sent).
type IdleConfig struct {
	Addr    string
	Dialect *Dialect
	Users   int
	Pid     int // the server's process, required
	// Timeout bounds the run from the first dial: RSS is taken then at the
	// latest, settled or not.
	Timeout time.Duration
	// Hold keeps the users connected this long after the measurement (to
	// profile the server meanwhile).
	Hold time.Duration
	// Measured, if set, is called with the result before the hold (also
	// when the server is gone).
	Measured func(*IdleResult)
}

// IdleResult is what an idle run measured.
type IdleResult struct {
	Connected          // Clients: the users connected
	JoinsSeen    int   // users the observer saw come online, itself included
	Settled      bool  // the server's CPU went quiet before RSS was taken
	RSSBefore    int64 // bytes, before the first dial
	RSSAfter     int64
	Disconnected int  // users the server closed before the measurement
	Gone         bool // the server process had ended by the measurement
}

// PerUser is the RSS growth per connected user, in bytes.
func (r *IdleResult) PerUser() float64 {
	if r.Clients == 0 || r.Gone {
		return 0
	}
	return float64(r.RSSAfter-r.RSSBefore) / float64(r.Clients)
}

// Idle performs an idle-memory run.
func Idle(ctx context.Context, cfg IdleConfig) (*IdleResult, error) {
	if cfg.Pid == 0 || cfg.Dialect == nil || cfg.Users < 1 {
		return nil, errors.New("idle run needs a server pid, a dialect and users")
	}
	c := Config{Addr: cfg.Addr, Dialect: cfg.Dialect, Readers: 1, Timeout: cfg.Timeout}
	c.defaults()
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	proc := Proc{cfg.Pid}
	res := &IdleResult{}
	var err error
	if res.RSSBefore, err = proc.RSS(); err != nil {
		return nil, fmt.Errorf("server process: %w", err)
	}
	r := newRun(c, cfg.Dialect.SlowAccept)
	conns := r.connect(ctx, users(cfg.Users), &res.Connected)
	defer r.closeAll(conns)
	res.JoinsSeen = int(r.joins[observer].Load())
	res.Settled = settle(ctx, proc)
	res.RSSAfter, err = proc.RSS()
	res.Disconnected = int(r.disconnected.Load())
	// Gone: ncat --chat aborts at its 1024th descriptor, chapter 08 may
	// crash when it kicks users.
	res.Gone = err != nil
	if cfg.Measured != nil {
		cfg.Measured(res)
	}
	if !res.Gone {
		sleep(ctx, cfg.Hold)
	}
	return res, nil
}

// settle waits until the process uses (almost) no CPU over a quarter of a
// second, twice running, or ctx ends.
func settle(ctx context.Context, p Proc) bool {
	prev, err := p.CPU()
	quiet := 0
	for err == nil && quiet < 2 {
		if !sleep(ctx, 250*time.Millisecond) {
			return false
		}
		var cur time.Duration
		cur, err = p.CPU()
		if cur-prev > 10*time.Millisecond {
			quiet = 0
		} else {
			quiet++
		}
		prev = cur
	}
	return err == nil
}

// LeaveConfig describes a leaving run: Users clients connect, each says
// one line, all quit; After later the server's CPU time is measured over
// Window.
type LeaveConfig struct {
	Addr    string
	Dialect *Dialect
	Users   int
	Pid     int // the server's process, required
	After   time.Duration
	Window  time.Duration
	Timeout time.Duration // bounds connecting and chatting, not the wait
}

// LeaveResult is what a leaving run measured.
type LeaveResult struct {
	Connected
	Spoke bool          // the observer saw every user's line before they quit
	CPU   time.Duration // server CPU time over the window
	Gone  bool          // the server process had ended by the end of the window
}

// Leave performs a leaving run.
func Leave(ctx context.Context, cfg LeaveConfig) (*LeaveResult, error) {
	if cfg.Pid == 0 || cfg.Dialect == nil || cfg.Users < 1 {
		return nil, errors.New("leaving run needs a server pid, a dialect and users")
	}
	c := Config{Addr: cfg.Addr, Dialect: cfg.Dialect, Readers: 1, Senders: cfg.Users, Lines: 1, Timeout: cfg.Timeout}
	c.defaults()
	cctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	r := newRun(c, true)
	res := &LeaveResult{}
	conns := r.connect(cctx, users(cfg.Users), &res.Connected)
	if res.Joined {
		for i, conn := range conns {
			if conn != nil {
				_, _ = conn.Write(append(Line(i, 0, c.Size), '\n'))
			}
		}
		want := int64(res.Clients)
		if !cfg.Dialect.Echo {
			want-- // the observer does not get its own line
		}
		res.Spoke = waitCount(cctx, &r.delivered, want)
	}
	r.closeAll(conns) // everyone quits
	proc := Proc{cfg.Pid}
	if !sleep(ctx, cfg.After) {
		return nil, ctx.Err()
	}
	cpu0, err0 := proc.CPU()
	if !sleep(ctx, cfg.Window) {
		return nil, ctx.Err()
	}
	cpu1, err1 := proc.CPU()
	res.Gone = err0 != nil || err1 != nil
	if !res.Gone {
		res.CPU = cpu1 - cpu0
	}
	return res, nil
}

// users are the roles of an idle or a leaving run: n users, the first
// the observer.
func users(n int) []role { return append([]role{observer}, slices.Repeat([]role{drainer}, n-1)...) }

// sleep waits for d, or until ctx ends (then it reports false).
func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// waitCount waits until n reaches want.
func waitCount(ctx context.Context, n *atomic.Int64, want int64) bool {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for n.Load() < want {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}
