package main

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// answeredReader is a chunkReader that records what the line reader sends
// back (telnet answers, echo, notices), as User.send would queue it.
type answeredReader struct {
	chunkReader
	sent bytes.Buffer
}

func (r *answeredReader) send(msg []byte) { r.sent.Write(msg) }

// talk reads every line from the chunks and returns the lines and
// everything sent back.
func talk(t *testing.T, parts ...string) (lines []string, sent string) {
	t.Helper()
	r := &answeredReader{chunkReader: *chunks(parts...)}
	lr := newLineReader(r, 16, 64)
	for {
		line, err := lr.ReadLine()
		if err == io.EOF {
			return lines, r.sent.String()
		}
		if err == errLineTooLong {
			lines = append(lines, "<too long>")
			continue
		}
		require.NoError(t, err)
		lines = append(lines, string(line))
	}
}

const (
	doBinary = "\xff\xfd\x00"
	willTM   = "\xff\xfb\x06"
)

// A client that never sends IAC (nc, the menu clients) is never sent one,
// whatever bytes it sends: 8-bit text, CR NUL, a bare CR.
func TestTelnetNeverSpeaksFirst(t *testing.T) {
	lines, sent := talk(t, "小明 的 会面 \x83\x9c\x9a\x8f\x9d\r\n", "a\r\x00b\r\n", "c\rd\n")
	assert.Equal(t, []string{"小明 的 会面 \x83\x9c\x9a\x8f\x9d", "a", "b", "c\rd"}, lines)
	assert.Empty(t, sent)
}

// Each special-key command telnet puts inside a UTF-8 character stands for
// one byte (stty defaults: intr ^C, quit ^\, susp ^Z, discard ^O), which
// is put back; DO TIMING-MARK is answered every time.
func TestTelnetRepairsSpecialKeys(t *testing.T) {
	for _, tc := range []struct {
		name, sent, want string
	}{
		{"IP for 0x83 (^C)", "\xe4\xbb\xff\xf4\xff\xfd\x06", "仃"},
		{"BRK for 0x9c (^\\)", "\xe4\xb8\xff\xf3\xff\xfd\x06", "东"},
		{"ABORT for 0x9c (^\\)", "\xe4\xb8\xff\xee", "东"},
		{"SUSP for 0x9a (^Z)", "\xe7\xff\xed\xff\xfd\x06\x84", "的"},
		{"AO for 0x8f (^O)", "\xe5\xb0\xff\xf5\xff\xfd\x06", "小"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines, sent := talk(t, "x"+tc.sent+"y\r\n")
			assert.Equal(t, []string{"x" + tc.want + "y"}, lines)
			assert.Equal(t, doBinary+strings.Repeat(willTM, strings.Count(tc.sent, "\xff\xfd\x06")), sent)
		})
	}
	// Outside a character the key was pressed: nothing is put in the line.
	lines, sent := talk(t, "ab\xff\xf4\xff\xfd\x06\xff\xed\xff\xf5cd\r\n")
	assert.Equal(t, []string{"abcd"}, lines)
	assert.Equal(t, doBinary+willTM, sent)
}

// RFC 1143: a request is answered once, an answer is never answered, and
// an unsupported option is refused the first time only, so a client that
// repeats itself cannot make the server send more than it is sent.
func TestTelnetNegotiation(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"unsupported: refused once", "\xff\xfd\x22\xff\xfd\x22\xff\xfb\x1f\xff\xfb\x1f", doBinary + "\xff\xfc\x22\xff\xfe\x1f"},
		{"turning off what is off is not answered", "\xff\xfe\x01\xff\xfc\x03\xff\xfe\x22\xff\xfc\x22", doBinary},
		{"the answer to our DO BINARY is not answered", "\xff\xfb\x00\xff\xfb\x00", doBinary},
		{"a refusal of BINARY is not answered", "\xff\xfc\x00", doBinary},
		{"ECHO and SGA: agreed once", "\xff\xfd\x01\xff\xfd\x01\xff\xfd\x03\xff\xfb\x03\xff\xfb\x03", doBinary + "\xff\xfb\x01\xff\xfb\x03\xff\xfd\x03" + "ok\r\n"},
		{"ECHO turned off is confirmed once", "\xff\xfd\x01\xff\xfe\x01\xff\xfe\x01", doBinary + "\xff\xfb\x01\xff\xfc\x01"},
		{"TIMING-MARK: every request", "\xff\xfd\x06\xff\xfd\x06", doBinary + willTM + willTM},
		{"BINARY turned off after on is confirmed", "\xff\xfb\x00\xff\xfc\x00\xff\xfc\x00", doBinary + "\xff\xfe\x00"},
		{"two-byte commands are dropped", "\xff\xf1\xff\xf2\xff\xf3\xff\xf6\xff\xf8\xff\xf9", doBinary},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines, sent := talk(t, tc.in+"ok\n")
			assert.Equal(t, []string{"ok"}, lines)
			assert.Equal(t, tc.want, sent)
			// The same, one byte per read.
			lines, sent = talk(t, strings.Split(tc.in+"ok\n", "")...)
			assert.Equal(t, []string{"ok"}, lines)
			assert.Equal(t, tc.want, sent)
		})
	}
}

