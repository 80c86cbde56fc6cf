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
