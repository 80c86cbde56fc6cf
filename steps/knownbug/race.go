package knownbug

import (
	"net"
	"strings"
	"testing"

	"im-workbook/chattest"
	"im-workbook/chattest/proc"
)

// RaceOnUserMap 故意制造第 6 章起的数据竞争，并检查竞态检测器报告了它。
// 章节里的演示（race_demo_test.go，构建标签 racedemo）在章节目录下这样运行：
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
func RaceOnUserMap(t *testing.T, start chattest.StartFunc) {
	if !raceDetector {
		t.Fatal("这个演示需要竞态检测器：go test -race -tags racedemo -run Race -v .")
	}
	srv := start(t, nil)

	alice := dial(t, srv.Addr, "alice")
	alice.Expect(t, "已上线\n")
	bob := dial(t, srv.Addr, "bob")
	bob.Expect(t, "已上线\n")
	alice.Expect(t, "已上线\n")

	// 先成功改一次名。回复是在持锁期间发出的，所以 alice 收到它时，之前的广播
	// （ListenMessager 遍历 map）一定已经结束。否则 ListenMessager 遍历末尾对 map 的读
	// 偶尔会晚于下面那次读，挤掉竞态检测器为这个地址记下的访问（影子内存只记最近几次），
	// 报告就漏掉了。
	alice.types(t, "rename alice\n")
	alice.Expect(t, "用户名已修改为：alice\n")

	// bob 的名字就是他的地址：这次改名不会成功，也不会加锁。
	alice.types(t, "rename "+bob.conn.LocalAddr().String()+"\n")
	alice.Expect(t, "当前用户名已经被使用\n")

	carol := dial(t, srv.Addr, "carol")
	carol.Expect(t, "已上线\n")

	// A whole report runs from its WARNING line to a closing row of '='.
	console := srv.Console
	console.Expect(t, "WARNING: DATA RACE\n")
	report := console.Expect(t, "\n==================\n")
	t.Logf("服务器控制台上的竞态报告：\nWARNING: DATA RACE\n%s", report)
	for _, want := range []string{".(*User).DoMessage()", ".(*User).Online()"} {
		if !strings.Contains(report, want) {
			t.Errorf("the race report does not name %s", want)
		}
	}
}

// client is one TCP connection, with a Watch over what it receives.
type client struct {
	*chattest.Watch
	conn net.Conn
}

func dial(t *testing.T, addr, name string) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, chattest.Patience)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &client{Watch: chattest.NewWatch(name, proc.NewStream(c)), conn: c}
}

// types writes text to the server in one write.
func (c *client) types(t *testing.T, text string) {
	t.Helper()
	if _, err := c.conn.Write([]byte(text)); err != nil {
		t.Fatal(err)
	}
}
