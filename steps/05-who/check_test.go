package main

// 「检查你自己的代码」（go test -server DIR）的测试，用各种「学习者写的代码」：
// 都是本章代码的副本，写到临时目录里，有的改了一处。本章跑全套，别的章只跑原样的副本（TestCheckFaithfulCopy）。

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"im-workbook/chattest"
)

// 没有 go.mod、只有教程那几个文件的目录：照教程的方式 go build main.go server.go user.go。
func TestCheckCopyWithoutGoMod(t *testing.T) {
	t.Parallel()
	sum, report, err := chattest.CheckCopy(t, chattest.LearnerCopy(t, false, nil))
	require.NoError(t, err, report)
	assert.Equal(t, len(transcriptsSeeing(t, "")), sum.Same, report)
	assert.True(t, sum.OK(), report)
	assert.Empty(t, sum.Fixed, report)
}

// 改了一句回复（「下线」改成「离线」）：恰好是用到这句话的对话记录不同，报告给出看到的内容。
func TestCheckChangedReply(t *testing.T) {
	t.Parallel()
	dir := chattest.LearnerCopy(t, true, map[string]func(string) string{
		"user.go": func(s string) string { return strings.Replace(s, `"下线"`, `"离线"`, 1) },
	})
	sum, report, err := chattest.CheckCopy(t, dir)
	require.NoError(t, err, report)

	uses := transcriptsSeeing(t, "下线")
	require.NotEmpty(t, uses)
	assert.ElementsMatch(t, uses, sum.Differ, report)
	all := len(transcriptsSeeing(t, ""))
	assert.Equal(t, all-len(uses), sum.Same, report)
	for _, name := range uses {
		assert.Contains(t, report, "✗ "+name+"：不同\n", report)
	}
	assert.Contains(t, report, `实际收到："[127.0.0.1:<bob>]127.0.0.1:<bob>: 离线\n"`)
	assert.Contains(t, report, `alice 应该看到 "[127.0.0.1:<bob>]127.0.0.1:<bob>: 下线\n"`)
	assert.True(t, strings.HasSuffix(report, fmt.Sprintf("总结 05-who：%d 个对话记录一样，%d 个不同\n", all-len(uses), len(uses))), report)
}

// transcriptsSeeing lists the transcripts in which a line that is not a
// comment contains text; with "" it lists every transcript.
func transcriptsSeeing(t *testing.T, text string) []string {
	files, err := filepath.Glob("testdata/*.txt")
	require.NoError(t, err)
	var out []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, l := range strings.Split(string(data), "\n") {
			if !strings.HasPrefix(l, "#") && strings.Contains(l, text) {
				out = append(out, filepath.Base(f))
				break
			}
		}
	}
	return out
}

// 好几个学习者把 buf[:n-1] 换成了 strings.TrimSpace：CRLF 的 bug 没了，who 在 telnet 里也好用了，
// 和 final 的修法一样。报告说这是修好了，不是失败。
func TestCheckCRLFFixedWithTrimSpace(t *testing.T) {
	t.Parallel()
	dir := chattest.LearnerCopy(t, true, map[string]func(string) string{
		"server.go": func(s string) string {
			s = strings.Replace(s, "msg := string(buf[:n-1])", "msg := strings.TrimSpace(string(buf[:n]))", 1)
			return strings.Replace(s, "import (\n", "import (\n\t\"strings\"\n", 1)
		},
	})
	sum, report, err := chattest.CheckCopy(t, dir)
	require.NoError(t, err, report)
	assert.True(t, sum.OK(), report)
	assert.ElementsMatch(t, []string{"known-bug-crlf.txt", "known-bug-telnet-who.txt"}, sum.FixedAsFinal, report)
	// Without the newline, TrimSpace keeps the last letter, but final waits for the end of the line;
	// keystroke by keystroke, each letter is a message of its own, where final builds the line.
	assert.ElementsMatch(t, []string{"known-bug-crlf.txt", "known-bug-telnet-who.txt", "known-bug-no-newline.txt", "known-bug-telnet-char-mode.txt"}, sum.Fixed, report)
	assert.Contains(t, report, `★ known-bug-crlf.txt：你修好了这个已知 bug（telnet 的 "\r\n" 只去掉了 '\n'，'\r' 留在消息里），修法和 final 一样（final/testdata/crlf.txt 第 1～11 行）。`)
	assert.Contains(t, report, `实际收到："[127.0.0.1:<alice>]127.0.0.1:<alice>: hello\n"`)
	same := len(transcriptsSeeing(t, "")) - 4
	assert.True(t, strings.HasSuffix(report, fmt.Sprintf("总结 05-who：%d 个对话记录一样，0 个不同；4 个已知 bug 你的代码没有照原样重现，其中 2 个修得和 final 一样\n", same)), report)
}

