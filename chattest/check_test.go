package chattest

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The check itself runs against learner-shaped copies of the chapters, in
// the chapters' own tests (TestCheckFaithfulCopy, and steps/05-who's
// check_test.go); these test its parts.

func TestFindDirFromChapterOrAbove(t *testing.T) {
	root := t.TempDir()
	chapter := filepath.Join(root, "steps", "05-who")
	mine := filepath.Join(root, "mine", "05")
	require.NoError(t, os.MkdirAll(chapter, 0o755))
	require.NoError(t, os.MkdirAll(mine, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "file"), nil, 0o644))

	got, err := findDir("mine/05", chapter) // typed at the workspace root
	require.NoError(t, err)
	assert.Equal(t, mine, got)
	got, err = findDir("../../mine/05", chapter) // typed in the chapter's directory
	require.NoError(t, err)
	assert.Equal(t, mine, got)
	got, err = findDir(mine, "/")
	require.NoError(t, err)
	assert.Equal(t, mine, got)

	_, err = findDir("mine/06", chapter)
	assert.EqualError(t, err, "找不到目录 mine/06（相对路径从本章目录和它上面的每一层目录找过了；写绝对路径最稳妥）")
	_, err = findDir("file", chapter)
	assert.ErrorContains(t, err, "file 不是目录")
}

func TestProcAddr(t *testing.T) {
	assert.Equal(t, "127.0.0.1", procAddr("0100007F"))
	assert.Equal(t, "0.0.0.0", procAddr("00000000"))
	assert.Equal(t, "::", procAddr("00000000000000000000000000000000"))
	assert.Equal(t, "::1", procAddr("00000000000000000000000001000000"))
}

// Port 8888 taken: the one line names the process that listens there.
func TestPortTakenNamesTheProcess(t *testing.T) {
	if _, err := listeners(); err != nil {
		t.Skip("no /proc/net/tcp on this system: the message cannot name the process")
	}
	unlock, err := LockChapterPort(io.Discard)
	require.NoError(t, err)
	defer unlock()
	l, lerr := net.Listen("tcp", ChapterAddr)
	err = portFree(ChapterAddr)
	require.Error(t, err)
	if lerr != nil { // something outside the tests holds it: the message names it all the same
		assert.Contains(t, err.Error(), "端口 8888 已被占用：")
		return
	}
	require.NoError(t, l.Close())
	exe, _ := os.ReadFile("/proc/self/cmdline")
	prog, _, _ := bytesCut(exe)
	assert.Contains(t, err.Error(), fmt.Sprintf("端口 8888 已被占用：进程 %d（%s", os.Getpid(), prog))
	assert.Contains(t, err.Error(), "在 127.0.0.1 监听。先停掉它，或者用 -server 127.0.0.1:8888 检查这个正在运行的服务器")
	assert.NoError(t, portFree(ChapterAddr), "free again once closed")
}

func bytesCut(b []byte) (string, string, bool) {
	for i, c := range b {
		if c == 0 {
			return string(b[:i]), string(b[i+1:]), true
		}
	}
	return string(b), "", false
}

func TestKnownBugComparison(t *testing.T) {
	chapter, err := parseScript("known-bug-crlf.txt", []byte(`# 已知 bug（第 3 章引入）：telnet 的 "\r\n" 只去掉了 '\n'。
# final 修好了：见 final/testdata/crlf.txt。
connect alice
alice sees "hi\n"
alice types "hello\r\n"
alice sees "hello\r\n"
`))
	require.NoError(t, err)
	fixed, err := parseScript("crlf.txt", []byte(`# fixed
connect alice
alice sees "hi\n"
connect bob
alice types "hello\r\n"
alice sees "hello\n"
# more than the chapter types
alice types "x\ry\n"
alice sees "xy\n"
`))
	require.NoError(t, err)
	assert.Equal(t, `telnet 的 "\r\n" 只去掉了 '\n'`, knownBug(chapter))

	part := coveredPart(fixed, chapter)
	assert.Equal(t, 6, part.steps[len(part.steps)-1].line, "up to the text the chapter never types")

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "crlf.txt"), []byte("connect alice\nalice sees \"hi\\n\"\nconnect bob\n"), 0o644))
	c := &Check{Fixed: dir}
	got, err := c.fixedScript(chapter, "known-bug-crlf.txt")
	require.NoError(t, err)
	assert.Equal(t, "crlf.txt", got.path, "named in the comment")
	// The chapter and final share connect and the first sees (steps 2 and
	// 3): a difference there is no known bug.
	assert.Equal(t, 3, c.sharedWithFix(chapter, "known-bug-crlf.txt"))
	assert.Equal(t, 3, (&Check{}).sharedWithFix(chapter, "known-bug-crlf.txt"), "without final: up to the first typed text")
}

// A report quotes a run of equal lines once, with its count, and stops
// at about 300 bytes.
func TestQuoteRuns(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{"你被踢了！\n" + strings.Repeat("\n", 299), `"你被踢了！\n" + "\n" ×299`},
		{"a\nb\nb\nc", `"a\n" + "b\n" ×2 + "c"`},
		{"x\nx", `"x\n" + "x"`},
		{strings.Repeat("好", 200) + "\n", `"` + strings.Repeat("好", 100) + `"……`},
		{strings.Repeat("line\n", 1000) + "tail\n", `"line\n" ×1000 + "tail\n"`},
	} {
		assert.Equal(t, c.want, quoteRuns(c.got), "%q", c.got)
	}
}
