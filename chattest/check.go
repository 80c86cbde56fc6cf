package chattest

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// A learner checks their own chapter with the chapter's transcripts:
//
//	go test ./steps/05-who -server ~/code/05       build that directory, run it
//	go test ./steps/05-who -server 127.0.0.1:8888  a server they started themselves
//
// Only what clients see decides; the report says, per transcript, where the
// learner's server first differs, as a person at nc would see it.
var (
	serverFlag = flag.String("server", "", "check your own server instead of the chapter's: a directory with your code, or host:port of a server you started")
	clientFlag = flag.String("client", "", "check your own menu client (chapter 09) instead of the chapter's: a directory with your client's code")
)

// ChapterAddr is where the tutorial's servers listen: main.go hard-codes it.
const ChapterAddr = "127.0.0.1:8888"

// learnerRun restricts a run with -server to the transcripts, unless -run
// says otherwise: the chapter's other tests (race and crash demos, tests
// of this check) are about the workbook's own copy. With -client, it
// leaves out the tests of this check (TestCheck…).
func learnerRun() {
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case *serverFlag != "" && !set["test.run"]:
		_ = flag.Set("test.run", "^TestTranscripts$")
	case *clientFlag != "" && !set["test.skip"]:
		_ = flag.Set("test.skip", "^TestCheck")
	}
}

// checkFromFlag is RunDir under -server or -client.
func checkFromFlag(t *testing.T, dir string) {
	if *serverFlag == "" {
		t.Skip("-client checks a menu client: run it on the client package, e.g. go test ./steps/09-client/client -client DIR")
	}
	c := &Check{Transcripts: dir, Fixed: finalTestdata(), Out: os.Stdout}
	var err error
	if addr, ok := serverAddr(*serverFlag); ok {
		c.Addr = addr
	} else {
		c.Server, err = BuildServer(*serverFlag, t.TempDir())
	}
	if err == nil {
		var sum Summary
		sum, err = c.Run(t)
		if err == nil && !sum.OK() {
			t.Fail()
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stdout, "检查你的代码：%v\n", err)
		t.FailNow()
	}
}

// serverAddr reports whether spec names a running server (host:port)
// rather than a directory.
func serverAddr(spec string) (string, bool) {
	if _, err := os.Stat(spec); err == nil {
		return "", false
	}
	host, port, err := net.SplitHostPort(spec)
	if err != nil || host == "" {
		return "", false
	}
	if _, err := strconv.Atoi(port); err != nil {
		return "", false
	}
	return spec, true
}

// Check runs a chapter's transcripts against a learner's server and
// writes a report a learner can act on.
type Check struct {
	Transcripts string         // the chapter's testdata directory
	Fixed       string         // final's testdata (the fixed known bugs); "" if not at hand
	Server      *LearnerServer // started afresh for each transcript; or
	Addr        string         // a server the learner started, shared by every transcript
	Out         io.Writer      // the report
	finalRun    *result        // the last run of a part of final's transcript

	// SkipWaits leaves out the transcripts that wait in real time (the
	// server's own timeouts): tests of the check itself skip them for time.
	SkipWaits bool
}

// Summary counts what a [Check] found.
type Summary struct {
	Chapter      string
	Same         int      // transcripts the learner's server matches
	Differ       []string // transcripts it does not match
	Fixed        []string // known-bug transcripts whose bug it does not have
	FixedAsFinal []string // … of which it behaves as final's fixed transcript
	Skipped      []string // transcripts that could not run this way
}

// OK reports whether nothing differs.
func (s Summary) OK() bool { return len(s.Differ) == 0 }

func (s Summary) String() string {
	line := fmt.Sprintf("总结 %s：%d 个对话记录一样，%d 个不同", s.Chapter, s.Same, len(s.Differ))
	if len(s.Fixed) > 0 {
		line += fmt.Sprintf("；%d 个已知 bug 你的代码没有照原样重现，其中 %d 个修得和 final 一样", len(s.Fixed), len(s.FixedAsFinal))
	}
	if len(s.Skipped) > 0 {
		line += fmt.Sprintf("，%d 个跳过", len(s.Skipped))
	}
	return line
}

