package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"time"

	"im-workbook/chattest/proc"
	"im-workbook/tools/internal/load"
)

// outcome is one server's part of a scenario.
type outcome struct {
	fan, fanBurst      *load.Result
	cluster            [2]*load.Result // final only: the fan-out over two instances, lockstep and burst
	plain, withStalled *load.Result
	idle               *load.IdleResult
	leave              *load.LeaveResult
	// notes say, as it happened, which scenario the server ended by itself
	// in (and how), and what kept a scenario from running.
	notes []string
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
	tmp     string              // the run's temporary directory (NATS data of the clusters)
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
	p := rep.params
	rep.out = map[string]*outcome{}
	for _, k := range rep.kinds {
		o := &outcome{}
		rep.out[k.name] = o
		// final's cluster runs right after its one-instance run of the
		// same scenario, so that the two compare on the same machine load.
		fan := p.fan
		o.fan = rep.fanout(ctx, k, "1 lockstep", fan)
		o.cluster[0] = rep.cluster(ctx, k, "5 lockstep", fan)
		fan.Mode = load.Burst
		o.fanBurst = rep.fanout(ctx, k, "1 burst", fan)
		o.cluster[1] = rep.cluster(ctx, k, "5 burst", fan)
		st := p.stalled
		if k.name == "ncat" {
			st.Timeout = ncatStalled
		}
		o.plain = rep.fanout(ctx, k, "2 without", st, stalledFlags)
		st.Stalled = 1
		o.withStalled = rep.fanout(ctx, k, "2 stalled", st, stalledFlags)
		o.idle = rep.idle(ctx, k)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	// Leaving is mostly waiting (12 s for chapter 08's kick timers): the
	// servers run it side by side, each into its own outcome.
	logf("scenario 4 (leaving), all servers at once: %v", p.leaveAfter+p.leaveWindow)
	var wg sync.WaitGroup
	for _, k := range rep.kinds {
		wg.Go(func() { rep.out[k.name].leave = rep.leave(ctx, k) })
	}
	wg.Wait()
	return ctx.Err()
}

// on runs scenario sc against fresh servers of kind k, one per instance
// (each instance is final's extra flags; none: one server as it comes),
// each started for maxUsers users, and notes what kept the scenario from
// running and whether a server ended by itself.
func (rep *report) on(k kind, sc string, maxUsers int, measure func(ss []*proc.Server) error, instances ...[]string) {
	o := rep.out[k.name]
	if len(instances) == 0 {
		instances = [][]string{nil}
	}
	var ss []*proc.Server
	var err error
	for _, extra := range instances {
		var s *proc.Server
		// A crash note needs only the goroutine that crashed.
		if s, err = proc.Serve(func(addr string) *exec.Cmd {
			cmd := k.command(addr, maxUsers, extra)
			cmd.Env = append(cmd.Environ(), "GOTRACEBACK=single")
			return cmd
		}, k.ready, 10*time.Second); err != nil {
			break
		}
		defer s.Kill() // the measurement is over: no need to wait for a clean exit
		ss = append(ss, s)
	}
	if err == nil {
		err = measure(ss)
		for _, s := range ss {
			if how := crashed(s); how != "" {
				o.notes = append(o.notes, fmt.Sprintf("%s ended by itself during scenario %s: `%s`", k.name, sc, how))
			}
		}
	}
	if err != nil {
		o.notes = append(o.notes, fmt.Sprintf("%s, scenario %s did not run: %s", k.name, sc, err))
	}
}

// fanout runs one fan-out scenario against the instances (see on), its
// connections spread over them.
func (rep *report) fanout(ctx context.Context, k kind, name string, cfg load.Config, instances ...[]string) (res *load.Result) {
	rep.on(k, name, cfg.Readers+cfg.Senders+cfg.Stalled+10, func(ss []*proc.Server) (err error) {
		cfg.Addr, cfg.Dialect = ss[0].Addr, k.dialect
		for _, s := range ss {
			cfg.Also, cfg.Pids = append(cfg.Also, s.Addr), append(cfg.Pids, s.Pid())
		}
		cfg.Also = cfg.Also[1:] // the instances after the first
		if k.name == "ch08" {
			cfg.KeepAlive = keepAlive
		}
		if res, err = load.Run(ctx, cfg); err == nil {
			logf("%-5s scenario %-10s %8.0f deliveries/s, complete %v, stalled %v, timed out %v",
				k.name, name, res.Rate, res.Complete(), res.Stalled, res.TimedOut)
		}
		return err
	}, instances...)
	return res
}

// cluster runs a fan-out scenario against two instances of final joined
// through NATS, started as a learner would: the first runs the embedded
// NATS server (-nats-listen, its data in the run's temporary directory),
// the second joins it (-nats).
func (rep *report) cluster(ctx context.Context, k kind, name string, cfg load.Config) *load.Result {
	if k.name != "final" {
		return nil
	}
	nats, err := proc.FreeAddr()
	dir, err2 := os.MkdirTemp(rep.tmp, "nats-")
	if err = errors.Join(err, err2); err != nil {
		rep.out[k.name].notes = append(rep.out[k.name].notes, fmt.Sprintf("%s, scenario %s did not run: %s", k.name, name, err))
		return nil
	}
	return rep.fanout(ctx, k, name, cfg, []string{"-nats-listen", nats, "-nats-dir", dir}, []string{"-nats", "nats://" + nats})
}

// idle runs the idle-memory scenario.
func (rep *report) idle(ctx context.Context, k kind) (res *load.IdleResult) {
	users := rep.params.idleUsers
	rep.on(k, "3", users+10, func(ss []*proc.Server) (err error) {
		cfg := load.IdleConfig{Addr: ss[0].Addr, Dialect: k.dialect, Users: users, Pid: ss[0].Pid(), Timeout: idleTimeout}
		if k.name == "ch08" {
			cfg.Timeout = ch08Idle
		}
		if res, err = load.Idle(ctx, cfg); err == nil {
			logf("%-5s scenario 3 (idle)  %d users, %.2f KiB RSS per user, settled %v",
				k.name, res.Clients, res.PerUser()/1024, res.Settled)
		}
		return err
	})
	return res
}

// leave runs the leaving scenario.
func (rep *report) leave(ctx context.Context, k kind) (res *load.LeaveResult) {
	p := rep.params
	rep.on(k, "4", p.leaveUsers+10, func(ss []*proc.Server) (err error) {
		s := ss[0]
		res, err = load.Leave(ctx, load.LeaveConfig{
			Addr: s.Addr, Dialect: k.dialect, Users: p.leaveUsers, Pid: s.Pid(),
			After: p.leaveAfter, Window: p.leaveWindow, Timeout: runTimeout,
		})
		if err == nil {
			res.Gone = res.Gone || !s.Running()
			logf("%-5s scenario 4 (leave) CPU %v over %v, crashed %v", k.name, res.CPU, p.leaveWindow, res.Gone)
		}
		return err
	})
	return res
}
