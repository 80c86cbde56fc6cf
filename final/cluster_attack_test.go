package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	url := startTestNATS(t)
	_, n1 := startInstanceWith(t, url, testLease, nil)
	s2, n2 := startInstanceWith(t, url, testLease, nil)
	alice, bob := dialOwnPort(t, n1), dialOwnPort(t, n2)
	alice.expect(bob.prefix() + "已上线\n")
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
