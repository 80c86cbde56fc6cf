package main

// Fault tests: clients that misbehave at the network level. In each, the
// server stays responsive to everyone else.

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// responsive checks that a and b can still talk to each other.
func responsive(t *testing.T, a, b *client) {
	t.Helper()
	a.send("are you there?\n")
	b.expect(a.prefix() + "are you there?\n")
	a.expect(a.prefix() + "are you there?\n")
}

func TestFaultResetMidLine(t *testing.T) {
	_, addr := startServer(t, nil)
	alice, bob := dial(t, addr), dial(t, addr)
	alice.expect(bob.prefix() + "已上线\n")
	rude := dial(t, addr)
	alice.expect(rude.prefix() + "已上线\n")
	bob.expect(rude.prefix() + "已上线\n")
	rude.send("this line is never fini")
	require.NoError(t, rude.conn.SetLinger(0))
	require.NoError(t, rude.conn.Close()) // RST
	// Half a line is not a line: only the 下线 arrives.
	alice.expect(rude.prefix() + "下线\n")
	bob.expect(rude.prefix() + "下线\n")
	responsive(t, alice, bob)
	bob.nothing()
}

func TestFaultHalfOpen(t *testing.T) {
	t.Run("a client that closes its sending side still gets its replies", func(t *testing.T) {
		_, addr := startServer(t, nil)
		alice, bob := dial(t, addr), dial(t, addr)
		alice.expect(bob.prefix() + "已上线\n")
		bob.send("who\nbye\n")
		require.NoError(t, bob.conn.CloseWrite()) // FIN, but still reading
		assert.Equal(t, "["+alice.addr+"]"+alice.addr+": 在线...\n"+bob.prefix()+"在线...\n"+bob.prefix()+"bye\n", bob.closed())
		alice.expect(bob.prefix() + "bye\n" + bob.prefix() + "下线\n")
	})
	t.Run("a client that vanished without a word is kicked when idle", func(t *testing.T) {
		const idle = 500 * time.Millisecond
		_, addr := startServer(t, func(c *Config) { c.Idle = idle })
		alice := dial(t, addr)
		gone := dialRaw(t, addr) // never reads, never writes, never closes
		start := time.Now()
		// Meanwhile alice talks normally (so she is not idle); then its 下线 arrives.
		keepTalkingUntil(t, alice, "["+gone.addr+"]"+gone.addr+": 已上线\n", "["+gone.addr+"]"+gone.addr+": 下线\n")
		assert.GreaterOrEqual(t, time.Since(start), idle*8/10)
		carol := dial(t, addr)
		alice.expect(carol.prefix() + "已上线\n")
		responsive(t, carol, alice)
	})
}

func TestFaultFlooder(t *testing.T) {
	// 100 lines a second after a burst of 20 (limits count bytes as
	// delivered; size is the longest a flood line can be here).
	const size = len("[127.0.0.1:65535]127.0.0.1:65535: ") + 100
	const rate, burst = 100 * size, 20 * size
	_, addr := startServer(t, func(c *Config) { c.MaxLine, c.Rate, c.Burst = 256, float64(rate), burst })
	alice, bob := dial(t, addr), dial(t, addr)
	alice.expect(bob.prefix() + "已上线\n")
	flooder := dial(t, addr)
	alice.expect(flooder.prefix() + "已上线\n")
	bob.expect(flooder.prefix() + "已上线\n")

	// The flooder writes as fast as TCP lets it (and never reads).
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		line := []byte(strings.Repeat("spam ", 20) + "\n")
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = flooder.conn.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
			_, _ = flooder.conn.Write(line)
		}
	}()
	start := time.Now()
	spam := flooder.prefix() + strings.Repeat("spam ", 20)[:99] + "\n"
	// alice and bob keep talking; each of their lines gets through, between
	// the flooder's, which arrive no faster than the rate limit allows.
	spams := 0
	for i := range 20 {
		time.Sleep(25 * time.Millisecond) // alice types at a human pace
		msg := fmt.Sprintf("%sping %d\n", alice.prefix(), i)
		alice.send(fmt.Sprintf("ping %d\n", i))
		for _, c := range []*client{alice, bob} {
			n := 0
			for l := c.line(); l != msg; l = c.line() {
				require.Equal(t, spam, l)
				n++
			}
			if c == bob {
				spams += n
			}
		}
	}
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	assert.LessOrEqual(t, spams*len(spam), burst+int(elapsed.Seconds()*float64(rate))+len(spam), "in %v", elapsed)
	assert.Greater(t, spams*len(spam), burst, "the flood did go on")
	t.Logf("%d flood lines of %d bytes got through in %v (limit: %d bytes at once, then %d/s)", spams, len(spam), elapsed, burst, rate)
}
