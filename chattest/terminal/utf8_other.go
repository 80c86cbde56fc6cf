//go:build unix && !linux && !darwin

package terminal

import "os"

// setUTF8 does nothing here: this system's tty has no IUTF8 flag, so its
// own line editing erases a byte, not a character, as a terminal window
// on it does too.
func setUTF8(*os.File) error { return nil }
