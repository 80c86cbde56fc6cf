// Command weave regenerates the generated regions of the workbook's READMEs
// from the code, the transcripts and the benchmark results, and checks what
// the READMEs cite. A region is everything between a begin marker and the
// end marker, each alone on its line:
//
//	<!-- weave diff ../02-online-broadcast -->
//	(generated: do not edit)
//	<!-- weave end -->
//
// Directives (paths are relative to the README):
//
//	diff DIR                       the code change from chapter DIR to the README's chapter
//	session FILE[:FROM-TO]         a transcript, or lines FROM-TO of it, in a text block
//	sequence FILE:FROM-TO [bug=LINE note="…"]
//	                               a Mermaid sequenceDiagram of those transcript lines;
//	                               the step on line LINE is marked as the known bug
//	summary DIR                    per-file summary of the README's module against DIR
//	bench FILE                     the benchmark results file, formatted
//
// One more marker generates nothing: "<!-- weave check names DIR -->" makes
// the check verify that the Go names in backquotes in the first two columns
// of the table after it exist in DIR's code and in the README's own.
//
// Usage:
//
//	go run ./tools/weave                 rewrite every region; then check citations
//	go run ./tools/weave -check          change nothing; fail naming each stale region
//	go run ./tools/weave -mermaid DIR    also write each diagram to DIR/*.mmd (CI renders them)
//	go run im-workbook/tools/weave diff OLD NEW
//	                                     print the code diff of two chapter directories
package main

import (
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// fixCommand is what a reader runs to bring every region up to date.
const fixCommand = "go run ./tools/weave"

func main() {
	check := flag.Bool("check", false, "change nothing: report every region that is out of date, and fail")
	mermaidDir := flag.String("mermaid", "", "also write every generated diagram to `DIR` as .mmd files")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./tools/weave [-check] [-mermaid DIR]\n       go run im-workbook/tools/weave diff OLD NEW\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.Arg(0) == "diff" {
		if err := runDiff(os.Stdout, flag.Args()[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "weave diff:", err)
			os.Exit(2)
		}
		return
	}
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	root, err := findRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "weave:", err)
		os.Exit(2)
	}
	problems, err := run(root, *check, *mermaidDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "weave:", err)
		os.Exit(1)
	}
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, "weave:", p)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
}

// run weaves (or, with check, compares) every README under root, then
// checks what they cite. It returns the problems found; err is for the
// ones that stop it (a malformed marker, a missing transcript).
func run(root string, check bool, mermaidDir string) (problems []string, err error) {
	readmes, err := findReadmes(root)
	if err != nil {
		return nil, err
	}
	if mermaidDir != "" {
		if err := os.MkdirAll(mermaidDir, 0o755); err != nil {
			return nil, err
		}
	}
	idx, err := indexTests(root)
	if err != nil {
		return nil, err
	}
	stale := 0
	for _, rel := range readmes {
		path := filepath.Join(root, filepath.FromSlash(rel))
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		doc, crlf := toLF(string(data))
		res, err := weave(root, rel, doc)
		if err != nil {
			return nil, err
		}
		for _, k := range res.missingKinds() {
			problems = append(problems, fmt.Sprintf("%s: no %q region (every chapter page 02-09 has a diff, a session and a sequence diagram)", rel, k))
		}
		if check {
			for _, r := range res.changed {
				stale++
				problems = append(problems, fmt.Sprintf("%s:%d: region %q is out of date:\n%s", rel, r.line, r.directive, r.diff))
			}
		} else if res.out != doc {
			out := res.out
			if crlf {
				out = strings.ReplaceAll(out, "\n", "\r\n")
			}
			if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
				return nil, err
			}
			fmt.Fprintf(os.Stderr, "weave: wrote %s (%d region(s) changed)\n", rel, len(res.changed))
		}
		if mermaidDir != "" {
			for i, d := range res.diagrams {
				name := fmt.Sprintf("%s-%d.mmd", strings.NewReplacer("/", "_", ".md", "").Replace(rel), i+1)
				if err := os.WriteFile(filepath.Join(mermaidDir, name), []byte(d), 0o644); err != nil {
					return nil, err
				}
			}
		}
		problems = append(problems, lint(root, rel, res.out, idx)...)
	}
	if stale > 0 {
		problems = append(problems, fmt.Sprintf("%d generated region(s) out of date: run %s and commit the READMEs it changes", stale, fixCommand))
	}
	return problems, nil
}

// findRoot is the directory of the go.work above the working directory.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.work above the working directory: run weave inside the im-workbook checkout")
		}
		dir = parent
	}
}

// findReadmes lists every README.md under root, slash-separated and
// relative to root, in lexical order; testdata and hidden directories
// are skipped.
func findReadmes(root string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Name() == "README.md" {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	return out, err
}

// toLF turns CRLF line ends (a Windows checkout) into LF and says whether
// it did, so that the file can be written back as it was.
func toLF(s string) (string, bool) {
	if !strings.Contains(s, "\r\n") {
		return s, false
	}
	return strings.ReplaceAll(s, "\r\n", "\n"), true
}

// readLF reads a file with LF line ends, whatever the checkout did.
func readLF(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s, _ := toLF(string(data))
	return s, nil
}
