// Package load drives a chat server that speaks the workbook's line
// protocol (the chapters and final) or ncat --chat's, over loopback, and
// measures what the server does with the traffic.
package load

import (
	"bytes"
	"fmt"
)

// Every line a sender writes carries a token that names it, so a reader can
// tell which line it got whatever prefix the server put in front of it:
//
//	#L<sender>.<seq>.<padding up to the line size>
//
// The padding is a fixed pattern, so a line that arrives cut, merged with
// another or with bytes inserted into it does not count as delivered.
var marker = []byte("#L")

// Line returns line seq of sender s, padded to size bytes when size is
// larger than the token, without its newline.
func Line(s, seq, size int) []byte {
	b := fmt.Appendf(make([]byte, 0, max(size, 24)+1), "%s%d.%d.", marker, s, seq)
	for i := len(b); i < size; i++ {
		b = append(b, pad(i))
	}
	return b
}

func pad(i int) byte { return 'a' + byte(i%26) }

// Token is the identity of one line: who sent it and its number.
type Token struct{ Sender, Seq int }

// Parsed is what a reader makes of one received line.
type Parsed struct {
	Token
	// Head is the text in front of the token: the server's attribution.
	Head []byte
	// OK: the line holds a token. Intact: the line after the token is
	// exactly what was sent (not cut short, extended or spliced).
	OK, Intact bool
}

// A Parser recognises the load lines of one size.
type Parser struct {
	size    int
	pattern []byte // pad(0), pad(1), … pad(size-1)
}

// NewParser returns a parser for lines of size bytes.
func NewParser(size int) *Parser {
	p := &Parser{size: size, pattern: make([]byte, max(size, 0))}
	for i := range p.pattern {
		p.pattern[i] = pad(i)
	}
	return p
}

// Parse finds a load line in text (one received line without its
// newline, with whatever prefix the server added).
func (pr *Parser) Parse(text []byte) Parsed {
	i := bytes.Index(text, marker)
	if i < 0 {
		return Parsed{}
	}
	rest := text[i+len(marker):]
	s, rest, ok1 := cutInt(rest)
	seq, rest, ok2 := cutInt(rest)
	if !ok1 || !ok2 {
		return Parsed{}
	}
	p := Parsed{Token: Token{s, seq}, Head: text[:i], OK: true}
	head := len(text) - len(rest) - i // length of "#L<s>.<seq>."
	if pr.size <= head {
		p.Intact = len(rest) == 0
	} else {
		p.Intact = bytes.Equal(rest, pr.pattern[head:])
	}
	return p
}

// cutInt reads a decimal number of at most 9 digits followed by a dot.
func cutInt(b []byte) (n int, rest []byte, ok bool) {
	dot := bytes.IndexByte(b, '.')
	if dot <= 0 || dot > 9 {
		return 0, b, false
	}
	for _, c := range b[:dot] {
		if c < '0' || c > '9' {
			return 0, b, false
		}
		n = n*10 + int(c-'0')
	}
	return n, b[dot+1:], true
}
