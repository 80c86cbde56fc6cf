// Command loadgen drives a chat server that speaks the workbook's line
// protocol (the chapters, final) or ncat --chat's, over loopback, and
// reports what it measured. See tools/README.md.
//
//	go run ./tools/loadgen -addr 127.0.0.1:8888 -dialect tutorial -readers 200 -senders 8 -lines 200
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"time"

	"im-workbook/tools/internal/load"
)

func main() {
	var (
		addr     = flag.String("addr", "127.0.0.1:8888", "server address (loopback)")
		dialect  = flag.String("dialect", "tutorial", "what the server speaks: tutorial, final or ncat")
		scenario = flag.String("scenario", "fanout", "fanout, idle (users connect and never speak) or leave (users say a line and quit)")
		readers  = flag.Int("readers", 200, "fanout: reading clients (the first is the observer)")
		senders  = flag.Int("senders", 8, "fanout: sending clients")
		lines    = flag.Int("lines", 200, "fanout: lines per sender")
		size     = flag.Int("size", 64, "bytes per line, without the newline")
		mode     = flag.String("mode", "lockstep", "fanout: lockstep (next line once the observer saw the last) or burst")
		stalledN = flag.Int("stalled", 0, "fanout: clients that connect (with a 4 KB receive buffer) and never read")
		users    = flag.Int("users", 5000, "idle, leave: clients")
		pid      = flag.Int("pid", 0, "server process id, for its RSS and CPU time (required by idle and leave)")
		stall    = flag.Duration("stall-after", 2*time.Second, "fanout: stop as stalled when no line arrives for this long")
		timeout  = flag.Duration("timeout", 8*time.Second, "bound on a run from the first dial (chapter 08 kicks a silent user after 10s)")
		after    = flag.Duration("after", 12*time.Second, "leave: wait this long after everyone quit")
		window   = flag.Duration("window", 2*time.Second, "leave: then measure the server's CPU time over this long")
		keep     = flag.Duration("keepalive", 0, "fanout: every reader sends the dialect's keep-alive line (who) this often; 0: never")
		hold     = flag.Duration("hold", 0, "idle: keep the users connected this long after the measurement (to profile the server)")
	)
	flag.Parse()
	d, ok := load.Dialects[*dialect]
	if !ok {
		fail(fmt.Errorf("unknown dialect %q (want tutorial, final or ncat)", *dialect))
	}
	if err := loopback(*addr); err != nil {
		fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	switch *scenario {
	case "fanout":
		res, err := load.Run(ctx, load.Config{
			Addr: *addr, Dialect: d, Readers: *readers, Senders: *senders, Lines: *lines, Size: *size,
			Mode: load.Mode(*mode), Stalled: *stalledN, Pids: []int{*pid}, StallAfter: *stall, Timeout: *timeout, KeepAlive: *keep,
		})
		if err != nil {
			fail(err)
		}
		printRun(res, *pid != 0)
	case "idle":
		_, err := load.Idle(ctx, load.IdleConfig{
			Addr: *addr, Dialect: d, Users: *users, Pid: *pid, Timeout: *timeout, Hold: *hold, Measured: printIdle,
		})
		if err != nil {
			fail(err)
		}
	case "leave":
		res, err := load.Leave(ctx, load.LeaveConfig{Addr: *addr, Dialect: d, Users: *users, Pid: *pid, After: *after, Window: *window, Timeout: *timeout})
		if err != nil {
			fail(err)
		}
		printLeave(res, *after, *window)
	default:
		fail(fmt.Errorf("unknown scenario %q (want fanout, idle or leave)", *scenario))
	}
}

// loopback refuses any address but the local machine's: a load test is
// never pointed at somebody else's server.
func loopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-addr %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-addr %q: only loopback addresses (127.0.0.1, ::1, localhost)", addr)
	}
	return nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "loadgen:", err)
	os.Exit(2)
}

func printRun(r *load.Result, server bool) {
	fmt.Printf("clients          %d connected, %d refused %s\n", r.Clients, r.Refused, r.RefusedErr)
	fmt.Printf("connect time     %v (all joined: %v, server stopped welcoming users: %v)\n", r.ConnectTime.Round(time.Millisecond), r.Joined, r.Unwelcomed)
	fmt.Printf("deliveries       %d of %d intact and attributed (%.1f%%); %d damaged, %d duplicated, %d intact but without the sender's prefix\n",
		r.Delivered, r.Expected, 100*float64(r.Delivered)/float64(max(r.Expected, 1)), r.Corrupt, r.Duplicates, r.Unattributed)
	fmt.Printf("complete         %v (%d readers got every line)\n", r.Complete(), r.CompleteReaders)
	fmt.Printf("rate             %.0f deliveries/s over %v\n", r.Rate, r.Duration.Round(time.Millisecond))
	fmt.Printf("observer latency p50 %v, p99 %v (%d lines)\n", r.P50, r.P99, r.Latencies)
	fmt.Printf("stopped          stalled=%v timed-out=%v\n", r.Stalled, r.TimedOut)
	if r.SendErr != "" {
		fmt.Printf("sender error     %s\n", r.SendErr)
	}
	fmt.Printf("dropped          %d readers disconnected, %d stalled clients disconnected\n", r.Disconnected, r.StalledDropped)
	if server {
		fmt.Printf("server           RSS %.1f MiB, CPU %v during the run\n", float64(r.RSS)/(1<<20), r.CPU)
	}
}

func printIdle(r *load.IdleResult) {
	fmt.Printf("users            %d connected, %d refused %s\n", r.Clients, r.Refused, r.RefusedErr)
	fmt.Printf("connect time     %v (joins seen: %d, server settled: %v)\n", r.ConnectTime.Round(time.Millisecond), r.JoinsSeen, r.Settled)
	fmt.Printf("server RSS       %.1f MiB before, %.1f MiB after: %.2f KiB per user\n",
		float64(r.RSSBefore)/(1<<20), float64(r.RSSAfter)/(1<<20), r.PerUser()/1024)
	fmt.Printf("dropped          %d users disconnected by the server\n", r.Disconnected)
	if r.Gone {
		fmt.Printf("server           gone (it exited) before the measurement\n")
	}
}

func printLeave(r *load.LeaveResult, after, window time.Duration) {
	fmt.Printf("users            %d connected, %d refused %s; every line seen: %v\n", r.Clients, r.Refused, r.RefusedErr, r.Spoke)
	if r.Gone {
		fmt.Printf("server           gone (it exited) before the measurement ended\n")
		return
	}
	fmt.Printf("server CPU       %v over %v, %v after everyone quit\n", r.CPU, window, after)
}
