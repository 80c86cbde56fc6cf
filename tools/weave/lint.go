package main

import (
	"fmt"
	"go/scanner"
	"go/token"
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
	// checkMarker puts the table after it under the names check: a check,
	// not a region (nothing is generated).
	checkMarker = regexp.MustCompile(`^<!-- weave check names (\S+) -->$`)
	codeSpan    = regexp.MustCompile("`([^`]+)`")
	identPath   = regexp.MustCompile(`^([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(?:\(.*\))?$`)
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
	var table *namesTable
	for i, ln := range strings.Split(doc, "\n") {
		n := i + 1
		if m := checkMarker.FindStringSubmatch(ln); m != nil {
			var err error
			table, err = newNamesTable(root, path.Join(dir, m[1]), dir)
			if err != nil {
				report(n, "%v", err)
			}
			continue
		}
		if table != nil {
			switch {
			case strings.HasPrefix(ln, "|"):
				for _, p := range table.check(ln) {
					report(n, "%s", p)
				}
				table.rows++
			case table.rows > 0:
				table = nil // the table has ended
			}
		}
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

// namesTable checks a two-column vocabulary table: every Go name in
// backquotes in the first column must be in the old code, every one in the
// second column in the new code. Only that the identifiers exist is
// checked, so that renaming one in the code shows up here.
type namesTable struct {
	oldDir, newDir string
	old, new       map[string]bool
	rows           int
}

func newNamesTable(root, oldDir, newDir string) (*namesTable, error) {
	t := &namesTable{oldDir: oldDir, newDir: newDir}
	var err error
	if t.old, err = identifiers(filepath.Join(root, filepath.FromSlash(oldDir))); err != nil {
		return nil, err
	}
	if t.new, err = identifiers(filepath.Join(root, filepath.FromSlash(newDir))); err != nil {
		return nil, err
	}
	return t, nil
}

// check checks one table line; the header and the rule are the first two.
func (t *namesTable) check(line string) []string {
	if t.rows < 2 {
		return nil
	}
	cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
	var problems []string
	for col, c := range cells[:min(2, len(cells))] {
		idents, dir := t.old, t.oldDir
		if col == 1 {
			idents, dir = t.new, t.newDir
		}
		for _, m := range codeSpan.FindAllStringSubmatch(c, -1) {
			id := identPath.FindStringSubmatch(m[1])
			if id == nil || strings.HasSuffix(id[1], ".go") {
				continue // not a Go name: a flag, an expression, a file
			}
			for _, part := range strings.Split(id[1], ".") {
				if !idents[part] {
					problems = append(problems, fmt.Sprintf("names `%s`, but the code in %s has no identifier %s", m[1], dir, part))
					break
				}
			}
		}
	}
	return problems
}

// identifiers is every identifier in the code files of dir.
func identifiers(dir string) (map[string]bool, error) {
	files, err := codeFiles(dir)
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for name, src := range files {
		fset := token.NewFileSet()
		var s scanner.Scanner
		s.Init(fset.AddFile(name, -1, len(src)), []byte(src), nil, 0)
		for {
			_, tok, lit := s.Scan()
			if tok == token.EOF {
				break
			}
			if tok == token.IDENT {
				ids[lit] = true
			}
		}
	}
	return ids, nil
}
