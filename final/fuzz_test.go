package main

import (
	"bytes"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzLineReader checks the framing (fix 1, 2) and the text hygiene (fix 3)
// on any byte stream: the lines do not depend on how the stream is cut
// into reads, none is longer than the limit or holds a newline, and what
// would be shown to others is valid UTF-8 without control characters.
// Seed corpus: testdata/fuzz/FuzzLineReader. Run: go test -fuzz=FuzzLineReader
func FuzzLineReader(f *testing.F) {
	f.Add([]byte("hello\r\nworld\nlast"), uint8(3))
	f.Add([]byte("\xff\xfd\x03hi\xff\xfa\x18\x00x\xff\xf0\r\n"), uint8(1))
	f.Add([]byte("\x1b[2J\x07\x00bad\xc3(\u202e\n"), uint8(5))
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		const max = 32
		whole := readLines(t, chunks(string(data)), 16, max)
		var pieces []string
		for rest, n := data, int(step%7)+1; len(rest) > 0; rest = rest[min(n, len(rest)):] {
			pieces = append(pieces, string(rest[:min(n, len(rest))]))
		}
		split := readLines(t, chunks(pieces...), 16, max)
		if strings.Join(whole, "\x00") != strings.Join(split, "\x00") {
			t.Fatalf("lines depend on the reads:\nwhole %q\nsplit %q", whole, split)
		}
		for _, l := range whole {
			if l == "<too long>" {
				continue
			}
			if len(l) > max || strings.Contains(l, "\n") {
				t.Fatalf("bad line %q", l)
			}
			shown := sanitize([]byte(l))
			if !utf8.ValidString(shown) {
				t.Fatalf("sanitize(%q) = %q: not UTF-8", l, shown)
			}
			blanks := 0
			for _, r := range shown {
				if unicode.IsControl(r) || isInvisible(r) {
					t.Fatalf("sanitize(%q) = %q keeps %U", l, shown, r)
				}
				if blanks++; !isBlank(r) {
					blanks = 0
				}
				if blanks > maxBlankRun {
					t.Fatalf("sanitize(%q) = %q keeps a run of %d blanks", l, shown, blanks)
				}
			}
		}
	})
}

// FuzzParseCommand checks the command parsing (fix 5, 6, 7) on any line.
// Seed corpus: testdata/fuzz/FuzzParseCommand. Run: go test -fuzz=FuzzParseCommand
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"who", "rename bob", "to bob hi  there", "to|bob|hi", "tomorrow", "rename|", "whoever"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		msg := strings.TrimSpace(sanitize([]byte(line)))
		cmd := parseCommand(msg)
		switch cmd.kind {
		case cmdWho:
			if msg != "who" {
				t.Fatalf("%q taken for who", msg)
			}
		case cmdRename:
			if n, ok := validName(cmd.name); !ok || n != cmd.name {
				t.Fatalf("%q renames to an invalid name %q", msg, cmd.name)
			}
		case cmdTo:
			// The text is the end of the line, exactly as typed.
			if cmd.name == "" || cmd.text == "" || !strings.HasSuffix(msg, cmd.text) {
				t.Fatalf("%q parsed as %+v", msg, cmd)
			}
		case cmdUsage:
			if !strings.HasSuffix(cmd.reply, "\n") {
				t.Fatalf("usage reply %q without a newline", cmd.reply)
			}
		case cmdSay:
			word, _ := cutSpace(msg)
			if cmd.text != msg || word == "who" || word == "rename" || word == "to" ||
				strings.HasPrefix(msg, "rename|") || strings.HasPrefix(msg, "to|") {
				t.Fatalf("%q parsed as %+v", msg, cmd)
			}
		}
		if bytes.ContainsAny([]byte(cmd.name), "\n\r") {
			t.Fatalf("name with a line break: %q", cmd.name)
		}
	})
}
