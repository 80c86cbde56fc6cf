package chattest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The check is tested against learner-shaped code: the chapter's own
// files, copied as a learner who typed them would have them.

// LearnerCopy writes the chapter's code (the current directory's .go files,
// without its tests) to a new temporary directory: in a module of its own
// if module is true, else as bare files, the way the tutorial builds them.
// edits maps a file name to a change of its text, applied first; it fails
// the test if a change leaves its file as it was.
func LearnerCopy(t testing.TB, module bool, edits map[string]func(string) string) string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if edit := edits[f]; edit != nil {
			changed := []byte(edit(string(data)))
			if bytes.Equal(changed, data) {
				t.Fatalf("chattest: the edit of %s changes nothing", f)
			}
			data = changed
			delete(edits, f)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for f := range edits {
		t.Fatalf("chattest: no %s to edit", f)
	}
	if module {
		gomod := "module learner/" + filepath.Base(mustGetwd(t)) + "\n\ngo 1.25.0\n"
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func mustGetwd(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

// CheckCopy builds the learner-shaped code in dir and checks it as
// go test -server dir does, but without the transcripts that wait in real
// time. It returns the summary, the report, and the error that stopped
// the check, if one did (then the report has no summary).
func CheckCopy(t testing.TB, dir string) (Summary, string, error) {
	t.Helper()
	var out bytes.Buffer
	srv, err := BuildServer(dir, t.TempDir())
	if err != nil {
		return Summary{}, "", err
	}
	srv.ListenTimeout = Patience
	// Other tests of the workspace may listen on 8888 without the lock
	// (the tutorial's address, where a learner's server must listen).
	srv.PortWait = 30 * time.Second
	c := &Check{Transcripts: "testdata", Fixed: finalTestdata(), Server: srv, Out: &out, SkipWaits: true}
	sum, err := c.Run(t)
	return sum, out.String(), err
}

// CheckFaithfulCopy checks a faithful copy of the chapter in a module of
// its own: every transcript it runs must match.
func CheckFaithfulCopy(t testing.TB) {
	t.Helper()
	sum, report, err := CheckCopy(t, LearnerCopy(t, true, nil))
	if err != nil {
		t.Fatalf("checking a faithful copy: %v\nreport:\n%s", err, report)
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if !sum.OK() || len(sum.Fixed) > 0 || sum.Same+len(sum.Skipped) != len(files) || !strings.HasSuffix(report, sum.String()+"\n") {
		t.Fatalf("a faithful copy of the chapter should match every transcript; report:\n%s", report)
	}
	t.Logf("%s (skipped: %v)", sum, sum.Skipped)
}
