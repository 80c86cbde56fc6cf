package load

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Mode is how senders pace their lines.
type Mode string

const (
	// Lockstep (the default): a sender writes its next line only once the
	// observer has seen the previous one, so a server never gets two of
	// one sender's lines in one read.
	Lockstep Mode = "lockstep"
	// Burst: senders write line after line as fast as the server takes them.
	Burst Mode = "burst"
)

// Config describes a fan-out run: Senders clients send Lines lines each, of
// Size bytes, and Readers clients (the first is the observer) read them.
type Config struct {
	Addr    string
	Dialect *Dialect
	Readers int
	Senders int
	Lines   int
	Size    int // bytes per line, without the newline
	Mode    Mode
	// Stalled clients connect with a stalledRcvBuf receive buffer and
	// never read.
	Stalled int
	// Also are more instances of the same chat (finals joined through
	// NATS): connections after the observer go to Addr and each of Also in
	// turn, and the first on each of Also (a witness) counts joins as the
	// observer does, so that sending starts only once every instance has
	// announced everyone.
	Also []string
	// Pids are the server's processes (one per instance; 0: not known):
	// their RSS and CPU time, summed, are reported.
	Pids []int
	// StallAfter: the run stops as stalled when no reader gets a line for
	// this long. Timeout bounds the whole run, connecting included.
	StallAfter time.Duration
	Timeout    time.Duration
	// DropCheck bounds how long the stalled clients are drained at the
	// end, to see whether the server dropped them (default 2 s).
	DropCheck time.Duration
	// KeepAlive, when not 0, makes every reader send the dialect's
	// keep-alive line this often (chapter 08 kicks a silent user after 10 s).
	KeepAlive time.Duration
}

