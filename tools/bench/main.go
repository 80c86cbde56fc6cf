// Command bench builds chapter 08 and final, starts each (and ncat --chat,
// when installed) on loopback in turn, runs the same load scenarios against
// each, and prints a Markdown table of the figures, the ratios final/ch08
// and final/ncat, and a bar chart. With -results it also writes the figures
// to the results file (tools/bench/results.json) that go run ./tools/weave
// formats into final/README.md's benchmark section. See tools/README.md.
//
//	go run ./tools/bench            # the full run, about three minutes
//	go run ./tools/bench -quick     # smaller scenarios, about a minute
//	go run ./tools/bench -results tools/bench/results.json && go run ./tools/weave
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"im-workbook/tools/internal/load"
)

// params are a run's scenario sizes.
type params struct {
	fan, stalled            load.Config // scenarios 1 and 2: readers, senders, lines and their size
	idleUsers               int
	leaveUsers              int
	leaveAfter, leaveWindow time.Duration
}

var (
	full = params{
		fan:       load.Config{Readers: 200, Senders: 8, Lines: 200, Size: 64, Timeout: runTimeout},
		stalled:   load.Config{Readers: 100, Senders: 8, Lines: 800, Size: 1024, Timeout: runTimeout},
		idleUsers: 5000, leaveUsers: 100, leaveAfter: 12 * time.Second, leaveWindow: 2 * time.Second,
	}
	quick = params{
		fan:       load.Config{Readers: 50, Senders: 4, Lines: 50, Size: 64, Timeout: runTimeout},
		stalled:   load.Config{Readers: 20, Senders: 8, Lines: 800, Size: 1024, Timeout: runTimeout},
		idleUsers: 1000, leaveUsers: 100, leaveAfter: 12 * time.Second, leaveWindow: 2 * time.Second,
	}
)

func main() {
	var (
		quickFlag = flag.Bool("quick", false, "smaller scenarios (about a minute)")
		results   = flag.String("results", "", "also write the figures to this results file (tools/bench/results.json); go run ./tools/weave then formats them into final/README.md")
		only      = flag.String("servers", "ch08,final,ncat", "servers to run, comma-separated (ncat only when installed)")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p := full
	if *quickFlag {
		p = quick
	}
	if err := run(ctx, p, *quickFlag, *only, *results); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, p params, isQuick bool, only, resultsFile string) error {
	root, err := workspaceRoot()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "im-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	logf("building chapter 08 and final in %s", root)
	kinds, err := build(ctx, root, dir)
	if err != nil {
		return err
	}
	kinds = slices.DeleteFunc(kinds, func(k kind) bool { return !slices.Contains(strings.Split(only, ","), k.name) })
	started := time.Now()
	rep := &report{params: p, quick: isQuick, kinds: kinds, when: started.UTC(), version: sourceVersion(ctx, root), tmp: dir}
	if err := rep.runAll(ctx); err != nil {
		return err
	}
	rep.took = time.Since(started)
	rep.machine = describeMachine(ctx)
	res := rep.results()
	fmt.Print(res.Markdown())
	if resultsFile != "" {
		data, err := res.JSON()
		if err == nil {
			err = os.WriteFile(resultsFile, data, 0o644)
		}
		if err != nil {
			return err
		}
		logf("wrote %s; now run go run ./tools/weave to format it into final/README.md", resultsFile)
	}
	return nil
}

// workspaceRoot is the directory of the go.work file in use.
func workspaceRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOWORK").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOWORK: %w", err)
	}
	w := strings.TrimSpace(string(out))
	if w == "" || w == "off" {
		return "", fmt.Errorf("run bench inside the im-workbook workspace (no go.work found)")
	}
	return filepath.Dir(w), nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// describeMachine runs nproc, lscpu | head, free -h, go version and reads
// the load average.
func describeMachine(ctx context.Context) string {
	var b strings.Builder
	// The load average says how busy the machine was with other work.
	for _, c := range []string{"nproc", "lscpu | head", "free -h", "go version", "cat /proc/loadavg"} {
		out, err := exec.CommandContext(ctx, "sh", "-c", c).CombinedOutput()
		fmt.Fprintf(&b, "$ %s\n", c)
		if err != nil {
			fmt.Fprintf(&b, "(%v)\n", err)
		}
		b.Write(out)
	}
	return b.String()
}

// sourceVersion names the commit the servers were built from, and says
// whether final or chapter 08 had uncommitted changes.
func sourceVersion(ctx context.Context, root string) string {
	git := func(args ...string) string {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	commit := git("log", "-1", "--format=%h")
	if commit == "" {
		return "not a git checkout"
	}
	if git("status", "--porcelain", "--", "final", "steps/08-private-chat") != "" {
		return "commit " + commit + " with uncommitted changes in final or steps/08-private-chat"
	}
	return "commit " + commit
}
