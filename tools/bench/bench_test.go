package main

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFormatting(t *testing.T) {
	assert.Equal(t, "0", thousands(0))
	assert.Equal(t, "999", thousands(999))
	assert.Equal(t, "1,000", thousands(999.6))
	assert.Equal(t, "1,234,567", thousands(1234567))
	assert.Equal(t, "-12,345", thousands(-12345))

	assert.Nil(t, none().Num)
}

func TestListening(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	assert.True(t, listening(addr))
	ln.Close()
	assert.False(t, listening(addr))
}
