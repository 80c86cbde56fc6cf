package main

import (
	"context"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/goleak"

	"im-workbook/chattest"
)

// The test binary doubles as the server: chattest starts it again as a
// child process for each transcript (and the signal tests start it too).
// In the parent, goleak fails the run if any test leaves a goroutine.
func TestMain(m *testing.M) {
	if args := os.Getenv(envRunMain); args != "" { // see startChild
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, strings.Fields(args), os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	chattest.ServeIfChild(func(ip string, port int, args []string) {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		args = append([]string{"-ip", ip, "-port", strconv.Itoa(port)}, args...)
		if code := run(ctx, args, os.Stdout, os.Stderr); code != 0 {
			os.Exit(code)
		}
	})
	chattest.Setup()
	goleak.VerifyTestMain(m)
}

// Every testdata/*.txt is a transcript run against a fresh child server;
// go test -update rewrites their expectations from what was observed.
func TestTranscripts(t *testing.T) {
	chattest.RunDirOn(t, "testdata", chattest.Child{Ready: "server listening"}.Start)
}
