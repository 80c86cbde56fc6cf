package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"im-workbook/chattest"
)

// startServer runs a Server in this process on a free loopback port, with
// the default limits changed by tune, and shuts it down when the test ends.
func startServer(t testing.TB, tune func(*Config)) (*Server, string) {
	t.Helper()
	s := newServer(t, tune)
	return s, serve(t, s)
}

// newServer is a Server with the default limits changed by tune.
func newServer(t testing.TB, tune func(*Config)) *Server {
	t.Helper()
	cfg := DefaultConfig()
	if tune != nil {
		tune(&cfg)
	}
	require.NoError(t, cfg.validate())
	return NewServer(cfg)
}

// serve serves s on a free loopback port, and shuts it down (and waits)
// when the test ends; it returns the address.
func serve(t testing.TB, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), chattest.Patience)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// client is a test's chat client.
type client struct {
	t    testing.TB
	conn *net.TCPConn
	r    *bufio.Reader
	addr string // its own address: its default name
}

// dial connects and reads the client's own "已上线" line.
func dial(t testing.TB, addr string) *client {
	t.Helper()
	c := dialRaw(t, addr)
	c.expect(c.prefix() + "已上线\n")
	return c
}

// dialRaw connects without reading anything.
func dialRaw(t testing.TB, addr string) *client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, chattest.Patience)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return &client{t: t, conn: conn.(*net.TCPConn), r: bufio.NewReader(conn), addr: conn.LocalAddr().String()}
}

// prefix is what the server puts before this client's messages while it
// has its default name.
func (c *client) prefix() string { return "[" + c.addr + "]" + c.addr + ": " }

func (c *client) send(s string) {
	c.t.Helper()
	_, err := c.conn.Write([]byte(s))
	require.NoError(c.t, err)
}

// line reads the next line, newline included.
func (c *client) line() string {
	c.t.Helper()
	require.NoError(c.t, c.conn.SetReadDeadline(time.Now().Add(chattest.Patience)))
	s, err := c.r.ReadString('\n')
	require.NoError(c.t, err, "read so far: %q", s)
	return s
}

func (c *client) expect(want string) {
	c.t.Helper()
	for _, w := range strings.SplitAfter(want, "\n") {
		if w != "" {
			require.Equal(c.t, w, c.line())
		}
	}
}

// nothing checks that no byte arrives within chattest.Quiet.
func (c *client) nothing() {
	c.t.Helper()
	require.NoError(c.t, c.conn.SetReadDeadline(time.Now().Add(chattest.Quiet)))
	b, err := c.r.ReadByte()
	if err == nil {
		rest, _ := c.r.Peek(c.r.Buffered())
		c.t.Fatalf("expected nothing, got %q", string(b)+string(rest))
	}
	require.ErrorIs(c.t, err, os.ErrDeadlineExceeded)
}

// closed reads to the end of the connection and returns what came before.
func (c *client) closed() string {
	c.t.Helper()
	require.NoError(c.t, c.conn.SetReadDeadline(time.Now().Add(chattest.Patience)))
	rest, err := io.ReadAll(c.r)
	if err != nil && !isReset(err) {
		c.t.Fatalf("reading to the end: %v (after %q)", err, rest)
	}
	return string(rest)
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && strings.Contains(op.Err.Error(), "reset")
}

// rename renames the client and checks the reply.
func (c *client) rename(name string) {
	c.t.Helper()
	c.send("rename " + name + "\n")
	c.expect("用户名已修改为：" + name + "\n")
}

// waitFor polls cond (for conditions no client can observe) until it holds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(chattest.Patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// online returns the number of users online.
func (s *Server) online() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.OnlineMap)
}

// connCount returns the number of connections being served.
func (s *Server) connCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}
