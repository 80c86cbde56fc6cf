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
//	conn → telnet (answers and drops IAC sequences, repairs what telnet
//	damaged, echoes in character mode) → lineReader (cuts at the line end,
//	bounds the length) → sanitize (repairs UTF-8, drops control characters)

// errLineTooLong reports a line longer than the limit. The whole line has
// been consumed (and forgotten); the next ReadLine starts on the next line.
var errLineTooLong = errors.New("line too long")

// replyDamaged tells a telnet user that a line telnet damaged was not sent.
// (inetutils telnet takes some bytes inside Chinese characters for its
// escape key ^] and loses the rest of that line; see telnet.go.)
const replyDamaged = "刚才那一行被 telnet 弄坏了，没有发出（telnet 把汉字里的一个字节当成了 ^] 之类的控制键）；现在可以重新输入。要避免：telnet -E，或者用 nc\n"

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

// replier is a source the line reader can answer (User is: its send
// queues bytes for the client). Telnet answers, the echo of a telnet in
// character mode, and the notice about a damaged line go there; a source
// that is not a replier gets none of them.
type replier interface {
	send(msg []byte)
}

// payer is a source whose sender pays for input that delivers nothing to
// others (User is: its own budget). The line reader charges it the telnet
// commands and the echo of each read before it reads again.
type payer interface {
	pay(n int) error
}

// lineReader cuts a byte stream into lines at '\n', accepting "\r\n" (the
// telnet filter turns the other line ends of telnet clients into '\n').
type lineReader struct {
	r           io.Reader
	reply       func([]byte) // sends bytes back to the client; nil: none are sent
	payer       payer        // charges the sender; nil: nothing is charged
	readSize    int          // bytes one read may take, at most readBufSize
	max         int          // longest line, in bytes, without its "\n" or "\r\n"
	buf         *[]byte      // borrowed from readBufs while data or raw is not empty
	raw         []byte       // read but not yet through the telnet filter: a part of *buf
	data        []byte       // filtered but not yet cut into lines: a part of *buf
	err         error        // what ended the last read; returned once data is used up
	long        []byte       // a line that spans reads, being assembled
	size        int          // bytes of the current line so far, its line end included
	telnet      telnet       // the telnet side of the connection
	crlf        bool         // the client has been switched to "\r\n" line ends (character mode)
	toldDamaged bool         // the client has been told that a damaged line was dropped
	unpaid      int          // bytes of telnet commands read and of echo sent, not yet paid
}

// newLineReader reads lines of at most max bytes from r, at most readSize
// bytes (up to readBufSize) at a time. Lines that span reads are assembled
// in a separate slice.
func newLineReader(r io.Reader, readSize, max int) *lineReader {
	lr := &lineReader{r: r, readSize: min(readSize, readBufSize), max: max}
	if rp, ok := r.(replier); ok {
		lr.reply = rp.send
	}
	if p, ok := r.(payer); ok {
		lr.payer = p
	}
	return lr
}

// ReadLine returns the next line without its line end; it is valid until
// the next call. A last line without a newline is returned before io.EOF.
// A line longer than max is read to its end, kept nowhere (memory stays
// bounded however long it is) and reported as errLineTooLong. A line that
// telnet damaged beyond repair is not returned: the client is told instead.
func (lr *lineReader) ReadLine() ([]byte, error) {
	for {
		line, err := lr.readLine()
		if err == nil && lr.telnet.keyed && !utf8.Valid(line) {
			// A special key arrived outside a character: not repairable.
			lr.tellDamaged()
			continue
		}
		return line, err
	}
}

func (lr *lineReader) readLine() ([]byte, error) {
	lr.long = nil // the previous line is no longer needed
	lr.size = 0
	for {
		if len(lr.data) == 0 {
			if err := lr.fill(); err != nil {
				if err != io.EOF || lr.size == 0 {
					return nil, err // a partial line cut off by an error is not a line
				}
				return lr.finish(nil) // the last line, without a newline
			}
		}
		i := bytes.IndexByte(lr.data, '\n')
		if i < 0 { // the line goes on in a later read
			lr.size += len(lr.data)
			if lr.size <= lr.max+len("\r\n") {
				lr.long = append(lr.long, lr.data...)
			}
			lr.data = nil
			continue
		}
		chunk := lr.data[:i+1]
		lr.data = lr.data[i+1:]
		lr.size += len(chunk)
		return lr.finish(chunk)
	}
}

