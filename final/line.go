package main

import (
	"bufio"
	"errors"
	"io"
	"unicode"
	"unicode/utf8"
)

// Fixes 1, 2 and 3: the chapters read "whatever one Read returned" and cut
// off its last byte (buf[:n-1]). Here a byte stream becomes lines, exactly
// as the user typed them, in three small stages:
//
//	conn → telnetFilter (drops IAC sequences) → lineReader (cuts at '\n',
//	bounds the length) → sanitize (repairs UTF-8, drops control characters)

// errLineTooLong reports a line longer than the limit. The whole line has
// been consumed (and forgotten); the next ReadLine starts on the next line.
var errLineTooLong = errors.New("line too long")

// lineReader cuts a byte stream into lines at '\n', accepting "\r\n".
type lineReader struct {
	br   *bufio.Reader
	max  int    // longest line, in bytes, without its "\n" or "\r\n"
	long []byte // a line that did not fit in br's buffer, being assembled
}

// newLineReader reads lines of at most max bytes from r, through a buffer
// of bufSize bytes (lines longer than the buffer are assembled in a
// separate slice, so the buffer itself can stay small).
func newLineReader(r io.Reader, bufSize, max int) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(&telnetFilter{r: r}, bufSize), max: max}
}

// ReadLine returns the next line without its "\n" or "\r\n"; it is valid
// until the next call. A last line without a newline is returned before
// io.EOF. A line longer than max is read to its end, kept nowhere (memory
// stays bounded however long it is) and reported as errLineTooLong.
func (lr *lineReader) ReadLine() ([]byte, error) {
	lr.long = lr.long[:0]
	size, tooLong := 0, false
	for {
		chunk, err := lr.br.ReadSlice('\n')
		size += len(chunk)
		tooLong = tooLong || size > lr.max+len("\r\n")
		if err == bufio.ErrBufferFull {
			if !tooLong {
				lr.long = append(lr.long, chunk...)
			}
			continue
		}
		if err != nil && (err != io.EOF || size == 0) {
			return nil, err // a partial line cut off by an error is not a line
		}
		if tooLong {
			return nil, errLineTooLong
		}
		line := chunk
		if len(lr.long) > 0 {
			lr.long = append(lr.long, chunk...)
			line = lr.long
		}
		line = trimEOL(line)
		if len(line) > lr.max {
			return nil, errLineTooLong
		}
		return line, nil
	}
}

// trimEOL removes one trailing "\n" and then one trailing "\r".
func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

// Telnet commands (RFC 854). A telnet client may send them at any point of
// the stream; they are protocol, not text.
const (
	telnetSE   = 240 // end of subnegotiation
	telnetSB   = 250 // start of subnegotiation
	telnetWILL = 251 // WILL, WONT, DO, DONT (251–254) take one option byte
	telnetIAC  = 255 // "interpret as command"
)

type telnetState uint8

const (
	tsData   telnetState = iota
	tsIAC                // after IAC
	tsOption             // after IAC WILL/WONT/DO/DONT
	tsSub                // inside IAC SB … IAC SE
	tsSubIAC             // after IAC inside a subnegotiation
)

// telnetFilter drops telnet IAC sequences from a byte stream, even when one
// is split across reads. Valid UTF-8 never contains the byte 255, so text
// from other clients passes through untouched.
type telnetFilter struct {
	r     io.Reader
	state telnetState
}

func (f *telnetFilter) Read(p []byte) (int, error) {
	for {
		n, err := f.r.Read(p)
		n = f.filter(p[:n])
		if n > 0 || err != nil || len(p) == 0 {
			return n, err
		}
		// Only telnet commands arrived: read again rather than return 0, nil.
	}
}

// filter removes telnet commands from b in place and returns the length of
// what is left.
func (f *telnetFilter) filter(b []byte) int {
	out := 0
	for _, c := range b {
		switch f.state {
		case tsData:
			if c == telnetIAC {
				f.state = tsIAC
				continue
			}
			b[out] = c
			out++
		case tsIAC:
			switch {
			case c == telnetIAC: // IAC IAC is a data byte 255 (repaired later: it is not UTF-8)
				b[out] = c
				out++
				f.state = tsData
			case c >= telnetWILL:
				f.state = tsOption
			case c == telnetSB:
				f.state = tsSub
			default: // a two-byte command: NOP, IP, AYT, …
				f.state = tsData
			}
		case tsOption:
			f.state = tsData
		case tsSub:
			if c == telnetIAC {
				f.state = tsSubIAC
			}
		case tsSubIAC:
			if c == telnetSE {
				f.state = tsData
			} else {
				f.state = tsSub
			}
		}
	}
	return out
}

// sanitize makes a received line safe to show on other users' terminals:
// invalid UTF-8 becomes U+FFFD, backspace and DEL erase the character before
// them (a telnet in character mode sends them as typed), a tab becomes a
// space, and every other control character (NUL, BEL, ESC of ANSI/OSC
// sequences, a bare CR, C1 controls) is dropped, as are the Unicode
// characters that reorder or break lines. What is left cannot move the
// cursor, repaint a screen or start a fake line.
func sanitize(line []byte) string {
	if isPlainASCII(line) {
		return string(line)
	}
	out := make([]byte, 0, len(line))
	for len(line) > 0 {
		r, size := utf8.DecodeRune(line)
		line = line[size:]
		switch {
		case r == '\b' || r == 0x7f:
			if len(out) > 0 {
				_, n := utf8.DecodeLastRune(out)
				out = out[:len(out)-n]
			}
		case r == '\t':
			out = append(out, ' ')
		case unicode.IsControl(r) || isLayoutControl(r):
			// dropped
		default:
			out = utf8.AppendRune(out, r) // an invalid byte decodes to U+FFFD
		}
	}
	return string(out)
}

// isPlainASCII reports whether b holds only printable ASCII, the common
// case that needs no work.
func isPlainASCII(b []byte) bool {
	for _, c := range b {
		if c < ' ' || c > '~' {
			return false
		}
	}
	return true
}

// isLayoutControl reports the format characters that change how a line is
// laid out: line and paragraph separators, and bidirectional embeddings,
// overrides and isolates (which can make text read as something else).
func isLayoutControl(r rune) bool {
	return r == '\u2028' || r == '\u2029' ||
		r >= '\u202a' && r <= '\u202e' ||
		r >= '\u2066' && r <= '\u2069'
}
