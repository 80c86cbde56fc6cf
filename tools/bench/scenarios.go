package main

import (
	"context"
	"strings"
	"sync"
	"time"

	"im-workbook/tools/internal/load"
)

// outcome is one server's part of a scenario.
type outcome struct {
	fan, fanBurst      *load.Result
	plain, withStalled *load.Result
	idle               *load.IdleResult
	leave              *load.LeaveResult
	// crash notes, per scenario: what happened when the server ended by
	// itself (scenario name → first panic line or exit status).
	crashes map[string]string
	errs    map[string]string // scenario → error that kept it from running
}

// report is everything one benchmark run measured.
type report struct {
	params  params
	quick   bool
	kinds   []kind
	when    time.Time
	took    time.Duration
	machine string
	version string              // of the servers' source
	out     map[string]*outcome // by kind name
}

// Timeouts bound every run; chapter 08's readers send a keep-alive (who)
// every keepAlive so that its 10-second idle kick does not end a long run.
const (
	runTimeout  = 20 * time.Second
	ncatStalled = 12 * time.Second // ncat relays 1 kB lines slowly: cap the run
	keepAlive   = 4 * time.Second
	ch08Idle    = 8 * time.Second // idle run, from the first dial: before the 10 s kick
	idleTimeout = 60 * time.Second
)

// stalledFlags are final's flags in scenario 2 (with and without the
// stalled client): final's default queue was 8 MiB before issue 10 and
// would have held all 6.6 MB sent towards the stalled client; with 1 MiB
// (now the default too) the queue overflows mid-run, so the scenario also
// measures what dropping a slow consumer costs everyone else.
var stalledFlags = []string{"-queue-bytes", "1048576"}

func (rep *report) runAll(ctx context.Context) error {
	rep.out = map[string]*outcome{}
	for _, k := range rep.kinds {
		rep.out[k.name] = &outcome{crashes: map[string]string{}, errs: map[string]string{}}
	}
	p := rep.params
	for _, k := range rep.kinds {
		o := rep.out[k.name]
		fan := p.fan.config()
		o.fan = rep.fanout(ctx, k, "1 lockstep", fan, load.Lockstep, runTimeout)
		o.fanBurst = rep.fanout(ctx, k, "1 burst", fan, load.Burst, runTimeout)
		st := p.stalled.config()
		timeout := runTimeout
		if k.name == "ncat" {
			timeout = ncatStalled
		}
		o.plain = rep.fanout(ctx, k, "2 without", st, load.Lockstep, timeout)
		st.Stalled = 1
		o.withStalled = rep.fanout(ctx, k, "2 stalled", st, load.Lockstep, timeout)
		o.idle = rep.idle(ctx, k)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	// Leaving is mostly waiting (12 s for chapter 08's kick timers): the
	// servers run it side by side.
	logf("scenario 4 (leaving), all servers at once: %v", p.leaveAfter+p.leaveWindow)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, k := range rep.kinds {
		wg.Go(func() {
			res, crash, err := rep.leave(ctx, k)
			mu.Lock()
			defer mu.Unlock()
			o := rep.out[k.name]
			o.leave = res
			if crash != "" {
				o.crashes["4"] = crash
			}
			if err != nil {
				o.errs["4"] = err.Error()
			}
		})
	}
	wg.Wait()
	return ctx.Err()
}

// fanout runs one fan-out scenario against a fresh server of kind k.
func (rep *report) fanout(ctx context.Context, k kind, name string, cfg load.Config, mode load.Mode, timeout time.Duration) *load.Result {
	o := rep.out[k.name]
	var extra []string
	if strings.HasPrefix(name, "2 ") {
		extra = stalledFlags
	}
	s, err := start(k, cfg.Readers+cfg.Senders+cfg.Stalled+10, extra...)
	if err != nil {
		o.errs[name] = err.Error()
		return nil
	}
	defer s.stop()
	d, _ := load.DialectNamed(k.dialect)
	cfg.Addr, cfg.Dialect, cfg.Mode, cfg.Pid, cfg.Timeout = s.Addr, d, mode, s.Pid(), timeout
	if k.name == "ch08" {
		cfg.KeepAlive = keepAlive
	}
	res, err := load.Run(ctx, cfg)
	if crashed, how := s.crashed(); crashed {
		o.crashes[name] = how
	}
	if err != nil {
		o.errs[name] = err.Error()
		return nil
	}
	logf("%-5s scenario %-10s %8.0f deliveries/s, complete %v, stalled %v, timed out %v",
		k.name, name, res.Rate, res.Complete(), res.Stalled, res.TimedOut)
	return res
}

// idle runs the idle-memory scenario against a fresh server of kind k.
func (rep *report) idle(ctx context.Context, k kind) *load.IdleResult {
	o := rep.out[k.name]
	users := rep.params.idleUsers
	s, err := start(k, users+10)
	if err != nil {
		o.errs["3"] = err.Error()
		return nil
	}
	defer s.stop()
	d, _ := load.DialectNamed(k.dialect)
	cfg := load.IdleConfig{Addr: s.Addr, Dialect: d, Users: users, Pid: s.Pid(), Timeout: idleTimeout}
	switch k.name {
	case "ch08":
		cfg.Timeout = ch08Idle
	case "ncat":
		// ncat --chat listens with a backlog of 10: dialled faster than it
		// welcomes users, it drops connections (the kernel counts
		// ListenOverflows) and clients wait a second per retry.
		cfg.Paced = true
	}
	res, err := load.Idle(ctx, cfg)
	if crashed, how := s.crashed(); crashed {
		o.crashes["3"] = how
	}
	if err != nil {
		o.errs["3"] = err.Error()
		return nil
	}
	logf("%-5s scenario 3 (idle)  %d users, %.2f KiB RSS per user, settled %v",
		k.name, res.Clients, res.PerUser()/1024, res.Settled)
	return res
}

// leave runs the leaving scenario against a fresh server of kind k.
func (rep *report) leave(ctx context.Context, k kind) (*load.LeaveResult, string, error) {
	p := rep.params
	s, err := start(k, p.leaveUsers+10)
	if err != nil {
		return nil, "", err
	}
	defer s.stop()
	d, _ := load.DialectNamed(k.dialect)
	res, err := load.Leave(ctx, load.LeaveConfig{
		Addr: s.Addr, Dialect: d, Users: p.leaveUsers, Pid: s.Pid(),
		After: p.leaveAfter, Window: p.leaveWindow, Timeout: runTimeout,
	})
	crashed, how := s.crashed()
	if !crashed {
		how = ""
	}
	if err != nil {
		return nil, how, err
	}
	if crashed {
		res.Gone = true
	}
	logf("%-5s scenario 4 (leave) CPU %v over %v, crashed %v %s", k.name, res.CPU, p.leaveWindow, crashed, how)
	return res, how, nil
}
