// Command final is the chat server of the tutorial (即时通信系统), with
// every bug the chapters leave in fixed. The protocol and the replies are
// the chapters' own, except that every reply ends with a newline. See
// README.md for the list of fixes and the test that proves each one.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole program: it serves until ctx ends (SIGINT or SIGTERM),
// then shuts down, and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// A log line to a console whose reader has gone must not kill the
	// server with SIGPIPE: ignored, the write just fails (issue 10).
	signal.Ignore(syscall.SIGPIPE)
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("final", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ip := fs.String("ip", "127.0.0.1", "address to listen on")
	port := fs.Int("port", 8888, "port to listen on")
	fs.DurationVar(&cfg.Idle, "idle", cfg.Idle, "kick a user silent for this long (0: never; the tutorial uses 10s)")
	fs.IntVar(&cfg.MaxLine, "max-line", cfg.MaxLine, "longest line in bytes; a longer one is refused")
	fs.IntVar(&cfg.MaxUsers, "max-users", cfg.MaxUsers, "most users online at once")
	// Rates and bursts count bytes as a reader receives them (after
	// sanitizing, with the "[addr]name: " prefix and the newline); see
	// budget.go and README.md for why these flags hold together.
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "bytes per second one user may cost, sustained, counted as delivered to a reader; blank lines, telnet commands and telnet echo cost their own bytes; one address's joins and leaves share one such budget, and what others send one user directly (private messages, who replies) another (0: no limit, only with -room-rate 0)")
	fs.IntVar(&cfg.Burst, "burst", cfg.Burst, "bytes one user may cost, or be sent directly, at once before -rate applies; must hold one longest line as delivered (3 × -max-line + 512)")
	fs.Float64Var(&cfg.RoomRate, "room-rate", cfg.RoomRate, "bytes per second broadcasts and presence lines may put in every user's queue; a user who reads -room-rate + -rate is never dropped (0: no limit, and no such promise)")
	fs.IntVar(&cfg.RoomBurst, "room-burst", cfg.RoomBurst, "bytes broadcasts and presence lines may put in a queue at once before -room-rate applies; -room-burst + -burst at most -queue-bytes")
	fs.IntVar(&cfg.QueueBytes, "queue-bytes", cfg.QueueBytes, "bytes queued for one user before it is disconnected as too slow; must hold -room-burst + -burst")
	fs.DurationVar(&cfg.WriteTimeout, "write-timeout", cfg.WriteTimeout, "disconnect a user when one write to it takes longer")
	shutdownTimeout := fs.Duration("shutdown-timeout", 5*time.Second, "on SIGINT/SIGTERM, how long to flush queued messages before closing anyway")
	verbose := fs.Bool("v", false, "log every connection and disconnection")
	var nc clusterFlags // one chat over several instances (cluster_nats.go)
	fs.StringVar(&nc.listen, "nats-listen", "", "also run an embedded NATS server with JetStream on HOST:PORT and join the chat through it (a cluster on one machine)")
	fs.StringVar(&nc.urls, "nats", "", "join the chat through these NATS servers (nats://HOST:PORT[,…]), which need JetStream")
	fs.StringVar(&nc.dir, "nats-dir", "", "where -nats-listen keeps JetStream's data (default: a temporary directory, removed on exit)")
	fs.DurationVar(&nc.lease, "nats-lease", 8*time.Second, "an instance silent on NATS this long is dead: its users leave everywhere at most 1.4 times this after it died; one that cannot renew for half of it, or loses NATS, disconnects its users and rejoins as a new instance once NATS is back")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *shutdownTimeout <= 0 {
		fmt.Fprintln(stderr, "-shutdown-timeout must be positive")
		return 2
	}
	if err := cfg.validate(); err != nil {
		fmt.Fprintln(stderr, flagNames.Replace(err.Error()))
		return 2
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	addr := net.JoinHostPort(*ip, strconv.Itoa(*port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(stderr, "cannot listen on %s: %v\n", addr, err)
		return 1
	}
	s := NewServer(cfg)
	leave, err := startCluster(s, nc)
	if err != nil {
		fmt.Fprintln(stderr, err)
		_ = ln.Close()
		return 1
	}
	defer leave()
	// The tutorial prints "server listening..."; tests wait for this line.
	fmt.Fprintf(stdout, "server listening on %s\n", ln.Addr())

	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	select {
	case err := <-served:
		cfg.Logger.Error("accept loop ended", "err", err)
		shutdown(s, *shutdownTimeout)
		return 1
	case <-ctx.Done():
	}
	cfg.Logger.Info("shutting down")
	shutdown(s, *shutdownTimeout)
	<-served
	cfg.Logger.Info("stopped")
	return 0
}

// flagNames puts Config.validate's messages in the words of the flags
// that set each field.
var flagNames = strings.NewReplacer(
	"Config.Idle", "-idle",
	"Config.MaxLine", "-max-line",
	"Config.MaxUsers", "-max-users",
	"Config.Rate", "-rate",
	"Config.Burst", "-burst",
	"Config.RoomRate", "-room-rate",
	"Config.RoomBurst", "-room-burst",
	"Config.QueueBytes", "-queue-bytes",
	"Config.WriteTimeout", "-write-timeout",
)

func shutdown(s *Server, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		s.log.Warn("shutdown timed out; connections closed without flushing", "timeout", timeout)
	}
}