// defaults fills in what was left out (or given as not positive).
func (c *Config) defaults() {
	c.Mode = cmp.Or(c.Mode, Lockstep)
	c.Size = orDefault(c.Size, 64)
	c.StallAfter = orDefault(c.StallAfter, 2*time.Second)
	c.Timeout = orDefault(c.Timeout, 30*time.Second)
	c.DropCheck = orDefault(c.DropCheck, 2*time.Second)
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Connected is how connecting a run's users went, in every kind of run.
type Connected struct {
	Clients     int           // connections opened
	Refused     int           // connections the server refused or reset while connecting
	RefusedErr  string        // the first such error
	Joined      bool          // the observer (and every witness) saw every client come online
	Unwelcomed  bool          // connecting stopped: the server went welcomeWait without announcing a user
	ConnectTime time.Duration // first dial until the observer saw everyone join
}

// Result is what a fan-out run measured.
type Result struct {
	Connected
	Expected        int64 // lines the readers should get: Readers × Senders × Lines
	Delivered       int64 // lines the readers got intact and attributed (each once per reader)
	Corrupt         int64 // lines that arrived damaged
	Duplicates      int64 // lines a reader got twice
	Unattributed    int64 // lines that arrived intact but without the server's sender prefix (not delivered)
	CompleteReaders int   // readers that got every line
	Duration        time.Duration
	Rate            float64 // Delivered per second of Duration
	P50, P99        time.Duration
	Latencies       int // samples behind P50 and P99

	Stalled      bool   // stopped because no line arrived for StallAfter
	TimedOut     bool   // stopped at Timeout
	SendErr      string // the first error a sender got
	Disconnected int    // readers whose connection the server closed

	StalledDropped int // stalled clients the server disconnected

	RSS int64         // server RSS at the end, bytes (with Pids)
	CPU time.Duration // server CPU time from first dial to the end (with Pids)
}

// Complete reports whether every reader got every line, intact.
func (r *Result) Complete() bool {
	return r.Expected > 0 && r.Delivered == r.Expected && r.Corrupt == 0
}

// role is what a connection does in a run.
type role int

const (
	observer role = iota // reads and parses every line, timestamps, acks senders, counts joins
	witness              // a reader on another instance (Config.Also) that counts joins too
	reader               // reads and parses every line
	drainer              // reads and discards
	sender               // sends lines, discards what it gets
	stalled              // never reads
)

// stalledRcvBuf is a stalled client's receive buffer, in bytes: small, so
// that the server's sends towards it stop soon.
const stalledRcvBuf = 4096

// dialParallel is how many users a paced run may have dialled and not yet
// welcomed: fewer than ncat --chat's backlog of 10.
const dialParallel = 8

// welcomeWait is how long connecting waits for the server to announce a
// user before it gives up.
const welcomeWait = 3 * time.Second

// run is the shared state of one run.
type run struct {
	cfg   Config
	paced bool      // dial at most dialParallel users ahead of their welcome
	base  time.Time // times below are nanoseconds since base
	total int       // lines per reader: Senders × Lines

	joins        [witness + 1]atomic.Int64 // joins seen, by role: the observer's, the witnesses' together
	delivered    atomic.Int64
	corrupt      atomic.Int64
	duplicates   atomic.Int64
	unattributed atomic.Int64
	complete     atomic.Int64
	disconnected atomic.Int64
	firstSend    atomic.Int64
	lastDelivery atomic.Int64

	sentAt []atomic.Int64 // per line, when its sender wrote it
	recvAt []atomic.Int64 // per line, when the observer got it
	acks   []chan int     // per sender, the observer's sightings (lockstep)

	closing atomic.Bool   // we are closing the connections: errors are ours
	quit    chan struct{} // closed when the connections are about to close
	allDone chan struct{} // closed when every reader is complete
	sendErr atomic.Pointer[string]
	wg      sync.WaitGroup
}

func (r *run) now() int64 { return int64(time.Since(r.base)) }

// newRun prepares a run of cfg: Senders × Lines lines, each sender
// acknowledged line by line (lockstep). Paced, it dials at most
// dialParallel users ahead of their welcome.
func newRun(cfg Config, paced bool) *run {
	total := cfg.Senders * cfg.Lines
	r := &run{cfg: cfg, paced: paced, base: time.Now(), total: total, allDone: make(chan struct{}), quit: make(chan struct{}),
		sentAt: make([]atomic.Int64, total), recvAt: make([]atomic.Int64, total), acks: make([]chan int, cfg.Senders)}
	for i := range r.acks {
		r.acks[i] = make(chan int, cfg.Lines)
	}
	return r
}

// Run performs one fan-out run.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.defaults()
	if cfg.Readers < 1 || cfg.Senders < 0 || cfg.Lines < 0 || cfg.Stalled < 0 {
		return nil, errors.New("need at least one reader, and no negative senders, lines or stalled clients")
	}
	if cfg.Dialect == nil {
		return nil, errors.New("no dialect")
	}
	if cfg.Mode != Lockstep && cfg.Mode != Burst {
		return nil, fmt.Errorf("unknown mode %q (want lockstep or burst)", cfg.Mode)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	r := newRun(cfg, true)
	res := &Result{Expected: int64(cfg.Readers) * int64(r.total)}
	_, cpu0, err := usage(cfg.Pids)
	if err != nil {
		return nil, fmt.Errorf("server process: %w", err)
	}

	roles := slices.Concat([]role{observer}, slices.Repeat([]role{reader}, cfg.Readers-1),
		slices.Repeat([]role{sender}, cfg.Senders), slices.Repeat([]role{stalled}, cfg.Stalled))
	for i := range min(len(cfg.Also), cfg.Readers-1) {
		roles[1+i] = witness // the first connection to cfg.Also[i]
	}
	conns := r.connect(ctx, roles, &res.Connected)
	defer r.closeAll(conns)
	senderConns, stalledConns := conns[cfg.Readers:cfg.Readers+cfg.Senders], conns[cfg.Readers+cfg.Senders:]

	if res.Joined && r.total > 0 {
		r.send(ctx, senderConns, res)
	}
	if rss, cpu1, err := usage(cfg.Pids); err == nil { // 0 if a server is gone
		res.RSS, res.CPU = rss, cpu1-cpu0
	}
	r.collect(res)
	res.StalledDropped = stalledDropped(stalledConns, cfg.DropCheck)
	return res, nil
}

// connect dials a connection per role, one after another, and starts its
// goroutine. The observer connects first and alone, so that it sees
// everyone else join, and each witness connects alone after it; connect
// returns once they have (res.Joined), or at the timeout.
//
// Paced, it dials only while at most dialParallel users are dialled and
// not yet welcomed (their join not yet seen), so a server that accepts
// slowly (ncat --chat listens with a backlog of 10) is not flooded with
// SYNs that the kernel drops and the client resends a second later.
// Otherwise it dials as fast as connections open, whatever the server
// makes of them.
func (r *run) connect(ctx context.Context, roles []role, res *Connected) []net.Conn {
	defer func() { res.ConnectTime = time.Since(r.base) }()
	conns := make([]net.Conn, len(roles))
	addrs := append([]string{r.cfg.Addr}, r.cfg.Also...)
	witnesses, witnessed := int64(0), int64(0) // witnesses so far, and the joins they should see
	for i, ro := range roles {
		if i == 1 && (conns[0] == nil || !waitCount(ctx, &r.joins[observer], 1)) {
			return conns // no observer: nobody would see the others join
		}
		if i > 0 && r.paced {
			wctx, cancel := context.WithTimeout(ctx, welcomeWait)
			ok := waitCount(wctx, &r.joins[observer], int64(res.Clients-dialParallel+1))
			cancel()
			if !ok {
				res.Unwelcomed = ctx.Err() == nil // the server stopped welcoming users
				break
			}
		}
		if ctx.Err() != nil {
			break
		}
		c, err := r.dial(ctx, ro, addrs[i%len(addrs)])
		if err != nil {
			res.Refused++
			if res.RefusedErr == "" {
				res.RefusedErr = err.Error()
			}
			continue
		}
		conns[i] = c
		res.Clients++
		if ro == witness {
			witnesses++
		}
		witnessed += witnesses
		r.start(c, ro)
		// A witness joins alone, as the observer does: it sees its own join
		// and those of everyone dialled after it (a cluster delivers each
		// in the chat's one order, so one dialled at the same time might
		// come first, unseen).
		if ro == witness && !waitCount(ctx, &r.joins[witness], witnessed) {
			break
		}
	}
	res.Joined = conns[0] != nil && waitCount(ctx, &r.joins[observer], int64(res.Clients)) && waitCount(ctx, &r.joins[witness], witnessed)
	return conns
}

func (r *run) dial(ctx context.Context, ro role, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	if ro == stalled {
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = setRcvBuf(fd, stalledRcvBuf)
			})
			return errors.Join(err, serr)
		}
	}
	return d.DialContext(ctx, "tcp", addr)
}

