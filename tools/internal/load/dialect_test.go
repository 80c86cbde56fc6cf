package load

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// The sample lines are what the servers really print (chapter 08's
// transcripts, final's replies, ncat 7.93 --chat).
func TestDialects(t *testing.T) {
	tut, fin, nc := Dialects["tutorial"], Dialects["final"], Dialects["ncat"]

	assert.True(t, tut.Joined("[127.0.0.1:5000]127.0.0.1:5000: 已上线"))
	assert.True(t, fin.Joined("[127.0.0.1:5000]127.0.0.1:5000: 已上线"))
	assert.False(t, tut.Joined("[127.0.0.1:5000]127.0.0.1:5000: 下线"))
	assert.False(t, tut.Joined("已上线"))
	assert.True(t, nc.Joined("<announce> 127.0.0.1 is connected as <user5>."))
	assert.False(t, nc.Joined("<announce> already connected: 127.0.0.1 as <user4>."))
	assert.False(t, nc.Joined("<user4> <announce> 127.0.0.1 is connected as <user5>."), "a user cannot fake an announcement")

	assert.True(t, tut.Attributed([]byte("[127.0.0.1:5000]alice: ")))
	assert.False(t, tut.Attributed(nil), "a line glued to the previous one has no prefix")
	assert.False(t, tut.Attributed([]byte("该用户不存在[127.0.0.1:5000]alice: ")))
	assert.True(t, nc.Attributed([]byte("<user12> ")))
	assert.False(t, nc.Attributed([]byte("")))
	assert.False(t, nc.Attributed([]byte("part<user4> ")))

	assert.True(t, tut.Echo)
	assert.True(t, fin.Echo)
	assert.False(t, nc.Echo)
	assert.Nil(t, nc.KeepAlive)
	assert.True(t, nc.SlowAccept)
	assert.False(t, tut.SlowAccept || fin.SlowAccept)
}
