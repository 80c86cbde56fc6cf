//go:build unix

package main

// The cluster tests that pause a process (SIGSTOP, SIGCONT: Unix only).

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"im-workbook/chattest/proc"
)

// An instance paused past its lease (SIGSTOP here; a frozen VM or a long
// stall in production) is dead to the others: a survivor says its users
// 下线 and frees their names. When it resumes, its users' lines that
// waited meanwhile must not reach the chat. Its watchdog fences it, but
// a resumed process runs its timers and its readers in any order: bob's
// lines came after his 下线 in 3 of 4 runs, a ghost speaking.
func TestClusterPausedInstanceStaysSilent(t *testing.T) {
	t.Parallel()
	url := startTestNATS(t)
	n1 := startInstance(t, url)
	paused := startChild(t, "-nats", url, "-nats-lease", testLease.String())
	alice, bob := dialOwnPort(t, n1), dialOwnPort(t, paused.Addr)
	alice.expect(bob.prefix() + "已上线\n")
	bob.rename("bob")
	require.NoError(t, paused.Program.Signal(syscall.SIGSTOP))
	alice.expect("[" + bob.addr + "]bob: 下线\n")
	bob.send(strings.Repeat("我还在\n", 20))
	bob.send("to " + alice.addr + " 我还在\n")
	bob.send("rename bobby\n")
	require.NoError(t, paused.Program.Signal(syscall.SIGCONT))
	seen := bob.closed()
	assert.True(t, strings.HasSuffix(seen, replyUnavailable), "bob saw %q", seen)
	assert.NotContains(t, seen, "我还在")
	alice.nothing()
	alice.rename("bobby")
}

// The NATS host freezes (SIGSTOP): the link stays up, nobody answers.
// Pings every lease/5, at most 2 outstanding, and the renewal watchdog
// (lease/2) fence the other instance well before any survivor could see
// its lease as stale (a whole lease).
func TestClusterNATSHostFrozen(t *testing.T) {
	t.Parallel()
	natsAddr, err := proc.FreeAddr()
	require.NoError(t, err)
	host := startChild(t, "-nats-listen", natsAddr, "-nats-dir", t.TempDir(), "-nats-lease", testLease.String())
	other := startChild(t, "-nats", "nats://"+natsAddr, "-nats-lease", testLease.String())
	alice, bob := dialOwnPort(t, host.Addr), dialOwnPort(t, other.Addr)
	alice.expect(bob.prefix() + "已上线\n")
	frozen := time.Now()
	require.NoError(t, host.Program.Signal(syscall.SIGSTOP))
	t.Cleanup(func() { _ = host.Program.Signal(syscall.SIGCONT) })
	assert.Equal(t, replyUnavailable, bob.closed())
	t.Logf("fenced %v after the freeze (lease %v)", time.Since(frozen), testLease)
	assert.Less(t, time.Since(frozen), testLease, "before any survivor could claim its lease")
}
