package main

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// discardConn is a connection that takes every write at once: the
// benchmark measures the server's own broadcast path, not the kernel's.
type discardConn struct {
	net.Conn // nil: the methods below are all the server calls
	addr     net.Addr
}

func (c *discardConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *discardConn) Close() error                     { return nil }
func (c *discardConn) RemoteAddr() net.Addr             { return c.addr }
func (c *discardConn) SetDeadline(time.Time) error      { return nil }
func (c *discardConn) SetReadDeadline(time.Time) error  { return nil }
func (c *discardConn) SetWriteDeadline(time.Time) error { return nil }

// BenchmarkBroadcast measures one message said to n online users: building
// it once, putting it in every queue, and the writers batching it out.
//
//	go test -run '^$' -bench Broadcast -benchmem
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			s := NewServer(DefaultConfig())
			users := make([]*User, n)
			for i := range users {
				addr := &net.TCPAddr{IP: net.IPv4(10, 0, byte(i/250), byte(i%250+1)), Port: 40000 + i}
				users[i] = NewUser(&discardConn{addr: addr}, s)
				if err := s.Online(users[i]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				s.BroadCast(users[0], "hello, everyone")
			}
			b.ReportMetric(float64(b.N)*float64(n)/b.Elapsed().Seconds(), "deliveries/s")
			for _, u := range users {
				u.Close("") // waits for its writer
			}
		})
	}
}
