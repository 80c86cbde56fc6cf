package main

import "unicode/utf8"

// The telnet side of a connection: just enough of RFC 854 (the protocol),
// 856 (BINARY), 857 (ECHO), 858 (SUPPRESS-GO-AHEAD) and 860 (TIMING-MARK)
// for inetutils telnet, in line and in character mode, and the Windows
// telnet to work as a learner expects, Chinese included. Options follow
// RFC 1143: every request is answered once, an answer is never answered,
// and an option the server does not support is refused only the first
// time it is asked for, so no client can make the server loop or chatter.
//
// Why a chat server needs this: inetutils telnet in its default line mode
// strips the 8th bit when it looks for the terminal's special keys, so a
// byte inside a UTF-8 character can act as one. With Linux's stty defaults
// (intr ^C, quit ^\, susp ^Z, discard ^O) 0x83 is sent as IAC IP, 0x9c as
// IAC BRK, 0x9a as IAC SUSP and 0x8f as IAC AO, each followed by IAC DO
// TIMING-MARK (telnet hides all output until that is answered), and
// 0x9d (^], telnet's escape key) opens telnet's own prompt and the rest of
// the line is lost. 553 of the 3,755 common (GB2312 level 1) characters
// carry one of these bytes: 的 会 面 小 可 发 经 …
//
// So the server:
//   - answers DO TIMING-MARK (WILL), which ends telnet's freeze;
//   - repairs the damage: inside a UTF-8 sequence only a continuation byte
//     can stand where IP, BRK (or ABORT), SUSP or AO arrived, and only one
//     of them maps to each (with the stty defaults above);
//   - once the client has sent any IAC, sends IAC DO BINARY: telnet then
//     sends 8-bit bytes as they are, 0x9d included, and nothing more is
//     damaged. A client that never sends IAC (nc, the menu clients) is
//     never sent one;
//   - drops, and tells the user about, the one kind of line it cannot
//     repair: one whose rest telnet swallowed at ^] (see lineReader);
//   - in character mode (the client asks DO ECHO) echoes what is typed,
//     erasing with backspace, because the Windows telnet shows nothing of
//     what is typed unless the server echoes it, and inetutils telnet
//     echoing locally in raw mode would show ^? for a backspace.

// Telnet commands and options.
const (
	telnetSUSP  = 237 // suspend process (RFC 1184): ^Z
	telnetABORT = 238 // abort process (RFC 1184): ^\
	telnetSE    = 240 // end of subnegotiation
	telnetBRK   = 243 // break: inetutils telnet's quit key ^\
	telnetIP    = 244 // interrupt process: ^C
	telnetAO    = 245 // abort output: ^O
	telnetEC    = 247 // erase character
	telnetSB    = 250 // start of subnegotiation
	telnetWILL  = 251
	telnetWONT  = 252
	telnetDO    = 253
	telnetDONT  = 254
	telnetIAC   = 255 // "interpret as command"

	optBinary = 0
	optEcho   = 1
	optSGA    = 3 // suppress go-ahead
	optTM     = 6 // timing mark
)

// maxSubneg bounds a subnegotiation (IAC SB … IAC SE). The server agrees
// to no option that has one, so any is unsolicited; past this many bytes
// without IAC SE the rest is taken as text instead of being swallowed.
const maxSubneg = 512

type telnetState uint8

const (
	tsData   telnetState = iota
	tsIAC                // after IAC
	tsOption             // after IAC WILL/WONT/DO/DONT
	tsSub                // inside IAC SB … IAC SE
	tsSubIAC             // after IAC inside a subnegotiation
)

// optState is the state of the client's BINARY option.
type optState uint8

const (
	optOff   optState = iota
	optAsked          // we sent DO, no answer yet
	optOn
)

// telnet filters what a client sends: it removes IAC sequences, even when
// one is split across reads, answers them, and repairs the text. Valid
// UTF-8 never contains the byte 255, so text from other clients passes
// through untouched. Its zero value is a connection that has sent no IAC.
type telnet struct {
	state    telnetState
	cmd      byte          // WILL, WONT, DO or DONT, awaiting its option byte
	sub      int           // bytes of the subnegotiation so far
	need     int           // continuation bytes the text so far still needs to complete a character
	cr       bool          // the last text byte was '\r' (CR NUL is CR LF)
	crEnded  bool          // the last text byte was a '\r' that ended a line: a '\n' or NUL after it is part of that end
	spoke    bool          // the client has sent IAC: it is a telnet
	keyed    bool          // the client has sent IP, BRK, ABORT, SUSP or AO
	binary   optState      // the client's BINARY: it sends 8-bit bytes untouched
	hisSGA   bool          // the client suppresses go-ahead
	echoes   bool          // we echo what the client sends (character mode)
	sga      bool          // we suppress go-ahead
	switched bool          // BINARY went on; the line reader has not looked yet
	refused  *[2][4]uint64 // options refused once (WONT, DONT) as bit sets; nil until one is
	out      []byte        // answers not yet sent
	shown    []byte        // echo: what is shown of the line being typed
}

