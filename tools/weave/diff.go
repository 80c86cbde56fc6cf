package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
)

// codeFiles reads a chapter's code: its .go files, sub-packages included,
// without tests and testdata. Keys are slash paths relative to dir.
func codeFiles(dir string) (map[string]string, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: no such directory", dir)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	files := map[string]string{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(d.Name(), ".go") || strings.HasSuffix(d.Name(), "_test.go") {
			return nil
		}
		text, err := readLF(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = text
		return nil
	})
	if err == nil && len(files) == 0 {
		err = fmt.Errorf("%s has no Go code files: is it a chapter directory?", dir)
	}
	return files, err
}

// fileChange is one file's part of a chapter's change.
type fileChange struct {
	name       string
	old, new   string
	added, del int    // lines
	diff       string // unified diff; empty for new, removed or unchanged files
}

func (c fileChange) isNew() bool     { return c.old == "" && c.new != "" }
func (c fileChange) isRemoved() bool { return c.new == "" && c.old != "" }

// compare lists every code file of either directory, in name order.
func compare(oldDir, newDir, oldLabel, newLabel string) ([]fileChange, error) {
	oldFiles, err := codeFiles(oldDir)
	if err != nil {
		return nil, err
	}
	newFiles, err := codeFiles(newDir)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for n := range oldFiles {
		names[n] = true
	}
	for n := range newFiles {
		names[n] = true
	}
	var out []fileChange
	for n := range names {
		c := fileChange{name: n, old: oldFiles[n], new: newFiles[n]}
		if c.old != c.new {
			d, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
				A: splitLines(c.old), B: splitLines(c.new),
				FromFile: path.Join(oldLabel, n), ToFile: path.Join(newLabel, n), Context: 3,
			})
			if err != nil {
				return nil, err
			}
			c.diff = d
			for _, l := range strings.Split(d, "\n") {
				switch {
				case strings.HasPrefix(l, "+++"), strings.HasPrefix(l, "---"):
				case strings.HasPrefix(l, "+"):
					c.added++
				case strings.HasPrefix(l, "-"):
					c.del++
				}
			}
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// diff renders the change from the chapter in prev to the README's chapter:
// a heading line and a diff block per changed file, new files as code.
func (g *generator) diff(prev string) (string, error) {
	prevRel, err := g.rel(prev)
	if err != nil {
		return "", err
	}
	oldLabel, newLabel := path.Base(prevRel), path.Base(g.readmeDir)
	changes, err := compare(g.abs(prevRel), g.abs(g.readmeDir), oldLabel, newLabel)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "和 [%s](%s) 相比的代码改动（只比较 .go 代码文件，不含测试、testdata、README、go.mod）。"+
		"自己比较：在本目录运行 `go run im-workbook/tools/weave diff %s .`\n", oldLabel, prev, prev)
	var same []string
	for _, c := range changes {
		switch {
		case c.old == c.new:
			same = append(same, "`"+c.name+"`")
		case c.isNew():
			fmt.Fprintf(&b, "\n**`%s`**：新文件，%d 行\n\n", c.name, c.added)
			b.WriteString(fenced("go", c.new))
		case c.isRemoved():
			fmt.Fprintf(&b, "\n**`%s`**：删除（%d 行）\n", c.name, c.del)
		default:
			fmt.Fprintf(&b, "\n**`%s`**：+%d −%d 行\n\n", c.name, c.added, c.del)
			b.WriteString(fenced("diff", c.diff))
		}
	}
	if len(same) > 0 {
		fmt.Fprintf(&b, "\n没有变化：%s。\n", strings.Join(same, "、"))
	}
	return b.String(), nil
}

// summary is a table of the README's module against the chapter in base:
// per file, its lines before and after and the top-level names it gained
// and lost. A full diff would be too long to read.
func (g *generator) summary(base string) (string, error) {
	baseRel, err := g.rel(base)
	if err != nil {
		return "", err
	}
	changes, err := compare(g.abs(baseRel), g.abs(g.readmeDir), path.Base(baseRel), path.Base(g.readmeDir))
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| 文件 file | [%s](%s) 行数 lines | final 行数 lines | +/− | 新增的顶层名字 names added | 去掉的 names gone |\n|---|---:|---:|---:|---|---|\n", path.Base(baseRel), base)
	var tOld, tNew, tAdd, tDel int
	for _, c := range changes {
		oldNames, err := topLevelNames(c.name, c.old)
		if err != nil {
			return "", err
		}
		newNames, err := topLevelNames(c.name, c.new)
		if err != nil {
			return "", err
		}
		nOld, nNew := countLines(c.old), countLines(c.new)
		tOld, tNew, tAdd, tDel = tOld+nOld, tNew+nNew, tAdd+c.added, tDel+c.del
		change := fmt.Sprintf("+%d −%d", c.added, c.del)
		switch {
		case c.old == c.new:
			change = "不变 same"
		case c.isNew():
			change = "新文件 new"
		case c.isRemoved():
			change = "删除 removed"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", c.name, dash(nOld), dash(nNew), change,
			codeList(minus(newNames, oldNames)), codeList(minus(oldNames, newNames)))
	}
	fmt.Fprintf(&b, "| 合计 total | %d | %d | +%d −%d |  |  |\n", tOld, tNew, tAdd, tDel)
	return b.String(), nil
}

func countLines(s string) int { return len(splitLines(s)) }

func dash(n int) string {
	if n == 0 {
		return "–"
	}
	return fmt.Sprint(n)
}

// topLevelNames are a file's functions, methods (Type.Method) and types.
func topLevelNames(name, src string) ([]string, error) {
	if src == "" {
		return nil, nil
	}
	f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			n := d.Name.Name
			if d.Recv != nil && len(d.Recv.List) == 1 {
				n = recvType(d.Recv.List[0].Type) + "." + n
			}
			names = append(names, n)
		case *ast.GenDecl:
			for _, s := range d.Specs {
				if ts, ok := s.(*ast.TypeSpec); ok {
					names = append(names, ts.Name.Name)
				}
			}
		}
	}
	return names, nil
}

func recvType(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.StarExpr:
		return recvType(e.X)
	case *ast.IndexExpr:
		return recvType(e.X)
	case *ast.Ident:
		return e.Name
	}
	return "?"
}

// minus is the names of a not in b, in a's order.
func minus(a, b []string) []string {
	var out []string
	for _, n := range a {
		if !contains(b, n) {
			out = append(out, n)
		}
	}
	return out
}

func codeList(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return "`" + strings.Join(names, "`, `") + "`"
}

// runDiff prints what diff -ruN would print for two chapter directories'
// code, and fails on a directory that does not exist (diff -N would
// silently compare it as empty).
func runDiff(w io.Writer, args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("want two directories: OLD NEW, e.g. go run im-workbook/tools/weave diff ../02-online-broadcast ./")
	}
	changes, err := compare(args[0], args[1], args[0], args[1])
	if err != nil {
		return err
	}
	for _, c := range changes {
		if c.diff == "" {
			continue // unchanged
		}
		if _, err := io.WriteString(w, c.diff); err != nil {
			return err
		}
	}
	return nil
}
