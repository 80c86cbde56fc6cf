//go:build !unix

package chattest

import "io"

// LockChapterPort does nothing where there is no flock: test processes
// that start the tutorial's servers may then collide on port 8888.
func LockChapterPort(io.Writer) (unlock func(), err error) { return func() {}, nil }
