package main

import (
	"testing"

	"im-workbook/chattest"
)

// 测试进程会以子进程的方式重新运行自己，作为本章的服务器（见 chattest.Main）。
func TestMain(m *testing.M) {
	chattest.Main(m, func(ip string, port int) { NewServer(ip, port).Start() })
}

// testdata/*.txt 中的每个对话记录都是一个测试；go test -update 会按实际输出重写它们。
// 本章有要等真实的 10 秒的测试，所以对话记录和它们并行运行。
func TestTranscripts(t *testing.T) {
	t.Parallel()
	chattest.RunDir(t, "testdata")
}