// start runs the goroutine of connection i.
func (r *run) start(c net.Conn, ro role) {
	switch ro {
	case observer, witness, reader:
		r.wg.Go(func() { r.read(c, ro) })
		if ka := r.cfg.Dialect.KeepAlive; r.cfg.KeepAlive > 0 && ka != nil {
			r.wg.Go(func() { r.keepAlive(c, ka) })
		}
	case drainer, sender:
		r.wg.Go(func() {
			_, _ = io.Copy(io.Discard, c)
			r.lost()
		})
	}
}

// keepAlive sends line every cfg.KeepAlive until the run ends.
func (r *run) keepAlive(c net.Conn, line []byte) {
	t := time.NewTicker(r.cfg.KeepAlive)
	defer t.Stop()
	for {
		select {
		case <-r.quit:
			return
		case <-t.C:
			if _, err := c.Write(line); err != nil {
				return
			}
		}
	}
}

// lost counts a connection the server closed (not one we closed). How
// the read failed (EOF, a reset) does not matter: either way the server
// dropped this user.
func (r *run) lost() {
	if !r.closing.Load() {
		r.disconnected.Add(1)
	}
}

// maxLine bounds a line a reader assembles; a longer one is damaged.
const maxLine = 1 << 20

// read parses every line a reader gets. Counters shared with the other
// readers are updated once per read, not once per line, so that the load
// generator spends its CPU time on reading rather than on contention.
func (r *run) read(c net.Conn, ro role) {
	got := make([]bool, r.total) // per line: received intact and attributed
	count := 0                   // lines in got
	parser := NewParser(r.cfg.Size)
	buf := make([]byte, 64<<10)
	var partial []byte // the start of a line that a later read completes
	for {
		n, err := c.Read(buf)
		if n > 0 {
			now := r.now()
			var fresh int64 // lines new in this read
			for line := range bytes.Lines(buf[:n]) {
				line, whole := bytes.CutSuffix(line, []byte("\n"))
				if !whole { // the last piece: a later read completes it
					if len(partial)+len(line) > maxLine {
						partial = partial[:0] // drop it; what follows has no token
						r.corrupt.Add(1)
					} else {
						partial = append(partial, line...)
					}
					break
				}
				if len(partial) > 0 {
					partial = append(partial, line...)
					line = partial
				}
				if r.handle(line, parser, got, ro, now) {
					fresh++
				}
				partial = partial[:0]
			}
			if fresh > 0 {
				count += int(fresh)
				r.delivered.Add(fresh)
				storeMax(&r.lastDelivery, now)
				if count == r.total && r.complete.Add(1) == int64(r.cfg.Readers) {
					close(r.allDone) // the last reader to complete, once
				}
			}
		}
		if err != nil {
			r.lost()
			return
		}
	}
}

// storeMax raises v to n unless it is already later.
func storeMax(v *atomic.Int64, n int64) {
	for old := v.Load(); n > old && !v.CompareAndSwap(old, n); old = v.Load() {
	}
}

// handle accounts for one received line and reports whether it is a
// delivery new to this reader (got: the lines it already has). A line
// counts as delivered when it arrives intact and with the server's
// attribution of its sender: a line without it (the tutorial and ncat
// glue lines that arrive in one read together) could have been written by
// anybody.
func (r *run) handle(line []byte, parser *Parser, got []bool, ro role, now int64) bool {
	p := parser.Parse(line)
	if !p.OK {
		if ro <= witness && r.cfg.Dialect.Joined(string(line)) {
			r.joins[ro].Add(1)
		}
		return false
	}
	if p.Sender >= r.cfg.Senders || p.Seq >= r.cfg.Lines || !p.Intact {
		r.corrupt.Add(1)
		return false
	}
	if !r.cfg.Dialect.Attributed(p.Head) {
		r.unattributed.Add(1)
		return false
	}
	idx := p.Sender*r.cfg.Lines + p.Seq
	if got[idx] {
		r.duplicates.Add(1)
		return false
	}
	got[idx] = true
	if ro == observer {
		r.recvAt[idx].Store(now)
		select {
		case r.acks[p.Sender] <- p.Seq:
		default:
		}
	}
	return true
}

