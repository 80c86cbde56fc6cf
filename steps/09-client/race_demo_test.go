//go:build racedemo

package main

import (
	"testing"

	"im-workbook/chattest"
	"im-workbook/steps/knownbug"
)

// TestRaceOnUserMap 故意制造本章的数据竞争（改名时不加锁读 OnlineUserMap），
// 并检查竞态检测器报告了它。在本章目录下运行：
//
//	go test -race -tags racedemo -run Race -v .
//
// 过程和原理见 steps/knownbug/race.go。没有 -race 时它会失败，并告诉你该怎么运行。
func TestRaceOnUserMap(t *testing.T) {
	knownbug.RaceOnUserMap(t, chattest.Child{}.Start)
}
