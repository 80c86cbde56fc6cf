package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestLoopback(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:8888", "[::1]:8888", "localhost:8888", "127.0.0.2:1"} {
		assert.NoError(t, loopback(ok), ok)
	}
	for _, bad := range []string{"10.0.0.1:8888", "example.com:80", "8888", ":8888"} {
		assert.Error(t, loopback(bad), bad)
	}
}
