package main

import (
	"math"
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReplaceSection(t *testing.T) {
	doc := "# final\n\n## 性能 / Benchmarks\n\nHand-written text.\n\n## English\n\nMore.\n"
	once, err := replaceSection(doc, "| table |\n")
	require.NoError(t, err)
	assert.Equal(t, "# final\n\n## 性能 / Benchmarks\n\nHand-written text.\n\n"+beginMarker+"\n\n| table |\n\n"+endMarker+"\n\n## English\n\nMore.\n", once)

	// Run again: only the generated block changes.
	twice, err := replaceSection(once, "| new table |")
	require.NoError(t, err)
	assert.Equal(t, strings.Replace(once, "| table |", "| new table |", 1), twice)

	// The section is the last one.
	last, err := replaceSection("## 性能 / Benchmarks\n\ntext\n", "x")
	require.NoError(t, err)
	assert.Equal(t, "## 性能 / Benchmarks\n\ntext\n\n"+beginMarker+"\n\nx\n\n"+endMarker+"\n", last)

	// The next heading is a level-1 one, after a horizontal rule.
	ruled, err := replaceSection("## 性能 / Benchmarks\n\nPlaceholder.\n\n---\n\n# English\n\n## Running\n", "x")
	require.NoError(t, err)
	assert.Equal(t, "## 性能 / Benchmarks\n\nPlaceholder.\n\n"+beginMarker+"\n\nx\n\n"+endMarker+"\n\n---\n\n# English\n\n## Running\n", ruled)

	_, err = replaceSection("# no such section\n", "x")
	assert.Error(t, err)
	_, err = replaceSection("## 性能 / Benchmarks\n"+beginMarker+"\n", "x")
	assert.Error(t, err, "a begin marker without its end")
}

func TestBar(t *testing.T) {
	assert.Equal(t, strings.Repeat("█", 10), bar(5, 5, 10))
	assert.Equal(t, strings.Repeat("█", 5), bar(2.5, 5, 10))
	assert.Equal(t, "█▌", bar(1.5, 10, 10))
	assert.Equal(t, "▏", bar(0.0001, 10, 10), "a tiny figure stays visible")
	assert.Equal(t, "", bar(0, 10, 10))
}

func TestFormatting(t *testing.T) {
	assert.Equal(t, "0", thousands(0))
	assert.Equal(t, "999", thousands(999))
	assert.Equal(t, "1,000", thousands(999.6))
	assert.Equal(t, "1,234,567", thousands(1234567))
	assert.Equal(t, "-12,345", thousands(-12345))

	r := row{ratio: true, cells: map[string]cell{"final": {"", 300}, "ch08": {"", 100}, "ncat": none()}}
	assert.Equal(t, "3.00×", ratio(r, "ch08"))
	assert.Equal(t, "–", ratio(r, "ncat"))
	r.cells["ch08"] = cell{"", 0}
	assert.Equal(t, "–", ratio(r, "ch08"), "no division by zero")
	assert.True(t, math.IsNaN(none().num))
}

func TestListening(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	assert.True(t, listening(port))
	ln.Close()
	assert.False(t, listening(port))
}
