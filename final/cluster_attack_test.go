package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"im-workbook/chattest"
)

// Attacks on the cluster that once broke it (issue 15's red team).

// "to" with a name thousands of bytes long: nobody can have such a name,
// so the answer is 该用户不存在. Looking it up in the names bucket put the
// name, hex-encoded, in a NATS subject longer than the server's control
// line (4 KiB): the server cut the connection and the whole instance was
// fenced, every user on it disconnected, by one line of one user.
func TestClusterTellLongName(t *testing.T) {
	t.Parallel()
	url := startTestNATS(t)
	n1, n2 := startInstance(t, url), startInstance(t, url)
	alice, bob := dialOwnPort(t, n1), dialOwnPort(t, n2)
	alice.expect(bob.prefix() + "已上线\n")
	alice.rename("alice")
	bob.rename("bob")
	bob.send("to " + strings.Repeat("x", 3000) + " hello\n")
	bob.expect(replyNoUser)
	bob.send("who\n")
	bob.expect("[" + alice.addr + "]alice: 在线...\n[" + bob.addr + "]bob: 在线...\n")
	bob.send("to alice 还在\n")
	alice.expect("bob想对您说：还在\n")
	alice.nothing()
}

// A rename in a cluster creates the new name's keys before it frees the
// old name's: in between, the names bucket holds two entries of one
// user. who listed that user twice, under both names (7 of 17 who during
// a rename storm); one machine never does. This test makes that moment
// last: bob's new name is claimed, his old one not yet freed.
func TestClusterWhoDuringRename(t *testing.T) {
	t.Parallel()
	s2, alice, bob := aliceAndBob(t)
	alice.rename("alice")
	bob.rename("bob")

	r := roomOf(s2)
	s2.mu.Lock()
	sess := r.users[s2.OnlineMap["bob"]].sess
	s2.mu.Unlock()
	_, err := r.claimName("bobby", member{"bobby", bob.addr, r.id, sess}, nil)
	require.NoError(t, err)
	for _, c := range []*client{alice, bob} {
		c.send("who\n")
		c.expect("[" + alice.addr + "]alice: 在线...\n")
		assert.Contains(t, []string{"[" + bob.addr + "]bob: 在线...\n", "[" + bob.addr + "]bobby: 在线...\n"}, c.line())
		c.nothing()
	}
}

// bucketSize is how many messages a bucket keeps, delete markers included.
func bucketSize(t *testing.T, kv jetstream.KeyValue) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), chattest.Patience)
	defer cancel()
	st, err := kv.Status(ctx)
	require.NoError(t, err)
	return st.Values()
}

// Everyone leaves, one instance leaves the chat: the buckets keep nothing
// of them. A deleted key leaves a delete marker behind for good, and
// every connection has a name of its own (its address), every instance
// start an id of its own: the buckets grew by a marker per connection and
// per instance ever, without end.
func TestClusterBucketsKeepNoMarkers(t *testing.T) {
	t.Parallel()
	url := startTestNATS(t)
	s1, n1 := startInstanceWith(t, url, testLease, nil)
	n2 := startChild(t, "-nats", url, "-nats-lease", testLease.String())
	alice, bob := dialOwnPort(t, n1), dialOwnPort(t, n2.Addr)
	alice.expect(bob.prefix() + "已上线\n")
	bob.rename("bob")
	bob.rename("BOB")
	require.NoError(t, bob.conn.Close())
	alice.expect("[" + bob.addr + "]BOB: 下线\n")
	require.NoError(t, n2.Program.Signal(os.Interrupt))
	require.NoError(t, n2.Program.Exit(t))
	require.NoError(t, alice.conn.Close())
	waitFor(t, "alice to leave", func() bool { return s1.online() == 0 })

	r := roomOf(s1)
	waitFor(t, "an empty names bucket", func() bool { return bucketSize(t, r.names) == 0 })
	waitFor(t, "one lease", func() bool { return bucketSize(t, r.leases) == 1 })
}

// The stream is for order, not memory, but it kept every line for an
// hour: at the default -room-rate (1 MiB/s for the whole chat) a flooder
// could make the NATS host keep 3.6 GiB, in /tmp (often RAM) for an
// embedded one, and anyone with access to NATS could read the last hour of
// a chat that promises no history. Now it keeps what order and duplicate
// detection need: the duplicate window, which covers a dead instance's
// 下线 said again by its claimer (at most 1.4 leases later).
func TestClusterStreamKeepsMinutes(t *testing.T) {
	t.Parallel()
	s, _ := startInstanceWith(t, startTestNATS(t), testLease, nil)
	ctx, cancel := context.WithTimeout(context.Background(), chattest.Patience)
	defer cancel()
	stream, err := roomOf(s).js.Stream(ctx, streamName)
	require.NoError(t, err)
	cfg := stream.CachedInfo().Config
	assert.LessOrEqual(t, cfg.MaxAge, 2*time.Minute)
	held := DefaultConfig().RoomRate * cfg.MaxAge.Seconds()
	assert.LessOrEqual(t, held, float64(128<<20), "bytes a flood at the default -room-rate leaves in the stream")
	assert.GreaterOrEqual(t, cfg.Duplicates, 10*(8*time.Second)*14/10, "ten times what a claim needs with the default -nats-lease")
}
