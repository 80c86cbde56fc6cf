package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// console is the terminal, shared by the menu and DealResponse. Each call
// writes whole lines under one lock, so a server line and a prompt never
// mix mid-line, whatever order they come in.
type console struct {
	mu sync.Mutex
	w  io.Writer
}

// Print writes s, which should end with a newline.
func (c *console) Print(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, _ = io.WriteString(c.w, s) // nowhere better to report a broken terminal
}

// Println writes s and a newline.
func (c *console) Println(s string) { c.Print(s + "\n") }

const (
	// lineWait is how long DealResponse waits for the rest of a line
	// before it shows what it has, ended with a newline: the chapter 09
	// server sends some replies (该用户不存在…) without one.
	lineWait = 100 * time.Millisecond
	// maxPending bounds a line held back while waiting for its newline.
	maxPending = 64 * 1024
)

// DealResponse shows the server's messages until the connection ends and
// returns why (io.EOF when the server closed it). It shows whole lines
// only: the start of a line is held back until its '\n' arrives, or for
// lineWait at most, and then ended with a newline of ours. A character
// cut in the middle by that wait is held back one lineWait more, so that
// it is shown whole when its other bytes arrive.
func (c *Client) DealResponse() error {
	buf := make([]byte, 4096)
	var pending []byte // a line whose '\n' has not arrived yet
	held := false      // pending is the start of a character that has waited lineWait
	for {
		var deadline time.Time // none
		if len(pending) > 0 {
			deadline = time.Now().Add(lineWait)
		}
		if err := c.conn.SetReadDeadline(deadline); err != nil {
			return err
		}
		n, err := c.conn.Read(buf)
		if n > 0 {
			held = false
		}
		pending = append(pending, buf[:n]...)
		if i := bytes.LastIndexByte(pending, '\n'); i >= 0 {
			c.out.Print(printable(pending[:i+1]))
			pending = append(pending[:0], pending[i+1:]...)
		}
		timedOut := errors.Is(err, os.ErrDeadlineExceeded)
		if len(pending) > 0 && (timedOut || err != nil || len(pending) >= maxPending) {
			keep := 0
			if timedOut && !held {
				keep = partialRune(pending)
			}
			if cut := len(pending) - keep; cut > 0 {
				line := append(pending[:cut:cut], '\n') // a copy: the kept bytes stay
				c.out.Print(printable(line))
				pending = append(pending[:0], pending[cut:]...)
			}
			held = keep > 0
		}
		if err != nil && !timedOut {
			return err
		}
	}
}

// partialRune returns how many bytes at the end of b are the start of a
// UTF-8 character whose other bytes have not arrived yet (0 if none).
func partialRune(b []byte) int {
	for n := 1; n <= min(utf8.UTFMax-1, len(b)); n++ {
		tail := b[len(b)-n:]
		if !utf8.RuneStart(tail[0]) {
			continue // a continuation byte: the start is further back
		}
		if utf8.FullRune(tail) {
			return 0
		}
		return n
	}
	return 0
}

// printable returns server lines (each ending in '\n') as safe terminal
// text: "\r\n" becomes "\n", and any other control character, or a byte
// that is not UTF-8, is shown as an escape such as \x1b instead of acting
// on the terminal (moving the cursor, clearing the screen, faking a line).
// The chapter 09 server relays such bytes from any user.
func printable(lines []byte) string {
	var b strings.Builder
	b.Grow(len(lines))
	for len(lines) > 0 {
		r, size := utf8.DecodeRune(lines)
		switch {
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r == '\r' && len(lines) > 1 && lines[1] == '\n':
			// the line ending of a telnet user, kept by the server
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, lines[0])
		case unicode.IsControl(r) && r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
		lines = lines[size:]
	}
	return b.String()
}
