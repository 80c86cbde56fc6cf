package main

import (
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

var (
	testDecl = regexp.MustCompile(`(?m)^func ((?:Test|Fuzz)\w+)\(`)
	// A citation ending in "…" or "*" names every test with that prefix.
	testCited = regexp.MustCompile(`\b(?:Test|Fuzz)[A-Z0-9_]\w*(?:…|\*)?`)
	link      = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	// A transcript path: anything ending in testdata/<name>.txt.
	transcriptCited = regexp.MustCompile(`[\w./-]*testdata/[\w.-]+\.txt`)
)

// indexTests is every Test… and Fuzz… function declared in the repository.
func indexTests(root string) (map[string]bool, error) {
	names := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range testDecl.FindAllSubmatch(data, -1) {
			names[string(m[1])] = true
		}
		return nil
	})
	return names, err
}

// lint reports what the README rel cites that does not exist: Test… and
// Fuzz… functions, transcripts, and relative links.
func lint(root, rel, doc string, tests map[string]bool) []string {
	var problems []string
	dir := path.Dir(rel)
	exists := func(p string) bool {
		_, err := os.Stat(filepath.Join(root, filepath.FromSlash(p)))
		return err == nil
	}
	seen := map[string]bool{}
	report := func(line int, format string, a ...any) {
		p := fmt.Sprintf("%s:%d: %s", rel, line, fmt.Sprintf(format, a...))
		if !seen[p] {
			seen[p] = true
			problems = append(problems, p)
		}
	}
	fence, example := "", false
	for i, ln := range strings.Split(doc, "\n") {
		n := i + 1
		if example {
			// A ```md block shows README syntax; its paths are examples.
			if strings.HasPrefix(strings.TrimLeft(ln, " "), fence) {
				fence, example = "", false
			}
			continue
		}
		if f := isFence(ln); f != "" && fence == "" {
			if lang := strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(ln), f[:1])); lang == "md" || lang == "markdown" {
				fence, example = f, true
				continue
			}
		}
		for _, name := range testCited.FindAllString(ln, -1) {
			if !citedTestExists(tests, name) {
				report(n, "cites %s, but no test or fuzz function has that name", name)
			}
		}
		for _, m := range transcriptCited.FindAllString(ln, -1) {
			if !exists(path.Join(dir, m)) && !exists(m) {
				report(n, "cites transcript %s, which does not exist", m)
			}
		}
		// Links count only outside code blocks.
		if fence != "" {
			if strings.HasPrefix(strings.TrimLeft(ln, " "), fence) {
				fence = ""
			}
			continue
		}
		if f := isFence(ln); f != "" {
			fence = f
			continue
		}
		for _, m := range link.FindAllStringSubmatch(ln, -1) {
			target := m[1]
			if strings.HasPrefix(target, "#") || regexp.MustCompile(`^[a-zA-Z][a-zA-Z+.-]*:`).MatchString(target) {
				continue
			}
			target, _, _ = strings.Cut(target, "#")
			if t, err := url.PathUnescape(target); err == nil {
				target = t
			}
			p := path.Join(dir, target)
			if strings.HasPrefix(p, "../") || !exists(p) {
				report(n, "links to %s, which does not exist", m[1])
			}
		}
	}
	return problems
}

func citedTestExists(tests map[string]bool, cited string) bool {
	prefix, ok := strings.CutSuffix(cited, "…")
	if !ok {
		prefix, ok = strings.CutSuffix(cited, "*")
	}
	if !ok {
		return tests[cited]
	}
	for t := range tests {
		if strings.HasPrefix(t, prefix) {
			return true
		}
	}
	return false
}
