//go:build racedemo && !race

package main

import "testing"

// 没有 -race 时，竞态检测器不在，演示无从谈起：明确失败，告诉学习者该怎么运行。
func TestRaceOnUserMap(t *testing.T) {
	t.Fatal("这个演示需要竞态检测器：go test -race -tags racedemo -run Race -v .")
}