// Issue 10, finding 8: an IAC SB without IAC SE swallowed the rest of the
// connection. It is bounded now: past maxSubneg bytes what follows is text.
func TestTelnetSubnegotiationBounded(t *testing.T) {
	junk := strings.Repeat("s", maxSubneg)
	lines, _ := talk(t, "\xff\xfa\x18", junk, "hello\r\n", "\xff\xfa\x18\x00xterm\xff\xf0world\n")
	assert.Equal(t, []string{"hello", "world"}, lines)
	// IAC IAC inside a subnegotiation does not end it.
	lines, _ = talk(t, "\xff\xfa\x18\xff\xff\xff\xf0ok\n")
	assert.Equal(t, []string{"ok"}, lines)
}

// A line telnet cut at its escape key (the rest went to its own prompt)
// is dropped when telnet turns BINARY on in the middle of it, wherever the
// reads split; the line after it is whole.
func TestTelnetDamagedLine(t *testing.T) {
	stream := "ok\r\n\xe6\x88\x91\xe4\xbc\xff\xed\xff\xfd\x06\xe9" + "\xff\xfb\x00" + "again\n"
	for _, size := range []int{1, 3, len(stream)} {
		var parts []string
		for rest := stream; rest != ""; rest = rest[min(size, len(rest)):] {
			parts = append(parts, rest[:min(size, len(rest))])
		}
		lines, sent := talk(t, parts...)
		assert.Equal(t, []string{"ok", "again"}, lines, "reads of %d bytes", size)
		assert.Equal(t, doBinary+willTM+replyDamaged, sent, "reads of %d bytes", size)
	}
	// A line that had ended before the switch is not damaged.
	lines, sent := talk(t, "\xe5\xb0\xff\xf5\xff\xfd\x06\xe6\x98\x8e\r\n\xff\xfb\x00x\n")
	assert.Equal(t, []string{"小明", "x"}, lines)
	assert.Equal(t, doBinary+willTM, sent)
}

// Line ends: CR LF, LF, CR NUL from anyone; a bare CR only from a client
// that speaks telnet (telnet in character mode with BINARY on sends it).
func TestTelnetLineEnds(t *testing.T) {
	lines, _ := talk(t, "\xff\xf1a\r\x00b\r", "\nc\rd\n\r\x00")
	assert.Equal(t, []string{"a", "b", "c", "d", ""}, lines)
}

// In character mode the server echoes: text as it comes, a line end as
// "\r\n", a backspace erases one column or two, control characters are
// not shown.
func TestTelnetEcho(t *testing.T) {
	lines, sent := talk(t, "\xff\xfd\x01", "a", "\x7f", "b\x01\x1b", "你", "\x08", "好\r\x00", "x\r\n", "\x7f\x7fy\r")
	assert.Equal(t, []string{"a\x7fb\x01\x1b你\b好", "x", "\x7f\x7fy"}, lines)
	assert.Equal(t, "b好", sanitize([]byte(lines[0])), "what others see is what the user saw")
	assert.Equal(t, doBinary+"\xff\xfb\x01"+"a\b \bb你\b\b  \b\b好\r\nx\r\ny\r\n", sent)
}

// A telnet in character mode gets "\r\n" line ends; the server's own
// commands are left alone, even one whose option byte is '\n'.
func TestNVTNewlines(t *testing.T) {
	assert.Equal(t, "a\r\nb\r\n\xff\xfc\x0a\r\n", string(nvtNewlines([]byte("a\nb\r\n\xff\xfc\x0a\n"))))
	assert.Equal(t, "", string(nvtNewlines(nil)))
}

// The notice about a damaged line is sent once per connection, however
// often a client damages lines: it cannot make the server chatter.
func TestTelnetDamagedNoticeOnce(t *testing.T) {
	damaged := "\xe4\xbc\xff\xed\xe9\r\n" // IAC SUSP outside any whole character
	lines, sent := talk(t, strings.Repeat(damaged, 3)+"ok\n")
	assert.Equal(t, []string{"ok"}, lines)
	assert.Equal(t, doBinary+replyDamaged, sent)
	lines, sent = talk(t, "x\xff\xfb\x00\xff\xfc\x00y\xff\xfb\x00ok\n")
	assert.Equal(t, []string{"ok"}, lines)
	assert.Equal(t, doBinary+replyDamaged+"\xff\xfe\x00"+"\xff\xfd\x00", sent)
}