// 本章被复制出工作区、找不到 final 的对照记录时，照样说出是哪个已知 bug，只是不比较修法。
func TestCheckKnownBugWithoutFinal(t *testing.T) {
	t.Parallel()
	dir := chattest.LearnerCopy(t, false, map[string]func(string) string{
		"server.go": func(s string) string {
			return strings.Replace(s, "msg := string(buf[:n-1])", "msg := string(bytes.TrimRight(buf[:n], \"\\r\\n\"))", 1)
		},
	})
	// bytes.TrimRight needs the import; leaving it out is also a fine compile-error case.
	_, err := chattest.BuildServer(dir, t.TempDir())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "你的代码编译不通过（在 "+dir+" 里运行 go build main.go server.go user.go）：\n./server.go:")
	assert.Contains(t, err.Error(), "undefined: bytes")

	src := filepath.Join(dir, "server.go")
	data, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(src, bytes.Replace(data, []byte("import (\n"), []byte("import (\n\t\"bytes\"\n"), 1), 0o644))
	srv := build(t, dir)
	var out bytes.Buffer
	sum, err := (&chattest.Check{Transcripts: someTranscripts(t, "known-bug-crlf.txt"), Server: srv, Out: &out}).Run(t)
	report := out.String()
	require.NoError(t, err, report)
	assert.True(t, sum.OK(), report)
	assert.Contains(t, sum.Fixed, "known-bug-crlf.txt", report)
	assert.Empty(t, sum.FixedAsFinal, report)
	assert.Contains(t, report, "★ known-bug-crlf.txt：教程在这里有已知 bug（telnet 的 \"\\r\\n\" 只去掉了 '\\n'，'\\r' 留在消息里），你的服务器的表现和教程不同。\n  （final 的对照记录不在手边，没法比较修法。）\n")
}

// 不监听的服务器：一行说明，不是一堆错误。
func TestCheckServerThatNeverListens(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, main, want string
	}{
		{"blocks", "server := NewServer(\"127.0.0.1\", 8888)\n\t_ = server\n\tselect {}", "你的服务器运行了 1s，还没有在 127.0.0.1:8888 监听（main 里调用 server.Start() 了吗？）"},
		{"returns", "server := NewServer(\"127.0.0.1\", 8888)\n\t_ = server", `你的服务器还没在 127.0.0.1:8888 监听就退出了（exit status 0）。它的输出：""`},
		{"other port", "server := NewServer(\"127.0.0.1\", 0)\n\tserver.Start()", "你的服务器在端口 "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := chattest.LearnerCopy(t, true, map[string]func(string) string{
				"main.go": func(s string) string {
					return strings.Replace(s, "server := NewServer(\"127.0.0.1\", 8888)\n\tserver.Start()", tc.main, 1)
				},
			})
			srv := build(t, dir)
			srv.ListenTimeout = time.Second
			var out bytes.Buffer
			_, err := (&chattest.Check{Transcripts: "testdata", Server: srv, Out: &out}).Run(t)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "\n")
			assert.NotContains(t, out.String(), "✗", "nothing was checked")
		})
	}
}