// send runs the senders and waits until every reader is complete, the
// run stalls, or it times out.
func (r *run) send(ctx context.Context, senders []net.Conn, res *Result) {
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	r.firstSend.Store(r.now())
	var wg sync.WaitGroup
	for s, c := range senders {
		if c != nil {
			wg.Go(func() { r.sendLines(sctx, c, s) })
		}
	}
	// Watch progress.
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	last, lastChange := r.delivered.Load(), time.Now()
watch:
	for {
		select {
		case <-r.allDone:
			break watch
		case <-ctx.Done():
			res.TimedOut = true
			break watch
		case <-t.C:
			if d := r.delivered.Load(); d != last {
				last, lastChange = d, time.Now()
			} else if time.Since(lastChange) >= r.cfg.StallAfter {
				res.Stalled = true
				break watch
			}
		}
	}
	stop()
	// A sender blocked in Write (the server stopped reading) is freed by
	// closing its connection; collect first so as not to count that.
	r.closing.Store(true)
	for _, c := range senders {
		if c != nil {
			_ = c.SetWriteDeadline(time.Now())
		}
	}
	wg.Wait()
}

func (r *run) sendLines(ctx context.Context, c net.Conn, s int) {
	for seq := range r.cfg.Lines {
		if ctx.Err() != nil {
			return
		}
		line := append(Line(s, seq, r.cfg.Size), '\n')
		r.sentAt[s*r.cfg.Lines+seq].Store(r.now())
		if _, err := c.Write(line); err != nil {
			if !r.closing.Load() {
				msg := err.Error()
				r.sendErr.CompareAndSwap(nil, &msg)
			}
			return
		}
		// Lockstep: wait until the observer has seen this line (an older
		// sighting does not count).
		for got := -1; r.cfg.Mode == Lockstep && got < seq; {
			select {
			case <-ctx.Done():
				return
			case got = <-r.acks[s]:
			}
		}
	}
}

// collect fills in the counters and latencies.
func (r *run) collect(res *Result) {
	res.Delivered = r.delivered.Load()
	res.Corrupt = r.corrupt.Load()
	res.Duplicates = r.duplicates.Load()
	res.Unattributed = r.unattributed.Load()
	res.CompleteReaders = int(r.complete.Load())
	res.Disconnected = int(r.disconnected.Load())
	if p := r.sendErr.Load(); p != nil {
		res.SendErr = *p
	}
	if last := r.lastDelivery.Load(); last > 0 {
		res.Duration = time.Duration(last - r.firstSend.Load())
	}
	res.Rate = Rate(res.Delivered, res.Duration)
	var lat []time.Duration
	for i := range r.recvAt {
		if got := r.recvAt[i].Load(); got > 0 {
			lat = append(lat, time.Duration(got-r.sentAt[i].Load()))
		}
	}
	res.Latencies = len(lat)
	res.P50 = Percentile(lat, 50)
	res.P99 = Percentile(lat, 99)
}

// closeAll closes every connection and waits for their goroutines.
func (r *run) closeAll(conns []net.Conn) {
	r.closing.Store(true)
	close(r.quit)
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	r.wg.Wait()
}

// stalledDropped drains the stalled clients, for a bounded time, to see
// whether the server closed them: the server's FIN or RST comes after
// everything it had sent, so the client must read through that first, with
// a receive buffer large enough to do so quickly.
func stalledDropped(conns []net.Conn, limit time.Duration) int {
	var n atomic.Int64
	var wg sync.WaitGroup
	for _, c := range conns {
		if c == nil {
			continue
		}
		wg.Go(func() {
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetReadBuffer(1 << 20)
			}
			_ = c.SetReadDeadline(time.Now().Add(limit))
			_, err := io.Copy(io.Discard, c)
			var ne net.Error
			if !(errors.As(err, &ne) && ne.Timeout()) {
				n.Add(1) // EOF or reset: the server dropped it
			}
		})
	}
	wg.Wait()
	return int(n.Load())
}

// Percentile returns the p-th percentile (0 < p <= 100) of ds by the
// nearest-rank method, or 0 for no samples. ds is sorted in place.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	rank := int(p/100*float64(len(ds)) + 0.999999999) // ceil, robust to float error
	rank = min(max(rank, 1), len(ds))
	return ds[rank-1]
}

// Rate is n events over d, per second; 0 when d is not positive.
func Rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