// Run checks every transcript and returns the counts. Its error is one
// line (a server that cannot be started, say): then nothing was checked.
func (c *Check) Run(t testing.TB) (Summary, error) {
	sum := Summary{Chapter: chapterName()}
	files, err := filepath.Glob(filepath.Join(c.Transcripts, "*.txt"))
	if err != nil || len(files) == 0 {
		return sum, fmt.Errorf("%s 里没有对话记录（*.txt）", c.Transcripts)
	}
	if c.Server != nil {
		unlock, err := LockChapterPort(c.Out)
		if err != nil {
			return sum, err
		}
		defer unlock()
		fmt.Fprintf(c.Out, "检查 %s：每个对话记录各启动一次你的服务器（%s），只比较客户端看到的内容。\n", c.Server.Dir, ChapterAddr)
	} else {
		fmt.Fprintf(c.Out, "检查 %s 上你自己启动的服务器：所有对话记录共用它，只比较客户端看到的内容。\n", c.Addr)
	}
	fmt.Fprintln(c.Out, "（127.0.0.1:<alice> 表示 alice 这一端的地址：端口号每次都不同。）")
	for _, path := range files {
		name := filepath.Base(path)
		sc, err := loadScript(path)
		if err != nil {
			return sum, err
		}
		if why := c.cannotRun(sc); why != "" {
			fmt.Fprintf(c.Out, "- %s：跳过，%s\n", name, why)
			sum.Skipped = append(sum.Skipped, name)
			continue
		}
		r, err := c.run(t, sc)
		if err != nil {
			return sum, err
		}
		if r.passed() {
			fmt.Fprintf(c.Out, "✓ %s：一样\n", name)
			sum.Same++
			c.consoleNote(sc, r)
			continue
		}
		bug := knownBug(sc)
		if bug == "" || r.s.diff.at <= c.sharedWithFix(sc, name) {
			fmt.Fprintf(c.Out, "✗ %s：不同\n", name)
			r.report(c.Out, "  ", 8)
			sum.Differ = append(sum.Differ, name)
			c.consoleNote(sc, r)
			continue
		}
		sum.Fixed = append(sum.Fixed, name)
		fixed, asFinal, err := c.compareWithFinal(t, sc, name)
		if err != nil {
			return sum, err
		}
		switch {
		case fixed == "" || c.finalRun.s == nil:
			fmt.Fprintf(c.Out, "★ %s：教程在这里有已知 bug（%s），你的服务器的表现和教程不同。\n", name, bug)
			if fixed == "" {
				fmt.Fprintln(c.Out, "  （final 的对照记录不在手边，没法比较修法。）")
			} else {
				fmt.Fprintf(c.Out, "  （final 的对照记录 %s %s。）\n", fixed, c.finalRun.failure)
			}
			r.report(c.Out, "  ", 8)
		case asFinal:
			fmt.Fprintf(c.Out, "★ %s：你修好了这个已知 bug（%s），修法和 final 一样（%s）。\n", name, bug, fixed)
			sum.FixedAsFinal = append(sum.FixedAsFinal, name)
		default:
			fmt.Fprintf(c.Out, "★ %s：教程在这里有已知 bug（%s），你的服务器的表现和教程不同，也和 final 的修法不同（%s）。\n", name, bug, fixed)
			fmt.Fprintln(c.Out, "  和教程的差别：")
			r.report(c.Out, "    ", 8)
			fmt.Fprintln(c.Out, "  和 final 的差别：")
			c.finalRun.report(c.Out, "    ", 0)
		}
	}
	fmt.Fprintln(c.Out, sum)
	return sum, nil
}

