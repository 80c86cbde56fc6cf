package load

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestLineRoundTrip(t *testing.T) {
	for _, size := range []int{0, 8, 64, 1024} {
		p := NewParser(size)
		for _, tok := range []Token{{0, 0}, {7, 199}, {123, 45678}} {
			line := Line(tok.Sender, tok.Seq, size)
			if size > 12 {
				assert.Len(t, line, size)
			}
			got := p.Parse(append([]byte("[127.0.0.1:5000]127.0.0.1:5000: "), line...))
			assert.True(t, got.OK && got.Intact, "size %d %v", size, tok)
			assert.Equal(t, tok, got.Token)
			assert.Equal(t, "[127.0.0.1:5000]127.0.0.1:5000: ", string(got.Head))
		}
	}
}

func TestParseDamage(t *testing.T) {
	const size = 64
	line := Line(3, 17, size)
	p := NewParser(size)
	tests := []struct {
		name       string
		text       []byte
		ok, intact bool
	}{
		{"as sent", line, true, true},
		{"last byte dropped (the tutorial's buf[:n-1] mid-line)", line[:size-1], true, false},
		{"cut in two by a read", line[:30], true, false},
		{"two lines glued together", append(bytes.Clone(line), Line(3, 18, size)...), true, false},
		{"ncat's prefix spliced into the middle", append(append(bytes.Clone(line[:40]), "<user5> "...), line[40:]...), true, false},
		{"one byte changed", append(append(bytes.Clone(line[:50]), '!'), line[51:]...), true, false},
		{"the marker's '#' dropped", line[1:], false, false},
		{"cut inside the token", line[:5], false, false},
		{"no line at all", []byte("[a]b: 已上线"), false, false},
		{"letters for a number", []byte("#Lx.1.abc"), false, false},
	}
	for _, tt := range tests {
		got := p.Parse(tt.text)
		assert.Equal(t, tt.ok, got.OK, tt.name)
		assert.Equal(t, tt.intact, got.Intact, tt.name)
		if tt.ok {
			assert.Equal(t, Token{3, 17}, got.Token, tt.name)
		}
	}
}

func TestParseShortLines(t *testing.T) {
	// A size smaller than the token: the line is the bare token.
	p := NewParser(4)
	assert.Equal(t, "#L2.9.", string(Line(2, 9, 4)))
	got := p.Parse([]byte("<user4> #L2.9."))
	assert.True(t, got.OK && got.Intact)
	assert.False(t, p.Parse([]byte("#L2.9.x")).Intact)
}
