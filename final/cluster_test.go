package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"im-workbook/chattest"
	"im-workbook/chattest/proc"
)

// testLease is the lease of the cluster tests: an instance silent this
// long is dead (the default is 8 s).
const testLease = 2 * time.Second

// startTestNATS runs an embedded NATS server with JetStream for one test,
// on a free loopback port, and shuts it down (and waits) when it ends.
func startTestNATS(t testing.TB) string {
	t.Helper()
	e, err := startNATS("127.0.0.1:-1", t.TempDir())
	require.NoError(t, err)
	t.Cleanup(e.Shutdown)
	return e.URL()
}

// startInstance runs one instance of final in this process, joined to the
// chat through url, as run does; it leaves when the test ends.
func startInstance(t testing.TB, url string) string {
	t.Helper()
	_, addr := startInstanceWith(t, url, testLease, nil)
	return addr
}

// startInstanceWith is startInstance with the given lease and the default
// limits changed by tune; it returns the server too.
func startInstanceWith(t testing.TB, url string, lease time.Duration, tune func(*Config)) (*Server, string) {
	t.Helper()
	s := newServer(t, tune)
	leave, err := startCluster(s, clusterFlags{urls: url, lease: lease})
	require.NoError(t, err)
	t.Cleanup(leave) // after the server's Shutdown, which serve registers next
	return s, serve(t, s)
}

// aliceAndBob are two users of a chat on two instances in this process,
// alice on the first, bob on the second (returned), alice having seen
// bob's 已上线.
func aliceAndBob(t *testing.T) (bobs *Server, alice, bob *client) {
	t.Helper()
	url := startTestNATS(t)
	_, n1 := startInstanceWith(t, url, testLease, nil)
	bobs, n2 := startInstanceWith(t, url, testLease, nil)
	alice, bob = dialOwnPort(t, n1), dialOwnPort(t, n2)
	alice.expect(bob.prefix() + "已上线\n")
	return bobs, alice, bob
}

// startThree is a transcript's target: three instances n1, n2, n3 on one
// embedded NATS server; a bare "connect alice" goes to n1.
func startThree(t testing.TB, args []string) *chattest.Server {
	require.Empty(t, args, "cluster transcripts take no server args")
	url := startTestNATS(t)
	n := map[string]string{}
	for _, name := range []string{"n1", "n2", "n3"} {
		n[name] = startInstance(t, url)
	}
	return &chattest.Server{Addr: n["n1"], Instances: n}
}

// Every testdata/cluster/*.txt runs against three fresh instances.
func TestClusterTranscripts(t *testing.T) {
	t.Parallel()
	chattest.RunDir(t, filepath.Join("testdata", "cluster"), startThree)
}

// Of 20 users on three instances renaming to one name at once, exactly
// one succeeds; everyone is then listed once by who, on any instance.
func TestClusterRenameRace(t *testing.T) {
	t.Parallel()
	url := startTestNATS(t)
	addrs := []string{startInstance(t, url), startInstance(t, url), startInstance(t, url)}
	const users = 20
	cs := connectAll(t, addrs, users)
	var wg sync.WaitGroup
	replies := make([]string, users)
	for i, c := range cs {
		wg.Go(func() {
			c.send("rename 胜者\n")
			replies[i] = c.line()
		})
	}
	wg.Wait()
	won := 0
	for _, r := range replies {
		switch r {
		case "用户名已修改为：胜者\n":
			won++
		case replyNameUsed:
		default:
			t.Errorf("unexpected reply %q", r)
		}
	}
	assert.Equal(t, 1, won, "exactly one rename wins")
	cs[users-1].send("who\n")
	list := make([]string, users)
	for i := range list {
		list[i] = cs[users-1].line()
	}
	assert.Equal(t, 1, strings.Count(strings.Join(list, ""), "]胜者: 在线...\n"))
	assert.IsNonDecreasing(t, names(list))
	cs[users-1].nothing()
}

func names(who []string) []string {
	var out []string
	for _, l := range who {
		_, rest, _ := strings.Cut(l, "]")
		out = append(out, strings.TrimSuffix(rest, ": 在线...\n"))
	}
	return out
}

// connectAll connects n clients, spread over addrs in turn, and reads
// every 已上线 each of them is sent, so that all are in the room.
func connectAll(t *testing.T, addrs []string, n int) []*client {
	t.Helper()
	var cs []*client
	for i := range n {
		c := dialOwnPort(t, addrs[i%len(addrs)])
		for _, o := range cs {
			o.expect(c.prefix() + "已上线\n")
		}
		cs = append(cs, c)
	}
	return cs
}