// finish returns the line that ends with chunk, lr.size bytes long in all.
func (lr *lineReader) finish(chunk []byte) ([]byte, error) {
	if lr.size > lr.max+len("\r\n") {
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

// fill makes data non-empty. It filters what is left of the last read
// first (the filter stops where telnet switched to binary, so that the
// line in progress at that moment can be told apart); then it gives back
// the used-up buffer, waits until r has bytes to read, and only then
// borrows a buffer and reads them.
func (lr *lineReader) fill() error {
	for {
		lr.switchedLine()
		if len(lr.raw) > 0 {
			if lr.filterRaw() {
				return nil
			}
			continue
		}
		lr.release()
		if lr.err != nil {
			return lr.err
		}
		if lr.unpaid > 0 && lr.payer != nil { // red team 6: before reading more
			if lr.err = lr.payer.pay(lr.unpaid); lr.err != nil {
				return lr.err
			}
		}
		lr.unpaid = 0
		if w, ok := lr.r.(readWaiter); ok {
			if lr.err = w.waitReadable(); lr.err != nil {
				return lr.err
			}
		}
		buf := readBufs.Get().(*[]byte)
		var n int
		n, lr.err = lr.r.Read((*buf)[:lr.readSize])
		lr.buf, lr.raw = buf, (*buf)[:n]
	}
}

// filterRaw passes raw through the telnet filter, sends its answers and
// the echo, and reports whether any text came out.
func (lr *lineReader) filterRaw() bool {
	used, n := lr.telnet.filter(lr.raw)
	lr.unpaid += used - n
	lr.data, lr.raw = lr.raw[:n], lr.raw[used:]
	if !lr.crlf && !lr.telnet.lineMode() {
		lr.crlf = true
		if c, ok := lr.r.(crlfSender); ok {
			c.sendCRLF()
		}
	}
	out := lr.telnet.takeOut()
	if lr.telnet.echoing() {
		answers := len(out)
		out = lr.telnet.echo(out, lr.data, lr.max)
		lr.unpaid += len(out) - answers
	}
	lr.send(out)
	if n == 0 {
		lr.switchedLine()
	}
	return n > 0
}

// switchedLine runs once the text before telnet's switch to binary has
// been cut into lines. Telnet in line mode sends a line in one go, so a
// line still in progress when it turned binary was cut by its escape key
// ^] (see telnet.go): what came of it is dropped, the user is told, and
// what follows is a new line. (In character mode a line is in progress
// whenever the user is typing one: nothing was lost.)
func (lr *lineReader) switchedLine() {
	if !lr.telnet.switched {
		return
	}
	lr.telnet.switched = false
	if lr.size > 0 && lr.telnet.lineMode() {
		lr.long, lr.size = lr.long[:0], 0
		lr.tellDamaged()
	}
}

// tellDamaged tells the user, once per connection, that a line telnet
// damaged was not sent: one notice says what happened and how to avoid
// it, and a client cannot make the server send more than once.
func (lr *lineReader) tellDamaged() {
	if !lr.toldDamaged {
		lr.toldDamaged = true
		lr.send([]byte(replyDamaged))
	}
}

// send sends msg to the client, if it can be answered and msg is not empty.
func (lr *lineReader) send(msg []byte) {
	if lr.reply != nil && len(msg) > 0 {
		lr.reply(msg)
	}
}

// cost returns how many bytes the last line took in the stream, with its
// line end: a line that delivers nothing still costs its sender. (Telnet
// commands and the echo are paid as they are read, see fill.)
func (lr *lineReader) cost() int {
	return lr.size
}

// release gives the read buffer back to readBufs.
func (lr *lineReader) release() {
	if lr.buf != nil {
		readBufs.Put(lr.buf)
		lr.buf, lr.raw, lr.data = nil, nil, nil
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
		case isZeroWidth(r):
			// Draws nothing of its own, so it does not end a run of
			// blanks (it could otherwise split padding into runs that
			// are each short enough); after a blank, or first, a joiner
			// or selector has nothing to join or select: dropped.
			if blanks == 0 && len(out) > 0 || !isJoinControl(r) {
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

// isZeroWidth reports the characters that sanitize keeps but that take no
// column of their own: the join controls and the combining marks.
func isZeroWidth(r rune) bool {
	return isJoinControl(r) || unicode.In(r, unicode.Mn, unicode.Me)
}

// isJoinControl reports ZWJ, ZWNJ and the variation selectors: real text
// needs them after a character, never after a blank.
func isJoinControl(r rune) bool {
	return r == zwj || r == zwnj || unicode.Is(unicode.Variation_Selector, r)
}

// isBlank reports the characters that draw as empty space: the space
// separators (U+0020, U+00A0, U+3000, …) and the braille blank U+2800.
// (The Hangul fillers U+3164 and U+FFA0 are default-ignorable: dropped.)
func isBlank(r rune) bool {
	return r == ' ' || r == '\u2800' || unicode.Is(unicode.Zs, r)
}
