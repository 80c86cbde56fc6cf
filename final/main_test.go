package main

import (
	"context"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"testing"

	"go.uber.org/goleak"

	"im-workbook/chattest"
)

// The test binary doubles as the server: chattest starts it again as a
// child process for each transcript (and the signal tests start it too).
// In the parent, goleak fails the run if any test leaves a goroutine.
func TestMain(m *testing.M) {
	chattest.Main(m, chattest.Roles{
		Serve: func(ip string, port int, args []string) {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			args = append([]string{"-ip", ip, "-port", strconv.Itoa(port)}, args...)
			if code := run(ctx, args, os.Stdout, os.Stderr); code != 0 {
				os.Exit(code)
			}
		},
		Tests: func(m *testing.M) { goleak.VerifyTestMain(m) },
	})
}

// startChild runs this test binary as the server with args, in a child
// process on a free port, as the transcripts do.
func startChild(t *testing.T, args ...string) *chattest.Server {
	t.Helper()
	return chattest.Child{Ready: "server listening"}.Start(t, args)
}

// Every testdata/*.txt is a transcript run against a fresh child server;
// go test -update rewrites their expectations from what was observed.
func TestTranscripts(t *testing.T) {
	chattest.RunDir(t, "testdata", chattest.Child{Ready: "server listening"}.Start)
}