// repairs maps a special-key command that arrived inside a UTF-8 sequence
// to the byte telnet took for that key (the byte's low 7 bits are the key).
var repairs = map[byte]byte{
	telnetIP:    0x83, // ^C
	telnetBRK:   0x9c, // ^\ (inetutils telnet 2.4 sends BRK)
	telnetABORT: 0x9c, // ^\ (RFC 1184 clients send ABORT)
	telnetSUSP:  0x9a, // ^Z
	telnetAO:    0x8f, // ^O
}

// filter removes telnet commands from b in place, answering them, and
// returns how many bytes of b it used and how many bytes of text it left
// at the start of b. It stops after the client turns BINARY on, so the
// caller can tell which line was in progress at that moment.
func (t *telnet) filter(b []byte) (used, n int) {
	for i, c := range b {
		switch t.state {
		case tsData:
			if c == telnetIAC {
				t.state = tsIAC
				if !t.spoke {
					t.spoke = true
					t.binary = optAsked
					t.out = append(t.out, telnetIAC, telnetDO, optBinary)
				}
				continue
			}
			n = t.text(b, n, c)
		case tsIAC:
			t.state = tsData
			switch {
			case c == telnetIAC: // IAC IAC is a data byte 255
				n = t.text(b, n, c)
			case c >= telnetWILL:
				t.cmd, t.state = c, tsOption
			case c == telnetSB:
				t.sub, t.state = 0, tsSub
			case repairs[c] != 0:
				t.keyed = true
				if t.need > 0 { // damage inside a character: restore its byte
					n = t.text(b, n, repairs[c])
				} // else the user pressed the key itself: nothing to pass on
			case c == telnetEC && t.need == 0:
				n = t.text(b, n, '\b')
			}
		case tsOption:
			t.state = tsData
			t.negotiate(t.cmd, c)
			if t.switched {
				return i + 1, n
			}
		case tsSub, tsSubIAC:
			t.sub++
			switch {
			case t.state == tsSubIAC:
				t.state = tsSub
				if c == telnetSE {
					t.state = tsData
				}
			case c == telnetIAC:
				t.state = tsSubIAC
			case t.sub > maxSubneg:
				t.state = tsData // bounded: what follows is text again
			}
		}
	}
	return len(b), n
}

// text appends the text byte c at b[n] and returns the new length. CR NUL
// (RFC 854: a CR on its own) becomes CR LF, a line end like any other.
// From a client that speaks telnet a bare CR ends a line too (telnet in
// character mode with BINARY on sends one for Enter): it becomes '\n', and
// a '\n' or NUL right after it is dropped.
func (t *telnet) text(b []byte, n int, c byte) int {
	if t.crEnded {
		t.crEnded = false
		if c == '\n' || c == 0 {
			return n
		}
	}
	if t.cr && c == 0 {
		c = '\n'
	}
	t.cr = c == '\r'
	if t.cr && t.spoke {
		c, t.cr, t.crEnded = '\n', false, true
	}
	if t.need > 0 && c&0xc0 == 0x80 {
		t.need--
	} else {
		switch {
		case c >= 0xf0 && c < 0xf8:
			t.need = 3
		case c >= 0xe0 && c < 0xf0:
			t.need = 2
		case c >= 0xc0 && c < 0xe0:
			t.need = 1
		default:
			t.need = 0
		}
	}
	b[n] = c
	return n + 1
}

// negotiate answers IAC cmd opt, following RFC 1143 for the few options
// the server takes part in: BINARY and SGA from the client, ECHO and SGA
// from the server. Every other request is refused, once.
func (t *telnet) negotiate(cmd, opt byte) {
	switch cmd {
	case telnetDO: // asks the server to do opt
		switch {
		case opt == optTM: // RFC 860: "this is where I have got to", every time
			t.answer(telnetWILL, opt)
		case opt == optEcho && !t.echoes:
			t.echoes = true
			t.answer(telnetWILL, opt)
		case opt == optSGA && !t.sga:
			t.sga = true
			t.answer(telnetWILL, opt)
		case opt != optEcho && opt != optSGA:
			t.refuse(telnetWONT, opt)
		}
	case telnetDONT: // asks the server to stop doing opt
		switch {
		case opt == optEcho && t.echoes:
			t.echoes = false
			t.answer(telnetWONT, opt)
		case opt == optSGA && t.sga:
			t.sga = false
			t.answer(telnetWONT, opt)
		}
	case telnetWILL: // offers to do opt, or agrees to our DO
		switch {
		case opt == optBinary && t.binary != optOn:
			if t.binary == optOff {
				t.answer(telnetDO, opt)
			} // else it is the answer to our DO: not answered
			t.binary, t.switched = optOn, true
		case opt == optSGA && !t.hisSGA:
			t.hisSGA = true
			t.answer(telnetDO, opt)
		case opt != optBinary && opt != optSGA:
			t.refuse(telnetDONT, opt)
		}
	case telnetWONT: // refuses opt, or stops doing it
		switch {
		case opt == optBinary && t.binary != optOff:
			if t.binary == optOn {
				t.answer(telnetDONT, opt)
			}
			t.binary = optOff
		case opt == optSGA && t.hisSGA:
			t.hisSGA = false
			t.answer(telnetDONT, opt)
		}
	}
}

