package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeTree creates files (slash paths → contents) under a new root.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, text := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
	}
	return root
}

const transcript = `# a comment
connect alice
alice sees "[127.0.0.1:<alice>]127.0.0.1:<alice>: 已上线\n"
connect bob
alice sees "[127.0.0.1:<bob>]127.0.0.1:<bob>: 已上线\n"
bob sees "[127.0.0.1:<bob>]127.0.0.1:<bob>: 已上线\n"
# the bug
alice types "a;b #1 {x} 100%\n"
bob sees, in any order:
    "one\n"
    "two\n"
bob sees nothing
alice may see "\n" any number of times
wait 2s
alice quits
bob is disconnected
`

const readme = `# chapter 02

Hand-written text.

<!-- weave diff ../01-one -->
<!-- weave end -->

## session

<!-- weave session testdata/t.txt:2-6 -->
old text that was copied by hand
<!-- weave end -->

<!-- weave sequence testdata/t.txt:2-16 bug=8 note="a \"quoted\" <note>" -->
<!-- weave end -->

` + "```md\n<!-- weave diff ../nowhere -->\n```\n" + `
More hand-written text.
`

func chapterTree(t *testing.T) string {
	return writeTree(t, map[string]string{
		"go.work":                     "go 1.25.0\n",
		"steps/01-one/main.go":        "package main\n\nfunc main() {\n\tprintln(1)\n}\n",
		"steps/01-one/server.go":      "package main\n\ntype Server struct{}\n",
		"steps/01-one/x_test.go":      "package main\n",
		"steps/02-two/main.go":        "package main\n\nfunc main() {\n\tprintln(2)\n}\n",
		"steps/02-two/server.go":      "package main\n\ntype Server struct{}\n",
		"steps/02-two/client/c.go":    "package main\n\nfunc main() {}\n",
		"steps/02-two/y_test.go":      "package main\n\nfunc TestSomething(t *testing.T) {}\n",
		"steps/02-two/testdata/t.txt": transcript,
		"steps/02-two/README.md":      readme,
	})
}

func TestWeaveRegions(t *testing.T) {
	root := chapterTree(t)
	res, err := weave(root, "steps/02-two/README.md", readme)
	require.NoError(t, err)
	out := res.out
	assert.Len(t, res.changed, 3)
	assert.Empty(t, res.missingKinds())

	// Hand-written text outside the markers, and the marker shown in a
	// code block, are untouched.
	assert.Contains(t, out, "# chapter 02\n\nHand-written text.\n\n<!-- weave diff ../01-one -->\n")
	assert.Contains(t, out, "```md\n<!-- weave diff ../nowhere -->\n```\n\nMore hand-written text.\n")
	assert.NotContains(t, out, "old text that was copied by hand")

	// The diff: changed files as diffs, new files as code, tests left out.
	assert.Contains(t, out, "**`main.go`**：+1 −1 行\n\n```diff\n--- 01-one/main.go\n+++ 02-two/main.go\n@@ -1,5 +1,5 @@\n package main\n \n func main() {\n-\tprintln(1)\n+\tprintln(2)\n }\n```\n")
	assert.Contains(t, out, "**`client/c.go`**：新文件，3 行\n\n```go\npackage main\n\nfunc main() {}\n```\n")
	assert.Contains(t, out, "没有变化：`server.go`。")
	assert.NotContains(t, out, "_test.go")
	assert.Contains(t, out, "`go run im-workbook/tools/weave diff ../01-one .`")

	// The session: exactly the lines asked for.
	assert.Contains(t, out, "<!-- weave session testdata/t.txt:2-6 -->\n\n```text\nconnect alice\nalice sees \"[127.0.0.1:<alice>]127.0.0.1:<alice>: 已上线\\n\"\nconnect bob\n")
	assert.Contains(t, out, "bob sees \"[127.0.0.1:<bob>]127.0.0.1:<bob>: 已上线\\n\"\n```\n\n<!-- weave end -->")

	// Weaving again changes nothing.
	again, err := weave(root, "steps/02-two/README.md", out)
	require.NoError(t, err)
	assert.Equal(t, out, again.out)
	assert.Empty(t, again.changed)

	// A new hand-written section between regions survives.
	edited := strings.Replace(out, "## session\n", "## session\n\n## 检查你自己的代码\n\nNew prose.\n", 1)
	res, err = weave(root, "steps/02-two/README.md", edited)
	require.NoError(t, err)
	assert.Equal(t, edited, res.out)
}

