package main

import (
	"testing"

	"im-workbook/chattest"
)

// 测试进程会以子进程的方式重新运行自己，作为本章的服务器（见 chattest.Main）。
func TestMain(m *testing.M) {
	chattest.Main(m, chattest.Roles{Serve: func(ip string, port int, _ []string) { NewServer(ip, port).Start() }})
}

// testdata/*.txt 中的每个对话记录都是一个测试；go test -update 会按实际输出重写它们。
func TestTranscripts(t *testing.T) {
	chattest.RunDir(t, "testdata", nil)
}

// 「检查你自己的代码」（go test -server DIR）的测试：把本章代码原样复制到临时目录里一个自己的模块中，
// 像学习者的代码那样编译、启动、在 127.0.0.1:8888 上跑本章的对话记录，必须全部一样。
// （要真正等上几秒的对话记录不跑，省时间；用端口 8888 的测试跨进程排队，见 chattest.LockChapterPort。）
func TestCheckFaithfulCopy(t *testing.T) {
	t.Parallel()
	chattest.CheckFaithfulCopy(t)
}
