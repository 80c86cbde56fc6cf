package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestChatLine(t *testing.T) {
	t.Parallel()
	cases := []struct {
		line string
		msg  string
		quit bool
	}{
		{"exit", "", true},
		{"  exit ", "", true},
		{`\exit`, "exit", false},
		{` \exit `, "exit", false},
		{`\\exit`, `\exit`, false},
		{`\\\exit`, `\\exit`, false},
		{"exit now", "exit now", false},
		{"Exit", "Exit", false},
		{`\n`, `\n`, false},
		{`\`, `\`, false},
		{"", "", false},
		{" \t ", "", false},
		{"  two  spaces  ", "  two  spaces  ", false},
	}
	for _, tc := range cases {
		msg, quit := chatLine(tc.line)
		assert.Equal(t, tc.msg, msg, "%q", tc.line)
		assert.Equal(t, tc.quit, quit, "%q", tc.line)
	}
}

func TestPrintable(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"hello world\n", "hello world\n"},
		{"tab\there\n", "tab\there\n"},
		{"telnet\r\n", "telnet\n"},
		{"a\rb\n", `a\x0db` + "\n"},
		{"\x1b[2Jclear\n", `\x1b[2Jclear` + "\n"},
		{"bell\a nul\x00 del\x7f\n", `bell\x07 nul\x00 del\x7f` + "\n"},
		{"c1\u009b31m\n", `c1\u009b31m` + "\n"},
		{"bidi\u202eevil\n", `bidi\u202eevil` + "\n"},
		{"bad\xff\xfeutf8\n", `bad\xff\xfeutf8` + "\n"},
		{"你好，世界\n", "你好，世界\n"},
		{"two\nlines\n", "two\nlines\n"},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, printable([]byte(tc.in)), "%q", tc.in)
	}
}

func TestPartialRune(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"", 0},
		{"abc", 0},
		{"小", 0},
		{"a\xe5", 1},
		{"a\xe5\xb0", 2},
		{"小\xf0\x9f\x99", 3},
		{"\xb0", 0},  // a lone continuation byte: no character to wait for
		{"a\xff", 0}, // not UTF-8 at all
		{"\xe5\xb0\x8f", 0},
	} {
		assert.Equal(t, tc.want, partialRune([]byte(tc.in)), "%q", tc.in)
	}
}

func TestServerCommand(t *testing.T) {
	t.Parallel()
	for line, want := range map[string]string{
		"to be or not to be": "to", "  who": "who", "rename it": "rename", "rename|x": "rename|", "to|a|b": "to|",
		"tomorrow": "", "whoever": "", `\to be`: "", "": "", "hello to": "",
	} {
		assert.Equal(t, want, serverCommand(line), "%q", line)
	}
}