// cannotRun says why sc cannot run against this server, or "".
func (c *Check) cannotRun(sc *script) string {
	if len(sc.args()) > 0 {
		return "它要给服务器传命令行参数，教程的 main 不接受参数"
	}
	if c.SkipWaits && slices.ContainsFunc(sc.steps, func(st *step) bool { return st.verb == vWait }) {
		return "它要真正地等上几秒（计时的是服务器自己），这次检查不跑它"
	}
	if c.Server == nil && slices.ContainsFunc(sc.steps, func(st *step) bool { return st.verb == vCrashes }) {
		return "它会让服务器崩溃，需要一个每次新启动的服务器：用 -server 你的代码目录"
	}
	return ""
}

// run runs sc against a fresh learner server (or the shared one).
func (c *Check) run(t testing.TB, sc *script) (*result, error) {
	start := c.startShared
	if c.Server != nil {
		start = c.Server.start
	}
	r := &result{}
	catch(t, func(t testing.TB) {
		r.s = newSession(t, sc, start, false)
		r.s.clientsOnly = true
		defer func() { r.exited = r.s.exitedAfterFailure(r.failure) }() // before cleanup stops the server
		r.s.run()
	}, &r.failure)
	if c.Server != nil && c.Server.err != nil {
		return nil, c.Server.err
	}
	if c.Server == nil {
		if r.s == nil {
			return nil, fmt.Errorf("%s", r.failure)
		}
		// Let the shared server see this transcript's clients leave before
		// the next transcript's clients arrive.
		time.Sleep(settle)
	}
	return r, nil
}

func (c *Check) startShared(t testing.TB, _ []string) *Server {
	if err := checkListening(c.Addr); err != nil {
		t.Fatal(err)
	}
	return &Server{Addr: c.Addr}
}

// consoleNote reports, without judging, a server console that does not
// show what the transcript's "server prints" steps expect.
func (c *Check) consoleNote(sc *script, r *result) {
	if r.s == nil || r.s.console == nil {
		return
	}
	var want strings.Builder
	for _, st := range sc.steps {
		if st.who == consoleName && st.verb == vSees {
			want.WriteString(st.text)
			want.WriteString(strings.Join(st.items, ""))
		}
	}
	got := r.s.norm(r.s.console.s.Bytes())
	if want.Len() > 0 && !strings.Contains(got, want.String()) {
		fmt.Fprintf(c.Out, "  注：服务器控制台（不影响结果，调试输出随你加）：教程打印 %s，你的服务器打印 %s\n",
			strconv.Quote(want.String()), strconv.Quote(got))
	}
}

// sharedWithFix returns the index of the last of the leading steps that
// the known-bug transcript sc shares with final's fixed one: a difference
// there is not about the bug. Without final's transcript, the steps
// before the first typed text count as shared.
func (c *Check) sharedWithFix(sc *script, name string) int {
	fixed, err := c.fixedScript(sc, name)
	if err != nil || fixed == nil {
		if i := slices.IndexFunc(sc.steps, func(st *step) bool { return st.verb == vTypes }); i >= 0 {
			return i - 1
		}
		return len(sc.steps)
	}
	a, b := actions(sc), actions(fixed)
	n := 0
	for n < len(a) && n < len(b) && sameStep(sc.steps[a[n]], fixed.steps[b[n]]) {
		n++
	}
	if n == len(a) {
		return len(sc.steps)
	}
	return a[n] - 1
}