// -server 127.0.0.1:8888：学习者自己启动的服务器，所有对话记录共用它。
func TestCheckSharedServer(t *testing.T) {
	t.Parallel()
	srv := build(t, chattest.LearnerCopy(t, true, nil))
	var out bytes.Buffer
	unlock, err := chattest.LockChapterPort(&out)
	require.NoError(t, err)
	t.Cleanup(unlock) // after Start's cleanup has stopped the server
	srv.Start(t)
	// Two transcripts, one after the other: the second's clients do not hear of the first's.
	sum, err := (&chattest.Check{Transcripts: someTranscripts(t, "online-offline.txt", "who.txt"), Addr: chattest.ChapterAddr, Out: &out}).Run(t)
	require.NoError(t, err, out.String())
	assert.Equal(t, 2, sum.Same, out.String())
	assert.Contains(t, out.String(), "所有对话记录共用它")
}

// build builds a learner-shaped copy. The test waits for port 8888 when a program that does not
// take chattest.LockChapterPort holds it (other tests of the workspace, say); a learner is told at once.
func build(t *testing.T, dir string) *chattest.LearnerServer {
	srv, err := chattest.BuildServer(dir, t.TempDir())
	require.NoError(t, err)
	srv.PortWait = 30 * time.Second
	return srv
}

// someTranscripts copies some of the chapter's transcripts to a directory of their own,
// for the tests that need no more of them.
func someTranscripts(t *testing.T, names ...string) string {
	dir := t.TempDir()
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o644))
	}
	return dir
}

// 命令行上的错误（目录写错、编译不通过、连不上）：go test 的输出里只有一行说明。
// 直接运行本测试程序自己（go test 编译出来的那个），和 go test -server … 运行的是同一个程序。
func TestCheckFlagErrors(t *testing.T) {
	t.Parallel()
	broken := chattest.LearnerCopy(t, false, map[string]func(string) string{
		"user.go": func(s string) string { return s + "\nfunc broken() { undefinedThing() }\n" },
	})
	for _, tc := range []struct {
		server string
		want   []string
	}{
		{"no/such/dir", []string{"检查你的代码：找不到目录 no/such/dir（相对路径从本章目录和它上面的每一层目录找过了；写绝对路径最稳妥）"}},
		{broken, []string{"检查你的代码：你的代码编译不通过（在 " + broken + " 里运行 go build main.go server.go user.go）：", "./user.go:", "undefined: undefinedThing"}},
		{"127.0.0.1:1", []string{"检查你的代码：连不上 127.0.0.1:1：没有程序在端口 1 监听。先在另一个终端里启动你的服务器（go run .），或者用 -server 你的代码目录"}},
	} {
		cmd := exec.Command(os.Args[0], "-server", tc.server)
		out, err := cmd.CombinedOutput()
		require.Error(t, err, "%s", out)
		var lines []string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "检查 ") || strings.HasPrefix(l, "（") {
				continue // the header of a check
			}
			lines = append(lines, l)
		}
		got := strings.Join(lines, "\n")
		for _, w := range tc.want {
			assert.Contains(t, got, w)
		}
		assert.NotContains(t, got, "goroutine", "no stack")
		assert.NotContains(t, got, "transcript_test.go", "no test file positions")
	}
}

// 服务器崩溃了：报告给出客户端看到的（连接被关闭），和服务器在控制台上最后打印的 panic。
func TestCheckServerPanics(t *testing.T) {
	t.Parallel()
	dir := chattest.LearnerCopy(t, true, map[string]func(string) string{
		"user.go": func(s string) string {
			return strings.Replace(s, `if msg == "who" {`, "if msg == \"who\" {\n\t\tvar m map[string]int\n\t\tm[msg]++\n", 1)
		},
	})
	var out bytes.Buffer
	sum, err := (&chattest.Check{Transcripts: someTranscripts(t, "who.txt"), Server: build(t, dir), Out: &out}).Run(t)
	report := out.String()
	require.NoError(t, err, report)
	assert.Equal(t, []string{"who.txt"}, sum.Differ)
	assert.Contains(t, report, "    实际收到：什么也没有\n    （然后连接被关闭了）\n    你的服务器退出了（exit status 2）。它在控制台上最后打印的是：\n")
	assert.Contains(t, report, "      panic: assignment to entry in nil map\n")
	assert.Contains(t, report, "/user.go:")
}
