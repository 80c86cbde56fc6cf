package main

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"im-workbook/tools/internal/benchfmt"
)

// generator renders one region of the README in readmeDir (slash-separated,
// relative to root).
type generator struct {
	root, readmeDir string
	diagrams        []string
}

func (g *generator) generate(directive string) (kind, body string, err error) {
	kind, rest, _ := strings.Cut(directive, " ")
	a, err := parseArgs(rest)
	if err != nil {
		return kind, "", err
	}
	want := func(n int, keys ...string) error {
		if len(a.pos) != n {
			return fmt.Errorf("%s takes %d path(s), got %d", kind, n, len(a.pos))
		}
		for k := range a.kv {
			if !contains(keys, k) {
				return fmt.Errorf("%s does not take %s=", kind, k)
			}
		}
		return nil
	}
	switch kind {
	case "diff":
		if err := want(1); err != nil {
			return kind, "", err
		}
		body, err = g.diff(a.pos[0])
	case "summary":
		if err := want(1); err != nil {
			return kind, "", err
		}
		body, err = g.summary(a.pos[0])
	case "session":
		if err := want(1); err != nil {
			return kind, "", err
		}
		body, err = g.session(a.pos[0])
	case "sequence":
		if err := want(1, "bug", "note"); err != nil {
			return kind, "", err
		}
		body, err = g.sequence(a.pos[0], a.kv["bug"], a.kv["note"])
	case "bench":
		if err := want(1); err != nil {
			return kind, "", err
		}
		body, err = g.bench(a.pos[0])
	default:
		err = fmt.Errorf("unknown directive %q (diff, session, sequence, summary, bench)", kind)
	}
	return kind, body, err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// rel resolves p, relative to the README, to a slash path relative to root.
func (g *generator) rel(p string) (string, error) {
	r := path.Join(g.readmeDir, p)
	if r == ".." || strings.HasPrefix(r, "../") || path.IsAbs(p) {
		return "", fmt.Errorf("%s is outside the repository", p)
	}
	return r, nil
}

func (g *generator) abs(rel string) string {
	return filepath.Join(g.root, filepath.FromSlash(rel))
}

// fileRange splits "file.txt:4-19" into the file and the range (0, 0: all).
func fileRange(s string) (file string, from, to int, err error) {
	file, rng, ok := strings.Cut(s, ":")
	if !ok {
		return file, 0, 0, nil
	}
	a, b, ok := strings.Cut(rng, "-")
	from, err1 := strconv.Atoi(a)
	to, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || from < 1 || to < from {
		return "", 0, 0, fmt.Errorf("bad line range %q: want FROM-TO, e.g. 4-19", rng)
	}
	return file, from, to, nil
}

// transcriptLines reads a transcript and returns its lines from-to
// (1-based, inclusive; 0, 0 for all of them).
func (g *generator) transcriptLines(spec string) (rel string, lines []string, from, to int, err error) {
	file, from, to, err := fileRange(spec)
	if err != nil {
		return "", nil, 0, 0, err
	}
	rel, err = g.rel(file)
	if err != nil {
		return "", nil, 0, 0, err
	}
	text, err := readLF(g.abs(rel))
	if err != nil {
		return "", nil, 0, 0, fmt.Errorf("transcript %s: %w", file, err)
	}
	all := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if from == 0 {
		from, to = 1, len(all)
	}
	if to > len(all) {
		return "", nil, 0, 0, fmt.Errorf("%s has %d lines, the range asks for %d-%d", file, len(all), from, to)
	}
	return rel, all[from-1 : to], from, to, nil
}

// session is a transcript, or part of one, in a text block.
func (g *generator) session(spec string) (string, error) {
	_, lines, _, _, err := g.transcriptLines(spec)
	if err != nil {
		return "", err
	}
	return fenced("text", strings.Join(lines, "\n")), nil
}

// bench formats the benchmark results file.
func (g *generator) bench(file string) (string, error) {
	rel, err := g.rel(file)
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(g.abs(rel))
	if err != nil {
		return "", err
	}
	res, err := benchfmt.Parse(data)
	if err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	return res.Markdown(), nil
}
