package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"im-workbook/chattest"
)

// go test ./steps/09-client/client -client DIR runs these tests against the
// learner's client. Here the learner's client is a copy of the chapter's
// (faithful, then with one string changed), run by this test binary itself
// with -client, as go test runs it.
func TestCheckClientFlag(t *testing.T) {
	t.Parallel()
	run := func(dir string) (string, error) {
		cmd := exec.Command(os.Args[0], "-client", dir, "-test.run=^(TestZeroQuits|TestNoServer)$", "-test.v")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run(chattest.LearnerCopy(t, false, nil))
	require.NoError(t, err, out)
	assert.Contains(t, out, "--- PASS: TestZeroQuits")
	assert.Contains(t, out, "--- PASS: TestNoServer")

	out, err = run(chattest.LearnerCopy(t, false, map[string]func(string) string{
		"client.go": func(s string) string { return strings.Replace(s, "链接服务器成功", "连接服务器成功", 1) },
	}))
	require.Error(t, err, out)
	assert.Contains(t, out, "--- FAIL: TestZeroQuits")
	assert.Contains(t, out, "(-want +got)")
	assert.Regexp(t, `\+[\s\x{a0}]*"连"`, out, "the learner's client printed this") // go-cmp's spaces vary on purpose

	out, err = run(chattest.LearnerCopy(t, false, map[string]func(string) string{
		"client.go": func(s string) string { return s + "\nfunc broken() { undefinedThing() }\n" },
	}))
	require.Error(t, err, out)
	assert.Contains(t, out, "检查你的代码：你的代码编译不通过（在 ")
	assert.Contains(t, out, "undefined: undefinedThing")
	assert.NotContains(t, out, "--- ", "no test ran")
}
