package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// A \ before a command says the line to everyone: the way final/client
// sends "to be or not to be" from 公聊模式. Other lines keep their \.
func TestBackslashBeforeCommandSays(t *testing.T) {
	for line, want := range map[string]command{
		`\to be or not to be`: {kind: cmdSay, text: "to be or not to be"},
		`\who`:                {kind: cmdSay, text: "who"},
		`\who is there`:       {kind: cmdSay, text: "who is there"},
		`\rename me`:          {kind: cmdSay, text: "rename me"},
		`\to|a|b`:             {kind: cmdSay, text: "to|a|b"},
		`\hello`:              {kind: cmdSay, text: `\hello`},
		`\\to x`:              {kind: cmdSay, text: `\\to x`},
		`\`:                   {kind: cmdSay, text: `\`},
	} {
		assert.Equal(t, want, parseCommand(line), "%q", line)
	}
}
