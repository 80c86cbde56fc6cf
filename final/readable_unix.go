//go:build unix

package main

import (
	"os"
	"syscall"
)

// waitReadable blocks until c has bytes to read, the peer has closed or
// reset the connection, or the read deadline has passed, and reads
// nothing: it peeks at most one byte, into no buffer of the caller's. The
// goroutine sleeps in the runtime's network poller, as in any Read.
func waitReadable(c syscall.RawConn) error {
	var peekErr error
	err := c.Read(func(fd uintptr) bool {
		var b [1]byte
		for {
			_, _, peekErr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK)
			if peekErr != syscall.EINTR {
				break
			}
		}
		return peekErr != syscall.EAGAIN // false: nothing yet, wait for the poller
	})
	if err != nil {
		return err
	}
	if peekErr != nil {
		// A reset is reported here, not by the Read after it, which would
		// see a plain end of stream and take a cut-off line as the last one.
		return os.NewSyscallError("recvfrom", peekErr)
	}
	return nil
}