// compareWithFinal runs the part of final's fixed transcript for sc's bug
// that sc's own typing covers, against a fresh server. It returns the
// fixed transcript's name and lines ("" if not at hand) and whether the
// learner's server passed it.
func (c *Check) compareWithFinal(t testing.TB, sc *script, name string) (string, bool, error) {
	c.finalRun = nil
	fixed, err := c.fixedScript(sc, name)
	if err != nil || fixed == nil {
		return "", false, err
	}
	part := coveredPart(fixed, sc)
	where := fmt.Sprintf("final/testdata/%s 第 1～%d 行", filepath.Base(fixed.path), part.steps[len(part.steps)-1].line)
	if why := c.cannotRun(part); why != "" {
		c.finalRun = &result{failure: "没法用来比较：" + why}
		return where, false, nil
	}
	if chapterName() < "04" {
		// Broadcasts gain their "[addr]name: " prefix in chapter 04;
		// final's lines carry it, so a fix here could never match them.
		c.finalRun = &result{failure: "没法用来比较：第 4 章起广播才带「[地址]名字: 」前缀，final 的对照记录里每一行都带着它"}
		return where, false, nil
	}
	r, err := c.run(t, part)
	if err != nil {
		return "", false, err
	}
	c.finalRun = r
	return where, r.passed(), nil
}

// fixedScript loads final's transcript for the known bug in sc, named in
// its comments ("final/testdata/crlf.txt") or else after it.
func (c *Check) fixedScript(sc *script, name string) (*script, error) {
	if c.Fixed == "" {
		return nil, nil
	}
	base := strings.TrimPrefix(name, "known-bug-")
	for _, st := range sc.steps {
		if _, after, ok := strings.Cut(st.raw, "final/testdata/"); ok && st.verb == vComment {
			if end := strings.Index(after, ".txt"); end > 0 {
				base = after[:end+len(".txt")]
				break
			}
		}
	}
	path := filepath.Join(c.Fixed, base)
	if _, err := os.Stat(path); err != nil {
		return nil, nil
	}
	return loadScript(path)
}

// coveredPart returns fixed up to (not including) its first typed text
// that sc never types: the part about the same bug.
func coveredPart(fixed, sc *script) *script {
	typed := map[string]bool{}
	for _, st := range sc.steps {
		if st.verb == vTypes {
			typed[st.text] = true
		}
	}
	end := len(fixed.steps)
	for i, st := range fixed.steps {
		if st.verb == vTypes && !typed[st.text] {
			end = i
			break
		}
	}
	for end > 0 && fixed.steps[end-1].verb == vComment {
		end--
	}
	return &script{path: fixed.path, steps: fixed.steps[:end]}
}

// actions returns the indexes of sc's steps that are not comments.
func actions(sc *script) []int {
	var out []int
	for i, st := range sc.steps {
		if st.verb != vComment {
			out = append(out, i)
		}
	}
	return out
}

func sameStep(a, b *step) bool {
	return a.verb == b.verb && a.who == b.who && a.text == b.text && slices.Equal(sorted(a.items), sorted(b.items))
}

// knownBug returns what the known bug a transcript shows is: the first
// sentence of its first comment ("# 已知 bug（第 3 章引入）：…。", which
// may go on over the next comment lines), or "" for other transcripts.
func knownBug(sc *script) string {
	if !strings.HasPrefix(filepath.Base(sc.path), "known-bug-") {
		return ""
	}
	var text strings.Builder
	for _, st := range sc.steps {
		if st.verb != vComment || strings.TrimSpace(st.raw) == "" {
			break
		}
		text.WriteString(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(st.raw), "#")))
	}
	_, what, ok := strings.Cut(text.String(), "：")
	if !ok || !strings.HasPrefix(text.String(), "已知 bug") {
		return strings.TrimSuffix(strings.TrimPrefix(filepath.Base(sc.path), "known-bug-"), ".txt")
	}
	if i := strings.Index(what, "。"); i >= 0 {
		what = what[:i]
	}
	return what
}

func loadScript(path string) (*script, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseScript(filepath.Base(path), data)
}

// result is one transcript run against a learner's server.
type result struct {
	s       *session
	failure string // the runner's message; "" if it passed
	exited  bool   // the server exited during the run
}

func (r *result) passed() bool { return r.failure == "" }

