package main

import (
	"bytes"
	"errors"
	"io"
	"sync"
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

// readBufSize is the size of a read buffer. A connection borrows one from
// readBufs only while bytes it has read wait to be cut into lines, and an
// idle connection holds none, so the size costs idle users nothing: 4 KiB
// takes a whole line of the default -max-line in one read.
const readBufSize = 4096

var readBufs = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// readWaiter is a source that can wait until it has bytes to read without
// being handed a buffer (User does, on Unix). The line reader then borrows
// a buffer only once there is something to read.
type readWaiter interface {
	waitReadable() error
}

// lineReader cuts a byte stream into lines at '\n', accepting "\r\n".
type lineReader struct {
	r        io.Reader
	readSize int          // bytes one read may take, at most readBufSize
	max      int          // longest line, in bytes, without its "\n" or "\r\n"
	buf      *[]byte      // borrowed from readBufs while data is not empty
	data     []byte       // read but not yet cut into lines: a part of *buf
	err      error        // what ended the last read; returned once data is used up
	long     []byte       // a line that spans reads, being assembled
	telnet   telnetFilter // drops telnet commands, even split across reads
	dropped  int          // bytes the telnet filter dropped, not yet reported by skipped
	size     int          // bytes the last line took in the stream, its line end included
}

// newLineReader reads lines of at most max bytes from r, at most readSize
// bytes (up to readBufSize) at a time. Lines that span reads are assembled
// in a separate slice.
func newLineReader(r io.Reader, readSize, max int) *lineReader {
	return &lineReader{r: r, readSize: min(readSize, readBufSize), max: max}
}

// ReadLine returns the next line without its "\n" or "\r\n"; it is valid
// until the next call. A last line without a newline is returned before
// io.EOF. A line longer than max is read to its end, kept nowhere (memory
// stays bounded however long it is) and reported as errLineTooLong.
func (lr *lineReader) ReadLine() ([]byte, error) {
	lr.long = nil // the previous line is no longer needed
	size := 0     // bytes of this line so far, its line end included
	for {
		if len(lr.data) == 0 {
			if err := lr.fill(); err != nil {
				if err != io.EOF || size == 0 {
					return nil, err // a partial line cut off by an error is not a line
				}
				return lr.finish(nil, size) // the last line, without a newline
			}
		}
		i := bytes.IndexByte(lr.data, '\n')
		if i < 0 { // the line goes on in a later read
			size += len(lr.data)
			if size <= lr.max+len("\r\n") {
				lr.long = append(lr.long, lr.data...)
			}
			lr.data = nil
			continue
		}
		chunk := lr.data[:i+1]
		lr.data = lr.data[i+1:]
		return lr.finish(chunk, size+len(chunk))
	}
}

// finish returns the line that ends with chunk, size bytes long in all.
func (lr *lineReader) finish(chunk []byte, size int) ([]byte, error) {
	lr.size = size
	if size > lr.max+len("\r\n") {
		return nil, errLineTooLong
	}
	line := chunk
	if len(lr.long) > 0 {
		lr.long = append(lr.long, chunk...)
		line = lr.long
	}
	if line = trimEOL(line); len(line) > lr.max {
		return nil, errLineTooLong
	}
	return line, nil
}

// fill gives back the used-up buffer, waits until r has bytes to read, and
// only then borrows a buffer and reads them. If all that arrived were
// telnet commands, the buffer goes back and fill waits again.
func (lr *lineReader) fill() error {
	lr.release()
	for lr.err == nil {
		if w, ok := lr.r.(readWaiter); ok {
			if lr.err = w.waitReadable(); lr.err != nil {
				break
			}
		}
		buf := readBufs.Get().(*[]byte)
		var n int
		n, lr.err = lr.r.Read((*buf)[:lr.readSize])
		kept := lr.telnet.filter((*buf)[:n])
		lr.dropped += n - kept
		if n = kept; n > 0 {
			lr.buf, lr.data = buf, (*buf)[:n]
			return nil
		}
		readBufs.Put(buf)
	}
	return lr.err
}

// cost returns how many bytes the last line took in the stream, with its
// line end and the telnet commands read since the previous call: input
// that delivers nothing still costs its sender.
func (lr *lineReader) cost() int {
	n := lr.size + lr.dropped
	lr.size, lr.dropped = 0, 0
	return n
}

// release gives the read buffer back to readBufs.
func (lr *lineReader) release() {
	if lr.buf != nil {
		readBufs.Put(lr.buf)
		lr.buf, lr.data = nil, nil
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

// telnetFilter drops telnet IAC sequences from what is read, even when one
// is split across reads. Valid UTF-8 never contains the byte 255, so text
// from other clients passes through untouched.
type telnetFilter struct {
	state telnetState
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
// sequences, a bare CR, C1 controls) is dropped, as are line and paragraph
// separators and every invisible format character (isInvisible): what is
// left cannot move the cursor, repaint a screen, start a fake line or
// reorder the text. A run of more than maxBlankRun blank-looking characters
// is cut to maxBlankRun, so padding cannot push text onto a wrapped line
// of its own that reads as another user's message (issue 10).
func sanitize(line []byte) string {
	if isPlainASCII(line) {
		return string(line)
	}
	out := make([]byte, 0, len(line))
	blanks := 0 // blank-looking characters just before
	for len(line) > 0 {
		r, size := utf8.DecodeRune(line)
		line = line[size:]
		if r == '\t' {
			r = ' '
		}
		switch {
		case r == '\b' || r == 0x7f:
			if len(out) > 0 {
				_, n := utf8.DecodeLastRune(out)
				out = out[:len(out)-n]
			}
			blanks = 0
		case unicode.IsControl(r) || isInvisible(r):
			// dropped
		case isBlank(r):
			if blanks++; blanks <= maxBlankRun {
				out = utf8.AppendRune(out, r)
			}
		default:
			out = utf8.AppendRune(out, r) // an invalid byte decodes to U+FFFD
			blanks = 0
		}
	}
	return string(out)
}

// maxBlankRun is the longest run of blank-looking characters a line keeps.
const maxBlankRun = 4

// isPlainASCII reports whether b holds only printable ASCII without a run
// of more than maxBlankRun spaces, the common case that needs no work.
func isPlainASCII(b []byte) bool {
	spaces := 0
	for _, c := range b {
		if c < ' ' || c > '~' {
			return false
		}
		if c != ' ' {
			spaces = 0
		} else if spaces++; spaces > maxBlankRun {
			return false
		}
	}
	return true
}

// Join controls that real text needs: ZWJ joins emoji sequences (👨‍👩‍👧),
// ZWNJ keeps Persian and Indic letters apart. Messages keep them (and the
// variation selectors, which are not format characters); names do not.
const (
	zwnj = '\u200c'
	zwj  = '\u200d'
)

// isInvisible reports the characters sanitize drops besides controls:
// line and paragraph separators, and the default-ignorable and format
// characters (Go has no Default_Ignorable_Code_Point table; it is built
// from Cf and Other_Default_Ignorable_Code_Point, with the variation
// selectors kept): bidirectional marks, embeddings, overrides and isolates
// (LRM, RLM, ALM…), zero-width spaces, soft hyphens, BOM, tag characters,
// Hangul fillers. They draw nothing, or make text read as something else.
func isInvisible(r rune) bool {
	if r < 0xa0 || r == zwj || r == zwnj {
		return false
	}
	return r == '\u2028' || r == '\u2029' ||
		unicode.In(r, unicode.Cf, unicode.Other_Default_Ignorable_Code_Point)
}

// isBlank reports the characters that draw as empty space: the space
// separators (U+0020, U+00A0, U+3000, …) and the braille blank U+2800.
// (The Hangul fillers U+3164 and U+FFA0 are default-ignorable: dropped.)
func isBlank(r rune) bool {
	return r == ' ' || r == '\u2800' || unicode.Is(unicode.Zs, r)
}
