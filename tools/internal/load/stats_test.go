package load

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		var ds []time.Duration
		for _, n := range ns {
			ds = append(ds, time.Duration(n)*time.Millisecond)
		}
		return ds
	}
	assert.Zero(t, Percentile(nil, 50))
	assert.Equal(t, 7*time.Millisecond, Percentile(ms(7), 99))
	// Nearest rank: p50 of 1..10 is the 5th value, p99 the 10th.
	ten := ms(10, 9, 8, 7, 6, 5, 4, 3, 2, 1)
	assert.Equal(t, 5*time.Millisecond, Percentile(ten, 50))
	assert.Equal(t, 10*time.Millisecond, Percentile(ten, 99))
	assert.Equal(t, 1*time.Millisecond, Percentile(ten, 1))
	// p99 of 1..100 is the 99th value.
	var hundred []int
	for i := 100; i >= 1; i-- {
		hundred = append(hundred, i)
	}
	assert.Equal(t, 99*time.Millisecond, Percentile(ms(hundred...), 99))
}

func TestRate(t *testing.T) {
	assert.Equal(t, 500.0, Rate(1000, 2*time.Second))
	assert.Zero(t, Rate(1000, 0))
}

func TestParseProc(t *testing.T) {
	rss, err := parseRSS([]byte("10422 2976 1654 1351 0 8548 0\n"), 4096)
	require.NoError(t, err)
	assert.Equal(t, int64(2976*4096), rss)
	_, err = parseRSS([]byte("10422\n"), 4096)
	assert.Error(t, err)

	// Field 2 may hold spaces and parentheses; utime 150, stime 50 ticks.
	stat := "4242 (a (weird) name) S 1 2 3 4 5 6 7 8 9 10 150 50 0 0 20 0 3 0 100 0 0"
	cpu, err := parseCPU([]byte(stat))
	require.NoError(t, err)
	assert.Equal(t, 2*time.Second, cpu)
	_, err = parseCPU([]byte("4242 (x) S 1 2"))
	assert.Error(t, err)
}

func TestProcSelf(t *testing.T) {
	p := Proc{os.Getpid()}
	rss, err := p.RSS()
	require.NoError(t, err)
	assert.Greater(t, rss, int64(1<<20))
	// statm's resident pages are what VmRSS says, in kB (to within what
	// changed between the two reads).
	status, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	var kb int64
	_, vmRSS, _ := strings.Cut(string(status), "VmRSS:")
	_, err = fmt.Sscan(vmRSS, &kb)
	require.NoError(t, err)
	assert.InDelta(t, kb*1024, rss, 1<<20)
	_, err = p.CPU()
	assert.NoError(t, err)
}

func TestStoreMax(t *testing.T) {
	var v atomic.Int64
	storeMax(&v, 5)
	storeMax(&v, 3)
	assert.Equal(t, int64(5), v.Load())
	storeMax(&v, 9)
	assert.Equal(t, int64(9), v.Load())
}