func (t *telnet) answer(cmd, opt byte) {
	t.out = append(t.out, telnetIAC, cmd, opt)
}

// refuse answers a request for an option the server does not support,
// the first time only: a client that asks again gets no answer, so no
// client can make the server send more than it is sent.
func (t *telnet) refuse(cmd, opt byte) {
	if t.refused == nil {
		t.refused = new([2][4]uint64)
	}
	i := 0 // WONT
	if cmd == telnetDONT {
		i = 1
	}
	word, bit := &t.refused[i][opt/64], uint64(1)<<(opt%64)
	if *word&bit != 0 {
		return
	}
	*word |= bit
	t.answer(cmd, opt)
}

// takeOut returns the answers not yet sent, in a slice of their own.
func (t *telnet) takeOut() []byte {
	out := t.out
	t.out = nil
	return out
}

// lineMode reports whether the client sends whole lines: it has not asked
// the server to echo or to suppress go-ahead, as telnet's character mode
// does.
func (t *telnet) lineMode() bool { return !t.echoes && !t.sga }

// echoing reports whether the server echoes what the client types.
func (t *telnet) echoing() bool { return t.echoes }

// echo appends to out what the user's screen must show for the text they
// typed: the text, "\r\n" for a line end, and for a backspace the last
// character erased (two columns for a wide one). Control characters,
// which sanitize drops, are not shown. max bounds what is remembered.
func (t *telnet) echo(out, text []byte, max int) []byte {
	for _, c := range text {
		switch {
		case c == '\n': // every line end is one by now (see text)
			t.shown = t.shown[:0]
			out = append(out, "\r\n"...)
		case c == '\b' || c == 0x7f:
			if len(t.shown) == 0 {
				break
			}
			r, size := utf8.DecodeLastRune(t.shown)
			t.shown = t.shown[:len(t.shown)-size]
			if isWide(r) {
				out = append(out, "\b\b  \b\b"...)
			} else {
				out = append(out, "\b \b"...)
			}
		case c < ' ':
		default:
			if len(t.shown) < max {
				t.shown = append(t.shown, c)
			}
			out = append(out, c)
		}
	}
	return out
}

// isWide reports whether a terminal shows r in two columns: the East Asian
// wide and fullwidth ranges (CJK, Hangul, fullwidth forms, emoji).
func isWide(r rune) bool {
	return r >= 0x1100 && r <= 0x115f ||
		r >= 0x2e80 && r <= 0xa4cf && r != 0x303f ||
		r >= 0xac00 && r <= 0xd7a3 ||
		r >= 0xf900 && r <= 0xfaff ||
		r >= 0xfe30 && r <= 0xfe4f ||
		r >= 0xff00 && r <= 0xff60 ||
		r >= 0xffe0 && r <= 0xffe6 ||
		r >= 0x1f300 && r <= 0x1f64f ||
		r >= 0x1f900 && r <= 0x1f9ff ||
		r >= 0x20000 && r <= 0x3fffd
}

// crlfSender is a connection that can be told to send each '\n' as "\r\n"
// (User is). A telnet in character mode puts the terminal in raw mode,
// where '\n' alone moves down without going back to the start of the line,
// so every message would start where the last one ended.
type crlfSender interface {
	sendCRLF()
}

func (u *User) sendCRLF() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.crlf = true
}

// nvtNewlines returns b with each '\n' that does not follow '\r' sent as
// "\r\n", the telnet (NVT) line end, in a new slice (b is shared). The
// server's own telnet commands (IAC, command, option) are copied as they
// are: an option byte may be 10.
func nvtNewlines(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/16)
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == telnetIAC && i+2 < len(b):
			out = append(out, b[i:i+3]...)
			i += 2
		case c == '\n' && (i == 0 || b[i-1] != '\r'):
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	return out
}
