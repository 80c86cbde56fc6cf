package main

import (
	"flag"
	"runtime"
	"testing"

	"im-workbook/chattest"
)

// 测试进程会以子进程的方式重新运行自己，作为本章的服务器（见 chattest.Main）。
// 对话记录可以用「server args -gomaxprocs=1」让服务器只用一个 P（见 testdata/kick.txt 的说明）。
func TestMain(m *testing.M) {
	chattest.MainArgs(m, func(ip string, port int, args []string) {
		fs := flag.NewFlagSet("server", flag.ExitOnError)
		procs := fs.Int("gomaxprocs", 0, "runtime.GOMAXPROCS for the server; 0 keeps the default")
		_ = fs.Parse(args) // ExitOnError: a bad flag ends the child with a message
		if *procs > 0 {
			runtime.GOMAXPROCS(*procs)
		}
		NewServer(ip, port).Start()
	})
}

// testdata/*.txt 中的每个对话记录都是一个测试；go test -update 会按实际输出重写它们。
// 本章的对话记录要等真实的 10 秒，所以和其他测试并行运行。
func TestTranscripts(t *testing.T) {
	t.Parallel()
	chattest.RunDir(t, "testdata")
}
