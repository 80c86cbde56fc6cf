//go:build !linux

package proc

import "os/exec"

// dieWithParent is a no-op where the kernel has no parent-death signal: an
// interrupted test run may leave child servers behind there.
func dieWithParent(*exec.Cmd) {}
