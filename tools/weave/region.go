package main

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
)

const endMarker = "<!-- weave end -->"

var beginMarker = regexp.MustCompile(`^<!-- weave (.+) -->$`)

// region is one generated block of a README.
type region struct {
	line       int    // 1-based line of the begin marker
	directive  string // what the begin marker says, e.g. "diff ../02-online-broadcast"
	start, end int    // the generated text is doc[start:end]
}

// changed is a region whose text the generator would change.
type changed struct {
	line      int
	directive string
	diff      string // old and new text, as a short unified diff
}

// result is a README after weaving.
type result struct {
	rel      string
	out      string
	changed  []changed
	diagrams []string // the Mermaid text of each sequence region
	kinds    map[string]bool
}

// chapterKinds are the regions every chapter page 02-09 must have.
var chapterKinds = []string{"diff", "session", "sequence"}

var chapterReadme = regexp.MustCompile(`^steps/(0[2-9])-[^/]+/README\.md$`)

func (r *result) missingKinds() []string {
	if !chapterReadme.MatchString(r.rel) {
		return nil
	}
	var missing []string
	for _, k := range chapterKinds {
		if !r.kinds[k] {
			missing = append(missing, k)
		}
	}
	return missing
}

// findRegions lists the regions of doc. Markers inside fenced code blocks
// are text, not markers (a README may show the syntax).
func findRegions(rel, doc string) ([]region, error) {
	var (
		regions []region
		open    *region
		fence   string
		offset  int
	)
	for i, ln := range strings.SplitAfter(doc, "\n") {
		next := offset + len(ln)
		text := strings.TrimRight(ln, "\n")
		switch {
		case open != nil:
			if text == endMarker {
				open.end = offset
				regions = append(regions, *open)
				open = nil
			} else if beginMarker.MatchString(text) && !checkMarker.MatchString(text) {
				return nil, fmt.Errorf("%s:%d: a weave marker inside the region opened on line %d (missing %q?)", rel, i+1, open.line, endMarker)
			}
		case fence != "":
			if strings.HasPrefix(strings.TrimLeft(text, " "), fence) {
				fence = ""
			}
		case isFence(text) != "":
			fence = isFence(text)
		case text == endMarker:
			return nil, fmt.Errorf("%s:%d: %q without a begin marker", rel, i+1, endMarker)
		default:
			if m := beginMarker.FindStringSubmatch(text); m != nil && !checkMarker.MatchString(text) {
				open = &region{line: i + 1, directive: strings.TrimSpace(m[1]), start: next}
			}
		}
		offset = next
	}
	if open != nil {
		return nil, fmt.Errorf("%s:%d: region %q has no %q", rel, open.line, open.directive, endMarker)
	}
	return regions, nil
}

// isFence returns the fence a line opens (``` or ~~~ and longer), or "".
func isFence(line string) string {
	t := strings.TrimLeft(line, " ")
	if len(line)-len(t) > 3 {
		return ""
	}
	for _, c := range []string{"`", "~"} {
		n := len(t) - len(strings.TrimLeft(t, c))
		if n >= 3 {
			return strings.Repeat(c, n)
		}
	}
	return ""
}

// weave regenerates every region of the README rel (relative to root).
func weave(root, rel, doc string) (*result, error) {
	regions, err := findRegions(rel, doc)
	if err != nil {
		return nil, err
	}
	res := &result{rel: rel, kinds: map[string]bool{}}
	var b strings.Builder
	last := 0
	for _, r := range regions {
		g := &generator{root: root, readmeDir: path.Dir(rel)}
		kind, body, err := g.generate(r.directive)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %s: %w", rel, r.line, r.directive, err)
		}
		res.kinds[kind] = true
		res.diagrams = append(res.diagrams, g.diagrams...)
		text := "\n" + body + "\n"
		if old := doc[r.start:r.end]; old != text {
			res.changed = append(res.changed, changed{line: r.line, directive: r.directive, diff: shortDiff(old, text)})
		}
		b.WriteString(doc[last:r.start])
		b.WriteString(text)
		last = r.end
	}
	b.WriteString(doc[last:])
	res.out = b.String()
	return res, nil
}

// shortDiff shows how a region would change, cut to a screenful.
func shortDiff(old, new string) string {
	d, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: splitLines(old), B: splitLines(new), FromFile: "in the README", ToFile: "generated", Context: 1,
	})
	lines := strings.Split(strings.TrimRight(d, "\n"), "\n")
	const max = 24
	if len(lines) > max {
		lines = append(lines[:max], fmt.Sprintf("… (%d more lines)", len(lines)-max))
	}
	return "    " + strings.Join(lines, "\n    ")
}

// splitLines cuts s after each newline; the last line gets one if it
// lacks it, so that a diff never runs two lines together.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	} else {
		lines[len(lines)-1] += "\n"
	}
	return lines
}

// args are a directive's words: positional ones, and key=value ones whose
// value may be a Go string literal ("with spaces").
type args struct {
	pos []string
	kv  map[string]string
}

func parseArgs(s string) (args, error) {
	a := args{kv: map[string]string{}}
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		var word string
		if k, rest, ok := strings.Cut(s, `="`); ok && !strings.ContainsAny(k, " \t") {
			q, err := strconv.QuotedPrefix(`"` + rest)
			if err != nil {
				return a, fmt.Errorf("bad quoted value for %s: %v", k, err)
			}
			v, _ := strconv.Unquote(q)
			a.kv[k] = v
			s = rest[len(q)-1:]
			continue
		}
		word, s, _ = strings.Cut(s, " ")
		if k, v, ok := strings.Cut(word, "="); ok {
			a.kv[k] = v
		} else {
			a.pos = append(a.pos, word)
		}
	}
	return a, nil
}

// fenced wraps text in a code fence longer than any backtick run in it.
func fenced(lang, text string) string {
	fence := "```"
	for strings.Contains(text, fence) {
		fence += "`"
	}
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	return fence + lang + "\n" + text + fence + "\n"
}
