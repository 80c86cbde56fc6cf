package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"im-workbook/tools/internal/benchfmt"
	"im-workbook/tools/internal/load"
)

// A run's figures survive the results file: what weave formats from the
// file is what bench printed.
func TestResultsFile(t *testing.T) {
	fan := func(rate float64, complete bool) *load.Result {
		r := &load.Result{Expected: 100, Delivered: 100, Rate: rate, P50: 2 * time.Millisecond, P99: 9 * time.Millisecond, Latencies: 10, Connected: load.Connected{ConnectTime: 150 * time.Millisecond, Joined: true}, CPU: time.Second, RSS: 10 << 20}
		if !complete {
			r.Delivered, r.Unattributed = 40, 50
		}
		return r
	}
	rep := &report{
		params:  full,
		kinds:   []kind{{name: "ch08"}, {name: "final"}},
		when:    time.Date(2026, 11, 24, 21, 56, 0, 0, time.UTC),
		took:    138 * time.Second,
		version: "commit abc1234",
		machine: "$ nproc\n2\n",
		out: map[string]*outcome{
			"ch08": {fan: fan(100000, true), fanBurst: fan(50000, false), plain: fan(90000, true), withStalled: &load.Result{Expected: 100, Delivered: 40, Rate: 80000, Stalled: true},
				idle: &load.IdleResult{Connected: load.Connected{Clients: 5000}, JoinsSeen: 200, RSSAfter: 50 << 20}, leave: &load.LeaveResult{Connected: load.Connected{Clients: 100}, Spoke: true, CPU: 3 * time.Second}},
			"final": {fan: fan(400000, true), fanBurst: fan(3000000, true), plain: fan(500000, true), withStalled: &load.Result{Expected: 100, Delivered: 100, Rate: 450000, StalledDropped: 1},
				cluster: [2]*load.Result{{Expected: 100, Delivered: 100, Rate: 200000, P50: 5 * time.Millisecond, P99: 20 * time.Millisecond, Latencies: 10, CPU: 1500 * time.Millisecond}, nil},
				idle:    &load.IdleResult{Connected: load.Connected{Clients: 5000}, JoinsSeen: 5000, Settled: true, RSSAfter: 80 << 20}, leave: &load.LeaveResult{Connected: load.Connected{Clients: 100}, Spoke: true}},
		},
	}
	printed := rep.results().Markdown()
	data, err := rep.results().JSON()
	require.NoError(t, err)
	fromFile, err := benchfmt.Parse(data)
	require.NoError(t, err)
	assert.Equal(t, printed, fromFile.Markdown())

	assert.True(t, strings.HasPrefix(printed, "Run: `go run ./tools/bench` (full), 2026-11-24 21:56 UTC, 2m18s in all; servers built from commit abc1234.\n"), printed)
	assert.Contains(t, printed, "| 1 fan-out, lockstep (200 readers, 8×200 lines) | deliveries/s | 100,000/s | 400,000/s | 4.00× | – | ≥ 3× ch08 and ≥ 3× ncat ✅ |\n")
	assert.Contains(t, printed, "| 3 idle memory (5000 users that never speak) | server RSS per connected user | 10.24 KiB (still busy) | 16.38 KiB | – | – | ≤ 10 KiB per user at 5,000 users ❌ |\n")
	assert.Contains(t, printed, "  final  ████████████████████████████████████████ 400,000/s\n")
	assert.Contains(t, printed, "- ch08 was still busy when its idle RSS was taken (it had announced 200 of 5000 arrivals to the first user).\n")
	assert.Contains(t, printed, "\nScenario sizes: fan-out 200 readers, 8 senders × 200 lines of 64 B;")

	// Scenario 5 compares final with itself on two instances, and derives
	// what the NATS hop adds: per delivery 1e6/200,000 - 1e6/400,000 µs of
	// wall time and 15,000 - 10,000 µs of CPU; per line 200 times that
	// CPU, and 5 ms - 2 ms at the observer. A run that did not happen (the
	// burst pair here) has no figures.
	assert.Contains(t, printed, "| 场景 scenario | 指标 measure | final, one instance | final, two instances (NATS) | two/one |\n|---|---|---:|---:|---:|\n"+
		"| 5 cluster, lockstep (200 readers, 8×200 lines) | deliveries/s | 400,000/s | 200,000/s | 0.50× |\n"+
		"|  | every reader got every line, intact and attributed | yes | yes |  |\n"+
		"|  | observer latency p50 / p99 | 2.0 ms / 9.0 ms | 5.0 ms / 20 ms | 2.50× |\n"+
		"|  | server CPU per delivery (both instances, NATS included) | 10000.00 µs | 15000.00 µs | 1.50× |\n"+
		"|  | what the NATS hop adds per delivery: wall time (1/rate) / server CPU |  | +2.50 µs / +5000.00 µs |  |\n"+
		"|  | what it adds per line (200 deliveries): server CPU / observer p50 |  | +1000000 µs / +3.0 ms |  |\n"+
		"| 5 cluster, burst (200 readers, 8×200 lines) | deliveries/s | 3,000,000/s | – |  |\n")
	assert.Contains(t, printed, "|  | what the NATS hop adds per delivery: wall time (1/rate) / server CPU |  | – |  |\n")
}