// report shows where the run departed from the transcript, as a person at
// nc would have seen it: up to context steps before, then what differed.
func (r *result) report(w io.Writer, indent string, context int) {
	if r.s == nil {
		fmt.Fprintf(w, "%s%s\n", indent, r.failure)
		return
	}
	steps, d := r.s.sc.steps, r.s.diff
	var before []*step // what happened before, as the learner would see it
	for _, st := range steps[:min(d.at, len(steps))] {
		if st.verb != vComment && st.who != consoleName {
			before = append(before, st)
		}
	}
	if len(before) > context {
		before = before[len(before)-context:]
		fmt.Fprintf(w, "%s  ……\n", indent)
	}
	for _, st := range before {
		fmt.Fprintf(w, "%s  %s\n", indent, say(st))
	}
	defer r.exitNote(w, indent)
	if d.at >= len(steps) {
		fmt.Fprintf(w, "%s→ 对话结束时：\n", indent)
		for _, c := range r.s.order {
			if got, _, _ := c.unread(); got != "" {
				fmt.Fprintf(w, "%s  %s 还收到了对话记录里没有的内容：%s\n", indent, c.name, quoteRuns(got))
			}
		}
		return
	}
	st := steps[d.at]
	fmt.Fprintf(w, "%s→ 第 %d 行：%s\n", indent, st.line, say(st))
	switch {
	case st.verb == vSees || st.verb == vSeesNothing:
		got := quoteRuns(d.got)
		if d.got == "" {
			got = "什么也没有"
		}
		fmt.Fprintf(w, "%s  实际收到：%s\n", indent, got)
		if c := r.s.clients[st.who]; st.verb == vSees && c != nil && strings.HasPrefix(d.want, d.got) {
			if c.s.Closed() != nil {
				fmt.Fprintf(w, "%s  （然后连接被关闭了）\n", indent)
			} else {
				fmt.Fprintf(w, "%s  （之后 %v 内没有再收到别的）\n", indent, Patience)
			}
		}
	case st.verb == vDisconnected && strings.Contains(r.failure, "still connected"):
		fmt.Fprintf(w, "%s  实际：%v 之后连接还在\n", indent, Patience)
	case st.verb == vDisconnected:
		fmt.Fprintf(w, "%s  实际：断开之前还收到了 %s\n", indent, quoteRuns(d.got))
	case st.verb == vCrashes:
		fmt.Fprintf(w, "%s  实际：%v 之后服务器还在运行\n", indent, Patience)
	default:
		fmt.Fprintf(w, "%s  实际：%s\n", indent, lastLine(r.failure))
	}
}

// exitNote says so if the learner's server exited when the transcript
// did not expect it, with the end of its console: a panic, typically.
func (r *result) exitNote(w io.Writer, indent string) {
	t := r.s.target
	if !r.exited || r.s.crashed {
		return
	}
	lines := splitLines(r.s.norm(t.Console.s.Bytes()))
	fmt.Fprintf(w, "%s  你的服务器退出了（%v）。它在控制台上最后打印的是：\n", indent, t.Program.Err())
	if len(lines) > 12 {
		lines = lines[len(lines)-12:]
		fmt.Fprintf(w, "%s    ……\n", indent)
	}
	for _, l := range lines {
		fmt.Fprintf(w, "%s    %s\n", indent, strings.TrimSuffix(l, "\n"))
	}
}

