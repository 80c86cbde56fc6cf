package terminal

import (
	"os"

	"golang.org/x/sys/unix"
)

// setUTF8 turns the tty's IUTF8 on, as a UTF-8 terminal window does: in
// the tty's own line editing a backspace then erases a whole character.
func setUTF8(tty *os.File) error {
	tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		return err
	}
	tio.Iflag |= unix.IUTF8
	return unix.IoctlSetTermios(int(tty.Fd()), unix.TCSETS, tio)
}
