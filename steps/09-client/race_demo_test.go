//go:build racedemo && race

package main

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"im-workbook/chattest"
)

// TestRaceOnUserMap 故意制造本章的数据竞争，并检查竞态检测器报告了它。在本章目录下运行：
//
//	go test -race -tags racedemo -run Race -v .
//
// 服务器子进程就是这个测试程序本身（见 chattest.Child），同样带 -race 编译，
// 所以竞态报告（WARNING: DATA RACE）出现在服务器的控制台上，测试把它打印出来。
//
// 竞争在哪里：alice 想改成一个已被占用的名字时，她读消息的 goroutine 在 DoMessage 里
// 不加锁就读了 this.server.OnlineUserMap[newName]，然后只回一句「当前用户名已经被使用」，
// 之后不再碰 mapLock，也不发广播。接着 carol 上线，她的 Handler goroutine 在 Online 里
// （加了锁）写 OnlineUserMap。一次加锁、一次不加锁，两次访问之间没有任何同步
// （happens-before），所以竞态检测器每次都能发现：不靠运气，也不靠时机。
//
// 改名成功的那条路径反而查不出来：改名之后立刻加锁，锁把两次访问串了起来。
// 竞态检测器只能发现真正执行到的、没有同步的访问，它不能证明程序没有竞争。
func TestRaceOnUserMap(t *testing.T) {
	srv := chattest.Child{}.Start(t, nil)

	alice := dial(t, srv.Addr)
	alice.await(t, "已上线\n")
	bob := dial(t, srv.Addr)
	bob.await(t, "已上线\n")
	alice.await(t, "已上线\n")

	// 先成功改一次名。回复是在持锁期间发出的，所以 alice 收到它时，之前的广播
	// （ListenMessager 遍历 map）一定已经结束。否则 ListenMessager 遍历末尾对 map 的读
	// 偶尔会晚于下面那次读，挤掉竞态检测器为这个地址记下的访问（影子内存只记最近几次），
	// 报告就漏掉了。
	alice.send(t, "rename alice\n")
	alice.await(t, "用户名已修改为：alice\n")

	// bob 的名字就是他的地址：这次改名不会成功，也不会加锁。
	alice.send(t, "rename "+bob.c.LocalAddr().String()+"\n")
	alice.await(t, "当前用户名已经被使用\n")

	carol := dial(t, srv.Addr)
	carol.await(t, "已上线\n")

	console := awaitRaceReport(t, srv.Console)
	t.Logf("服务器控制台：\n%s", console)
	for _, want := range []string{".(*User).DoMessage()", ".(*User).Online()"} {
		if !strings.Contains(console, want) {
			t.Errorf("the race report does not name %s", want)
		}
	}
}

// conn is a client that keeps what the server has sent it.
type conn struct {
	c   net.Conn
	r   *bufio.Reader
	got strings.Builder
}

func dial(t *testing.T, addr string) *conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, chattest.Patience)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &conn{c: c, r: bufio.NewReader(c)}
}

func (c *conn) send(t *testing.T, s string) {
	t.Helper()
	if _, err := c.c.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

// await reads until what the client has received ends with suffix.
func (c *conn) await(t *testing.T, suffix string) {
	t.Helper()
	if err := c.c.SetReadDeadline(time.Now().Add(chattest.Patience)); err != nil {
		t.Fatal(err)
	}
	for !strings.HasSuffix(c.got.String(), suffix) {
		b, err := c.r.ReadByte()
		if err != nil {
			t.Fatalf("waiting for %q: %v; received %q", suffix, err, c.got.String())
		}
		c.got.WriteByte(b)
	}
}

// awaitRaceReport waits until the server's console shows a whole race
// report (from its WARNING line to the closing row of '=') and returns
// everything the server printed.
func awaitRaceReport(t *testing.T, console *chattest.Stream) string {
	t.Helper()
	const warning, rule = "WARNING: DATA RACE\n", "\n==================\n"
	deadline := time.Now().Add(chattest.Patience)
	for {
		out := string(console.Bytes())
		if i := strings.Index(out, warning); i >= 0 && strings.Contains(out[i:], rule) {
			return out
		}
		if time.Now().After(deadline) || console.Closed() != nil {
			t.Fatalf("the server's console never showed a whole race report; it printed:\n%s", out)
		}
		time.Sleep(10 * time.Millisecond) // polling: the console has no change notification for us
	}
}
