package chattest

import (
	"bufio"
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The transcript grammar is the package doc (doc.go).

// verb is what a step does.
type verb int

const (
	vComment verb = iota // a comment or blank line, kept verbatim
	vConnect
	vTypes
	vSees
	vSeesNothing
	vMaySee
	vDisconnected
	vQuits
	vResets
	vCrashes
	vArgs
	vWait
)

// consoleName is the endpoint name of the server's console.
const consoleName = "server"

type step struct {
	line    int      // 1-based line number in the file
	raw     string   // original text, for comments and blank lines
	verb    verb     //
	who     string   // client name, or consoleName
	to      string   // connect: the instance to connect to ("" for the server's Addr)
	text    string   // payload of types, sees, crashes
	items   []string // payloads of an unordered sees block
	anyOrd  bool     // an unordered sees block
	args    []string // server args
	wait    time.Duration
	changed bool // rewritten by -update
}

type script struct {
	path  string
	steps []*step
}

func parseScript(path string, data []byte) (*script, error) {
	sc := &script{path: path}
	lines := strings.Split(string(data), "\n")
	if n := len(lines); n > 0 && lines[n-1] == "" {
		lines = lines[:n-1]
	}
	for i := 0; i < len(lines); i++ {
		ln := lines[i]
		errf := func(format string, a ...any) error {
			return fmt.Errorf("%s:%d: %s", path, i+1, fmt.Sprintf(format, a...))
		}
		trimmed := strings.TrimSpace(ln)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			sc.steps = append(sc.steps, &step{line: i + 1, raw: ln, verb: vComment})
			continue
		}
		st := &step{line: i + 1}
		first, rest, _ := strings.Cut(trimmed, " ")
		rest = strings.TrimSpace(rest)
		switch {
		case first == "connect":
			name, to, _ := strings.Cut(rest, " to ")
			if !validName(name) || to != "" && !validName(to) {
				return nil, errf("connect needs a client name (and maybe \"to INSTANCE\"), got %q", rest)
			}
			st.verb, st.who, st.to = vConnect, name, to
		case first == "wait":
			d, err := time.ParseDuration(rest)
			if err != nil {
				return nil, errf("wait: %v", err)
			}
			st.verb, st.wait = vWait, d
		default:
			if !validName(first) {
				return nil, errf("unknown step %q", trimmed)
			}
			st.who = first
			verbWord, arg, _ := strings.Cut(rest, " ")
			arg = strings.TrimSpace(arg)
			var err error
			switch {
			case rest == "sees, in any order:" || rest == "prints, in any order:":
				if (first == consoleName) != (verbWord == "prints,") {
					return nil, errf("clients see, the server prints")
				}
				st.verb, st.anyOrd = vSees, true
				for i+1 < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i+1]), `"`) &&
					strings.TrimLeft(lines[i+1], " \t") != lines[i+1] {
					i++
					item, err := strconv.Unquote(strings.TrimSpace(lines[i]))
					if err != nil {
						return nil, errf("bad string literal: %v", err)
					}
					st.items = append(st.items, item)
				}
			case rest == "sees nothing" || rest == "prints nothing":
				st.verb = vSeesNothing
			case verbWord == "may" && strings.HasPrefix(arg, "see ") && strings.HasSuffix(arg, " any number of times"):
				st.verb = vMaySee
				lit := strings.TrimSuffix(strings.TrimPrefix(arg, "see "), " any number of times")
				st.text, err = strconv.Unquote(lit)
				if err == nil && st.text == "" {
					err = fmt.Errorf("may see needs a non-empty text")
				}
			case rest == "is disconnected" && first != consoleName:
				st.verb = vDisconnected
			case rest == "quits" && first != consoleName:
				st.verb = vQuits
			case rest == "resets" && first != consoleName:
				st.verb = vResets
			case verbWord == "types" && first != consoleName:
				st.verb = vTypes
				st.text, err = strconv.Unquote(arg)
			case verbWord == "sees" && first != consoleName, verbWord == "prints" && first == consoleName:
				st.verb = vSees
				st.text, err = strconv.Unquote(arg)
			case verbWord == "crashes" && first == consoleName:
				st.verb = vCrashes
				st.text, err = strconv.Unquote(arg)
			case verbWord == "args" && first == consoleName:
				st.verb, st.args = vArgs, strings.Fields(arg)
			default:
				return nil, errf("unknown step %q", trimmed)
			}
			if err != nil {
				return nil, errf("bad string literal %s: %v", arg, err)
			}
		}
		sc.steps = append(sc.steps, st)
	}
	return sc, nil
}

// args returns the server args of every "server args" step.
func (sc *script) args() []string {
	var args []string
	for _, st := range sc.steps {
		if st.verb == vArgs {
			args = append(args, st.args...)
		}
	}
	return args
}

func validName(s string) bool {
	if s == "" || s == "connect" || s == "wait" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// format renders the script back to text. Steps not rewritten by -update
// keep their original text, so comments and layout survive an update.
func (sc *script) format(original []byte) []byte {
	lines := strings.Split(string(original), "\n")
	var b bytes.Buffer
	for _, st := range sc.steps {
		if st.raw != "" || st.verb == vComment {
			b.WriteString(st.raw)
			b.WriteByte('\n')
			continue
		}
		if !st.changed && st.line > 0 {
			// Unchanged: copy the original lines (a block spans several).
			end := st.line
			if st.anyOrd {
				end += len(st.items)
			}
			for _, l := range lines[st.line-1 : end] {
				b.WriteString(l)
				b.WriteByte('\n')
			}
			continue
		}
		b.WriteString(st.render())
	}
	return b.Bytes()
}

// render writes a step in canonical form.
func (st *step) render() string {
	see := "sees"
	if st.who == consoleName {
		see = "prints"
	}
	switch st.verb {
	case vSees:
		if st.anyOrd {
			var b strings.Builder
			fmt.Fprintf(&b, "%s %s, in any order:\n", st.who, see)
			items := append([]string(nil), st.items...)
			sort.Strings(items)
			for _, it := range items {
				fmt.Fprintf(&b, "    %s\n", strconv.Quote(it))
			}
			return b.String()
		}
		return fmt.Sprintf("%s %s %s\n", st.who, see, strconv.Quote(st.text))
	case vSeesNothing:
		return fmt.Sprintf("%s %s nothing\n", st.who, see)
	}
	panic(fmt.Sprintf("chattest: render of verb %d", st.verb))
}

// splitLines cuts data after each newline; the last piece may lack one.
func splitLines(data string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	sc.Split(func(d []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.IndexByte(d, '\n'); i >= 0 {
			return i + 1, d[:i+1], nil
		}
		if atEOF && len(d) > 0 {
			return len(d), d, nil
		}
		return 0, nil, nil
	})
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}