func TestSequence(t *testing.T) {
	root := chapterTree(t)
	res, err := weave(root, "steps/02-two/README.md", readme)
	require.NoError(t, err)
	require.Len(t, res.diagrams, 1)
	assert.Equal(t, `sequenceDiagram
    participant alice as alice<br/>127.0.0.1:#lt;alice#gt;
    participant server as 服务器<br/>127.0.0.1:8888
    participant bob as bob<br/>127.0.0.1:#lt;bob#gt;
    alice-)server: 连接 connect
    server-->>alice: "[127.0.0.1:#lt;alice#gt;]127.0.0.1:#lt;alice#gt;: 已上线\n"
    bob-)server: 连接 connect
    server-->>alice: "[127.0.0.1:#lt;bob#gt;]127.0.0.1:#lt;bob#gt;: 已上线\n"
    server-->>bob: "[127.0.0.1:#lt;bob#gt;]127.0.0.1:#lt;bob#gt;: 已上线\n"
    rect rgb(255, 228, 228)
    alice->>server: "a#59;b #35;1 #123;x#125; 100#37;\n"
    Note over alice,server: ⚠ 已知 bug：a "quoted" #lt;note#gt;
    end
    server-->>bob: "one\n"
    server-->>bob: "two\n"
    Note over bob: 什么也没收到
    Note over alice: 可能收到任意多个 "\n"
    Note over server: 等待 2s
    alice-xserver: 断开 quits
    server-xbob: 断开连接 disconnected
`, res.diagrams[0])
	assert.Contains(t, res.out, "对话记录 [testdata/t.txt](testdata/t.txt) 第 2–16 行：\n\n```mermaid\nsequenceDiagram\n")

	for _, tc := range []struct{ directive, err string }{
		{"sequence testdata/t.txt", "needs a line range"},
		{"sequence testdata/t.txt:2-99", "has 16 lines"},
		{"sequence testdata/t.txt:2-16 bug=7 note=x", "not a step"},
		{"sequence testdata/t.txt:2-16 bug=8", "needs note="},
		{"sequence testdata/t.txt:2-16 bug=40 note=x", "not a line in 2-16"},
		{"sequence testdata/nope.txt:1-2", "nope.txt"},
		{"sequence testdata/t.txt:2-16 color=red", "does not take color="},
		{"picture testdata/t.txt", "unknown directive"},
		{"diff ../../../..", "outside the repository"},
		{"diff ../01-onee", "no such directory"},
	} {
		g := &generator{root: root, readmeDir: "steps/02-two"}
		_, _, err := g.generate(tc.directive)
		if assert.Error(t, err, tc.directive) {
			assert.Contains(t, err.Error(), tc.err, tc.directive)
		}
	}
}

func TestMermaidText(t *testing.T) {
	assert.Equal(t, "\"to bob hello \u00a0\u00a0there\\n\"", mermaidText(`"to bob hello   there\n"`))
	assert.Equal(t, "a \u00a0b c", mermaidText("a  b c"))
	assert.Equal(t, "#lt;b#gt; #35;1#59; #amp; 5#37; #123;#125;", mermaidText("<b> #1; & 5% {}"))
}

