package main

import (
	"strings"
	"testing"
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