// say renders a step as what happens at nc.
func say(st *step) string {
	switch st.verb {
	case vConnect:
		return st.who + " 连上服务器（nc 127.0.0.1 8888）"
	case vTypes:
		return st.who + " 输入 " + strconv.Quote(st.text)
	case vSees:
		if st.anyOrd {
			q := make([]string, len(st.items))
			for i, it := range st.items {
				q[i] = strconv.Quote(it)
			}
			return st.who + " 应该看到（顺序不限）" + strings.Join(q, " ")
		}
		return st.who + " 应该看到 " + strconv.Quote(st.text)
	case vSeesNothing:
		return st.who + " 应该什么也收不到"
	case vMaySee:
		return st.who + " 可能收到任意多个 " + strconv.Quote(st.text)
	case vDisconnected:
		return st.who + " 应该被服务器断开"
	case vQuits:
		return st.who + " 断开连接（按 Ctrl-C 退出 nc）"
	case vResets:
		return st.who + " 异常断开（RST）"
	case vCrashes:
		return "服务器应该崩溃退出"
	case vWait:
		return "（等 " + st.wait.String() + "）"
	}
	return st.raw
}

// quoteRuns quotes what a client received for a report: a run of equal
// lines is quoted once with its count ("\n" ×299), so that a flood of
// blank lines reads as one, and past maxQuoted bytes the rest is "……".
func quoteRuns(got string) string {
	const maxQuoted = 300
	var b strings.Builder
	for got != "" && b.Len() < maxQuoted {
		line, _, _ := strings.Cut(got, "\n")
		line = got[:min(len(got), len(line)+1)] // with its newline, if it has one
		n := 1
		for strings.HasPrefix(got[n*len(line):], line) {
			n++
		}
		if b.Len() > 0 {
			b.WriteString(" + ")
		}
		if len(line) > maxQuoted { // one long line: its start
			cut := maxQuoted
			for cut > 0 && !utf8.RuneStart(line[cut]) {
				cut--
			}
			b.WriteString(strconv.Quote(line[:cut]))
			got = got[cut:]
			break
		}
		b.WriteString(strconv.Quote(line))
		if n > 1 {
			fmt.Fprintf(&b, " ×%d", n)
		}
		got = got[n*len(line):]
	}
	if got != "" {
		b.WriteString("……")
	}
	return b.String()
}

// lastLine returns the gist of a runner message, without its file:line.
func lastLine(msg string) string {
	first, rest, multi := strings.Cut(strings.TrimSpace(msg), "\n")
	if multi {
		return strings.ReplaceAll(rest, "\n", "；")
	}
	if i := strings.Index(first, ".txt:"); i >= 0 {
		if _, after, ok := strings.Cut(first[i:], ": "); ok {
			return after
		}
	}
	return first
}

// catch runs f with a TB whose Fatal ends f only, keeping the message in
// *failure, and whose Cleanup runs when f ends rather than with t's.
func catch(t testing.TB, f func(testing.TB), failure *string) {
	c := &catcher{TB: t, failure: failure}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(c)
	}()
	<-done
	for i := len(c.cleanups) - 1; i >= 0; i-- {
		c.cleanups[i]()
	}
}

type catcher struct {
	testing.TB
	failure  *string
	cleanups []func()
}

func (c *catcher) Helper()             {}
func (c *catcher) Cleanup(f func())    { c.cleanups = append(c.cleanups, f) }
func (c *catcher) Fatal(a ...any)      { c.stop(fmt.Sprint(a...)) }
func (c *catcher) FailNow()            { c.stop("failed") }
func (c *catcher) Logf(string, ...any) {}
func (c *catcher) Fatalf(format string, a ...any) {
	c.stop(fmt.Sprintf(format, a...))
}

func (c *catcher) stop(msg string) {
	*c.failure = msg
	runtime.Goexit()
}

// chapterName is the chapter's directory name, such as "05-who".
func chapterName() string {
	wd, err := os.Getwd()
	if err != nil {
		return "?"
	}
	return filepath.Base(wd)
}

// finalTestdata returns final's transcripts in this workspace (the chapter
// test runs in steps/NN-…), or "" when the chapter was copied out of it.
func finalTestdata() string {
	dir := filepath.Join("..", "..", "final", "testdata")
	if _, err := os.Stat(dir); err != nil {
		return ""
	}
	return dir
}
