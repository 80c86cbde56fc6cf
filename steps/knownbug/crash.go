package knownbug

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"im-workbook/chattest"
)

// SendOnClosedChannel 走一条必然崩溃的路径，让第 7 章起的服务器崩溃：
// panic: send on closed channel。
//
// 对话记录做不到让它每次都发生：几个用户同时超时的时候，崩不崩取决于几微秒的先后。
// 但教程代码里有一条路径是必然崩溃的，这个测试就走这条路：
//
//  1. slow 连上以后从不读数据。alice 不停地发消息，每条都广播给 slow，
//     slow 的 TCP 缓冲区很快就满了，他的 ListenMessage 卡在 conn.Write 上；
//  2. ListenMessager 卡在 slow.C <- msg 上（还拿着 mapLock），
//     alice 读消息的 goroutine 卡在 BroadCast 的 this.Message <- sendMsg 上，
//     也就是卡在 DoMessage 里面，没机会发 isLive <- true；
//  3. 10 秒后 alice 超时被踢：Handler 执行 close(user.C)、conn.Close()、close(isLive)，
//     然后在 Offline 里等 mapLock；
//  4. slow 断开，卡住的 Write 出错返回，一切重新动起来。alice 读消息的 goroutine
//     的 BroadCast 终于完成，接着执行 isLive <- true：isLive 已经关闭，panic。
//     （如果 ListenMessager 先把消息送进已关闭的 alice.C，panic 的信息也一样。）
//
// 慢客户端把所有人卡住，本身就是第 2 章起就有的 bug；final 两个都修好了。
func SendOnClosedChannel(t *testing.T, start chattest.StartFunc) {
	srv := start(t, nil)

	slow := dialConn(t, srv.Addr) // never reads
	alice := dialConn(t, srv.Addr)

	// alice reads everything the server sends her, keeping only the end
	// and whether 你被踢了 came at all (thousands of blank lines from the
	// spinning ListenMessage can follow it).
	tail := &tailBuffer{max: 256, marker: "你被踢了\n"}
	drained := make(chan error, 1)
	go func() {
		_, err := io.Copy(tail, alice)
		drained <- err
	}()

	// alice floods: far more than slow's socket buffers can hold. The
	// writes stop by themselves once the server stops reading alice.
	go func() {
		line := append(bytes.Repeat([]byte("x"), 1023), '\n')
		for i := 0; i < 64*1024; i++ {
			if _, err := alice.Write(line); err != nil {
				return
			}
		}
	}()

	// About 10 s later alice is kicked: her connection ends. The server
	// closes it with alice's unread flood still in its receive buffer, so
	// the end is often a reset rather than a clean EOF.
	select {
	case err := <-drained:
		if err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("alice's connection ended with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("alice was not kicked within 20 s; she last received %q", tail.String())
	}
	if !tail.Seen() {
		t.Fatalf("alice's connection ended without 你被踢了; she last received %q", tail.String())
	}

	// slow leaves; everything that waited on him moves again, and the server dies.
	_ = slow.Close()
	select {
	case <-srv.Program.Exited():
	case <-time.After(chattest.Patience):
		t.Fatalf("the server is still running %v after slow left", chattest.Patience)
	}
	out := srv.Console.ReadToEnd(t)
	if !strings.HasPrefix(out, "panic: send on closed channel\n") {
		t.Fatalf("the server exited (%v), but not with panic: send on closed channel:\n%s", srv.Program.Err(), out)
	}
	t.Logf("the server exited (%v):\n%s", srv.Program.Err(), out)
}

func dialConn(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, chattest.Patience)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// tailBuffer is an io.Writer that keeps only the last max bytes written,
// and remembers whether marker ever appeared in what was written.
type tailBuffer struct {
	mu     sync.Mutex
	max    int
	marker string
	seen   bool
	buf    []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	// The marker may straddle two writes: look at it before trimming.
	b.seen = b.seen || strings.Contains(string(b.buf), b.marker)
	if over := len(b.buf) - max(b.max, len(b.marker)); over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) Seen() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seen
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