// Every user, on whichever instance, sees all broadcasts in one order:
// the soak test's check, across instances, with everyone sending at once.
func TestClusterOrder(t *testing.T) {
	t.Parallel()
	url := startTestNATS(t)
	addrs := []string{startInstance(t, url), startInstance(t, url), startInstance(t, url)}
	const users, each = 6, 40
	cs := connectAll(t, addrs, users)
	var wg sync.WaitGroup
	seen := make([][]string, users)
	for i, c := range cs {
		wg.Go(func() {
			var b strings.Builder
			for j := range each {
				fmt.Fprintf(&b, "m%d-%d\n", i, j)
			}
			c.send(b.String())
		})
		wg.Go(func() {
			for range users * each {
				seen[i] = append(seen[i], c.line())
			}
		})
	}
	wg.Wait()
	for i := range seen {
		require.Equal(t, seen[0], seen[i], "user %d saw another order than user 0", i)
		cs[i].nothing()
	}
	// Each sender's own lines keep their order (fix 4's promise, too).
	for i, c := range cs {
		next := 0
		for _, l := range seen[0] {
			if strings.HasPrefix(l, c.prefix()+fmt.Sprintf("m%d-", i)) {
				require.Equal(t, c.prefix()+fmt.Sprintf("m%d-%d\n", i, next), l)
				next++
			}
		}
		require.Equal(t, each, next)
	}
}

// dialOwnPort is dial for a cluster. Linux may give two connections to
// different ports (two instances) one local port, and then their default
// names collide, rightly, so the second one is "ADDR#2" (see
// TestClusterDefaultNameCollision). Binding before connecting gives each
// client a port of its own, so a test can predict every default name.
func dialOwnPort(t testing.TB, addr string) *client {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, Timeout: chattest.Patience}
	conn, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	c := &client{t: t, conn: conn.(*net.TCPConn), r: bufio.NewReader(conn), addr: conn.LocalAddr().String()}
	c.expect(c.prefix() + "已上线\n")
	return c
}

// An instance killed with SIGKILL (one that does not host NATS): within
// the lease its users leave everywhere, each 下线 exactly once for every
// other user although two survivors race to claim its lease, and their
// names are free again.
func TestClusterInstanceKilled(t *testing.T) {
	t.Parallel()
	url := startTestNATS(t)
	n1, n2 := startInstance(t, url), startInstance(t, url)
	victim := startChild(t, "-nats", url, "-nats-lease", testLease.String())
	n3 := victim.Addr
	alice, dave := dialOwnPort(t, n1), dialOwnPort(t, n2)
	alice.expect(dave.prefix() + "已上线\n")
	alice.rename("alice")
	bob := dialOwnPort(t, n3)
	carol := dialOwnPort(t, n3)
	bob.expect(carol.prefix() + "已上线\n")
	for _, c := range []*client{alice, dave} {
		c.expect(bob.prefix() + "已上线\n" + carol.prefix() + "已上线\n")
	}
	bob.rename("bob")

	killed := time.Now()
	require.NoError(t, victim.Program.Signal(syscall.SIGKILL))
	for _, c := range []*client{alice, dave} {
		got := []string{c.line(), c.line()}
		assert.ElementsMatch(t, []string{"[" + bob.addr + "]bob: 下线\n", carol.prefix() + "下线\n"}, got)
	}
	t.Logf("both 下线 within %v of the kill (lease %v)", time.Since(killed), testLease)
	// The default bound is 15 s with the default 8 s lease: 1.4 leases, plus
	// the claim, plus slack for a busy machine.
	assert.Less(t, time.Since(killed), 15*testLease/8, "the bound: 1.4 leases, plus the claim")
	// A second claim would come at the survivors' next look (every lease/5).
	for range 2 {
		alice.nothing()
		dave.nothing()
	}
	dave.send("who\n")
	dave.expect("[" + dave.addr + "]" + dave.addr + ": 在线...\n[" + alice.addr + "]alice: 在线...\n")
	dave.rename("bob")
	alice.nothing()
}

// SIGINT: an instance leaves at once, saying 下线 for its users to the
// others, and gives its lease back (no survivor announces them again).
func TestClusterInstanceInterrupted(t *testing.T) {
	t.Parallel()
	url := startTestNATS(t)
	s1, n1 := startInstanceWith(t, url, testLease, nil)
	inst := startChild(t, "-nats", url, "-nats-lease", testLease.String())
	alice, bob := dialOwnPort(t, n1), dialOwnPort(t, inst.Addr)
	alice.expect(bob.prefix() + "已上线\n")
	leases := func() int {
		l, err := roomOf(s1).leaseRevisions()
		require.NoError(t, err)
		return len(l)
	}
	require.Equal(t, 2, leases())
	require.NoError(t, inst.Program.Signal(os.Interrupt))
	assert.Equal(t, replyClosing, bob.closed())
	alice.expect(bob.prefix() + "下线\n")
	require.NoError(t, inst.Program.Exit(t))
	assert.Equal(t, 1, leases(), "its lease is given back, not left for a survivor to claim")
	alice.nothing()
}

// natsReady is a nats-server's readiness: its log line "Server is ready"
// (after a timestamp, so not proc.LineStarting).
func natsReady(_ string, out []byte) (int, bool) {
	i := bytes.Index(out, []byte("Server is ready"))
	if i < 0 {
		return 0, false
	}
	end := bytes.IndexByte(out[i:], '\n')
	if end < 0 {
		return 0, false
	}
	return i + end + 1, true
}