func TestTooManyEvents(t *testing.T) {
	long := "connect alice\n" + strings.Repeat("alice types \"x\\n\"\n", maxEvents)
	root := writeTree(t, map[string]string{"a/t.txt": long})
	g := &generator{root: root, readmeDir: "a"}
	_, err := g.sequence("t.txt:1-21", "", "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "21 events: at most 20")
	_, err = g.sequence("t.txt:1-20", "", "")
	assert.NoError(t, err)

	root = writeTree(t, map[string]string{"a/t.txt": "connect end\n"})
	g = &generator{root: root, readmeDir: "a"}
	_, err = g.sequence("t.txt:1-1", "", "")
	assert.ErrorContains(t, err, "Mermaid keyword")
}

func TestMarkers(t *testing.T) {
	for _, tc := range []struct{ doc, err string }{
		{"<!-- weave session t.txt -->\ntext\n", `line 1: region "session t.txt" has no`},
		{"<!-- weave session t.txt -->\n<!-- weave session t.txt -->\n<!-- weave end -->\n", "README.md:2: a weave marker inside the region opened on line 1"},
		{"text\n<!-- weave end -->\n", "README.md:2: \"<!-- weave end -->\" without a begin marker"},
	} {
		_, err := findRegions("README.md", tc.doc)
		if assert.Error(t, err, tc.doc) {
			assert.Contains(t, strings.Replace(err.Error(), "README.md:1:", "line 1:", 1), tc.err)
		}
	}
	regions, err := findRegions("README.md", "~~~\n<!-- weave x -->\n~~~\n<!-- weave y -->\n<!-- weave end -->\n")
	require.NoError(t, err)
	require.Len(t, regions, 1)
	assert.Equal(t, "y", regions[0].directive)
	assert.Equal(t, 4, regions[0].line)
}

func TestParseArgs(t *testing.T) {
	a, err := parseArgs(`testdata/t.txt:4-19 bug=16 note="空消息 \"也\" 广播"`)
	require.NoError(t, err)
	assert.Equal(t, []string{"testdata/t.txt:4-19"}, a.pos)
	assert.Equal(t, map[string]string{"bug": "16", "note": `空消息 "也" 广播`}, a.kv)
	_, err = parseArgs(`note="unterminated`)
	assert.Error(t, err)
}

func TestCheckNamesFileRegionAndCommand(t *testing.T) {
	root := chapterTree(t)
	_, err := run(root, false, "")
	require.NoError(t, err)
	problems, err := run(root, true, "")
	require.NoError(t, err)
	assert.Empty(t, problems, "up to date after weaving")

	// A one-line change to the chapter's server.go.
	p := filepath.Join(root, "steps/02-two/server.go")
	require.NoError(t, os.WriteFile(p, []byte("package main\n\ntype Server struct{ n int }\n"), 0o644))
	problems, err = run(root, true, "")
	require.NoError(t, err)
	require.Len(t, problems, 2)
	assert.Contains(t, problems[0], `steps/02-two/README.md:5: region "diff ../01-one" is out of date:`)
	assert.Contains(t, problems[0], "+type Server struct{ n int }")
	assert.Equal(t, "1 generated region(s) out of date: run go run ./tools/weave and commit the READMEs it changes", problems[1])

	// The check changed nothing; weaving fixes it.
	before, _ := os.ReadFile(filepath.Join(root, "steps/02-two/README.md"))
	_, err = run(root, false, "")
	require.NoError(t, err)
	after, _ := os.ReadFile(filepath.Join(root, "steps/02-two/README.md"))
	assert.NotEqual(t, before, after)
	problems, err = run(root, true, "")
	require.NoError(t, err)
	assert.Empty(t, problems)
}

func TestCRLFReadmeStaysCRLF(t *testing.T) {
	root := chapterTree(t)
	p := filepath.Join(root, "steps/02-two/README.md")
	require.NoError(t, os.WriteFile(p, []byte(strings.ReplaceAll(readme, "\n", "\r\n")), 0o644))
	_, err := run(root, false, "")
	require.NoError(t, err)
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, bytes.Count(data, []byte("\n")), bytes.Count(data, []byte("\r\n")), "every line ends in CRLF")
	problems, err := run(root, true, "")
	require.NoError(t, err)
	assert.Empty(t, problems)
}

func TestMissingRegions(t *testing.T) {
	root := writeTree(t, map[string]string{"go.work": "", "steps/03-x/README.md": "# no regions\n", "final/README.md": "# none needed\n"})
	problems, err := run(root, true, "")
	require.NoError(t, err)
	assert.Equal(t, []string{
		`steps/03-x/README.md: no "diff" region (every chapter page 02-09 has a diff, a session and a sequence diagram)`,
		`steps/03-x/README.md: no "session" region (every chapter page 02-09 has a diff, a session and a sequence diagram)`,
		`steps/03-x/README.md: no "sequence" region (every chapter page 02-09 has a diff, a session and a sequence diagram)`,
	}, problems)
}

