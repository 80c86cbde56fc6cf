//go:build !unix

package main

import "syscall"

// waitReadable does not wait where there is no MSG_PEEK to ask the socket
// with: the Read that follows waits instead, holding its buffer.
func waitReadable(syscall.RawConn) error {
	return nil
}