// The deployment version: instances joined through a stock nats-server
// -js (Debian's 2.9.10 in CI), nothing embedded.
func TestClusterExternalNATS(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		const how = "nats-server is not installed; to run this test: sudo apt-get install nats-server"
		if os.Getenv("CI") == "true" {
			t.Fatal(how) // CI installs it: a skip there would hide the test
		}
		t.Skip(how)
	}
	version, err := exec.Command(bin, "--version").Output()
	require.NoError(t, err)
	t.Logf("%s", version)
	dir := t.TempDir()
	ns, err := proc.Serve(func(addr string) *exec.Cmd {
		host, port, _ := net.SplitHostPort(addr)
		return exec.Command(bin, "-js", "-a", host, "-p", port, "-sd", dir)
	}, natsReady, chattest.Patience)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = ns.Signal(os.Interrupt)
		<-ns.Exited()
	})
	addr := ns.Addr
	url := "nats://" + addr
	n1, n2 := startInstance(t, url), startInstance(t, url)
	alice, bob := dialOwnPort(t, n1), dialOwnPort(t, n2)
	alice.expect(bob.prefix() + "已上线\n")
	alice.rename("alice")
	bob.send("rename ALICE\n")
	bob.expect(replyNameUsed)
	bob.rename("bob")
	bob.send("to alice 你好\n")
	alice.expect("bob想对您说：你好\n")
	alice.send("hi\n")
	for _, c := range []*client{alice, bob} {
		c.expect("[" + alice.addr + "]alice: hi\n")
	}
	bob.send("who\n")
	bob.expect("[" + alice.addr + "]alice: 在线...\n[" + bob.addr + "]bob: 在线...\n")
	require.NoError(t, bob.conn.Close())
	alice.expect("[" + bob.addr + "]bob: 下线\n")
	alice.nothing()
}

// lineCountingConn is a discardConn that counts the copies of one line it is
// given, so that a benchmark can wait for deliveries that happen after a
// trip through NATS.
type lineCountingConn struct {
	discardConn
	line []byte
	n    *atomic.Int64
}

func (c *lineCountingConn) Write(p []byte) (int, error) {
	c.n.Add(int64(bytes.Count(p, c.line)))
	return len(p), nil
}

// BenchmarkClusterBroadcast is BenchmarkBroadcast with the users spread
// over two instances joined through an embedded NATS server: each message
// goes to the stream and back to both instances before it reaches anyone.
// Compare its deliveries/s with BenchmarkBroadcast's: the difference is
// what the NATS hop costs (with the publisher waiting for each ack).
//
//	go test -run '^$' -bench 'Broadcast' -benchmem
func BenchmarkClusterBroadcast(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			url := startTestNATS(b)
			servers := make([]*Server, 2)
			for i := range servers {
				servers[i] = NewServer(DefaultConfig())
				leave, err := startCluster(servers[i], clusterFlags{urls: url, lease: 10 * time.Second})
				require.NoError(b, err)
				b.Cleanup(leave)
			}
			msg := "hello, everyone"
			var got atomic.Int64
			users := make([]*User, n)
			for i := range users {
				addr := &net.TCPAddr{IP: net.IPv4(10, 0, byte(i/250), byte(i%250+1)), Port: 40000 + i}
				conn := &lineCountingConn{discardConn: discardConn{addr: addr}, line: []byte(": " + msg + "\n"), n: &got}
				users[i] = NewUser(conn, servers[i%2])
				require.NoError(b, servers[i%2].Online(users[i]))
			}
			// Everyone live: a first message has reached all.
			servers[0].BroadCast(users[0], msg)
			waitFor(b, "the first message everywhere", func() bool { return got.Load() == int64(n) })
			got.Store(0)
			b.ReportAllocs()
			for b.Loop() {
				servers[0].BroadCast(users[0], msg)
			}
			waitFor(b, "every delivery", func() bool { return got.Load() == int64(b.N*n) })
			b.ReportMetric(float64(b.N)*float64(n)/b.Elapsed().Seconds(), "deliveries/s")
			for i, u := range users {
				servers[i%2].Offline(u)
				u.Close("")
			}
		})
	}
}

// Default names (addresses) that collide across instances get the
// single-machine "#2" suffix: the names bucket, not one server's map,
// decides.
func TestClusterDefaultNameCollision(t *testing.T) {
	t.Parallel()
	url := startTestNATS(t)
	addr := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 40000}
	users := make([]*User, 2)
	for i := range users {
		s := NewServer(DefaultConfig())
		leave, err := startCluster(s, clusterFlags{urls: url, lease: testLease})
		require.NoError(t, err)
		t.Cleanup(leave)
		users[i] = NewUser(&discardConn{addr: addr}, s)
		require.NoError(t, s.Online(users[i]))
		t.Cleanup(func() {
			s.cluster.leave(users[i], s.Offline(users[i])) // no address budget here: no serveConn
			users[i].Close("")
		})
	}
	assert.Equal(t, "10.0.0.1:40000", users[0].Name)
	assert.Equal(t, "10.0.0.1:40000#2", users[1].Name)
}