func TestLint(t *testing.T) {
	root := writeTree(t, map[string]string{
		"a/x_test.go":          "package a\n\nfunc TestKnownBugCrash(t *testing.T) {}\nfunc FuzzLines(f *testing.F) {}\n",
		"a/testdata/t.txt":     "connect alice\n",
		"final/testdata/k.txt": "connect bob\n",
	})
	tests, err := indexTests(root)
	require.NoError(t, err)
	doc := "TestKnownBugCrash and FuzzLines and TestKnownBug… exist; TestGone does not.\n" +
		"[ok](testdata/t.txt), [anchor](#x), [web](https://example.com/x), [up](../final/testdata/k.txt#L1)\n" +
		"[broken](testdata/nope.txt) `final/testdata/k.txt` `testdata/missing.txt`\n" +
		"```\n[not a link](nowhere)\n```\n" +
		"```md\n<!-- weave session testdata/example.txt --> TestExample [x](nowhere)\n```\n"
	assert.Equal(t, []string{
		"a/README.md:1: cites TestGone, but no test or fuzz function has that name",
		"a/README.md:3: cites transcript testdata/nope.txt, which does not exist",
		"a/README.md:3: cites transcript testdata/missing.txt, which does not exist",
		"a/README.md:3: links to testdata/nope.txt, which does not exist",
	}, lint(root, "a/README.md", doc, tests))
}

func TestRunDiff(t *testing.T) {
	root := chapterTree(t)
	var out strings.Builder
	require.NoError(t, runDiff(&out, []string{filepath.Join(root, "steps/01-one"), filepath.Join(root, "steps/02-two")}))
	assert.Contains(t, out.String(), "-\tprintln(1)\n+\tprintln(2)\n")
	assert.Contains(t, out.String(), "+func main() {}\n", "a new file is all additions")
	assert.NotContains(t, out.String(), "server.go")

	err := runDiff(&out, []string{filepath.Join(root, "steps/01-onee"), filepath.Join(root, "steps/02-two")})
	assert.ErrorContains(t, err, "01-onee: no such directory")
	err = runDiff(&out, []string{filepath.Join(root, "steps/02-two/testdata"), filepath.Join(root, "steps/02-two")})
	assert.ErrorContains(t, err, "no Go code files")
	assert.Error(t, runDiff(&out, []string{"one"}))
}

// The repository's own READMEs weave without error, and weaving them
// twice gives what weaving once gives.
func TestRepositoryIdempotent(t *testing.T) {
	root, err := findRoot()
	require.NoError(t, err)
	readmes, err := findReadmes(root)
	require.NoError(t, err)
	for _, rel := range readmes {
		doc, err := readLF(filepath.Join(root, filepath.FromSlash(rel)))
		require.NoError(t, err)
		once, err := weave(root, rel, doc)
		require.NoError(t, err, rel)
		twice, err := weave(root, rel, once.out)
		require.NoError(t, err, rel)
		assert.Equal(t, once.out, twice.out, rel)
		assert.Empty(t, twice.changed, rel)
	}
}

func TestNamesTable(t *testing.T) {
	root := writeTree(t, map[string]string{
		"old/server.go": "package main\n\ntype Server struct{ mapLock int }\n\nfunc (s *Server) ListenMessager() {}\n",
		"new/server.go": "package main\n\ntype Server struct{ mu int }\n",
	})
	tests := map[string]bool{}
	doc := "<!-- weave check names ../old -->\n\n" +
		"| tutorial | final | why |\n|---|---|---|\n" +
		"| `Server.mapLock`, `ListenMessager()`, `buf[:n-1]` | `Server.mu`, `server.go`, `-idle` | `anything` |\n" +
		"| `Server.gone` | `Server.mapLock`, `NewServer(cfg Config)` | |\n" +
		"\n| `Server.gone` | after the table: not checked | |\n"
	assert.Equal(t, []string{
		"new/README.md:6: names `Server.gone`, but the code in old has no identifier gone",
		"new/README.md:6: names `Server.mapLock`, but the code in new has no identifier mapLock",
		"new/README.md:6: names `NewServer(cfg Config)`, but the code in new has no identifier NewServer",
	}, lint(root, "new/README.md", doc, tests))

	// A check marker is not a region.
	regions, err := findRegions("README.md", doc)
	require.NoError(t, err)
	assert.Empty(t, regions)
}
