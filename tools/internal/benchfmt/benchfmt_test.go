package benchfmt

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBar40(t *testing.T) {
	assert.Equal(t, strings.Repeat("█", 40), Bar40(5, 5))
	assert.Equal(t, strings.Repeat("█", 20), Bar40(2.5, 5))
	assert.Equal(t, "████▏", Bar40(1.03, 10))
	assert.Equal(t, "▏", Bar40(0.0001, 10), "a tiny figure stays visible")
	assert.Equal(t, "", Bar40(0, 10))
}

func TestRatio(t *testing.T) {
	r := Row{Ratio: true, Cells: map[string]Cell{"final": {Num: Num(300)}, "ch08": {Num: Num(100)}, "ncat": {Text: "–"}}}
	assert.Equal(t, "3.00×", r.ratio("ch08"))
	assert.Equal(t, "–", r.ratio("ncat"))
	r.Cells["ch08"] = Cell{Num: Num(0)}
	assert.Equal(t, "–", r.ratio("ch08"), "no division by zero")
	r.Ratio = false
	assert.Equal(t, "", r.ratio("ch08"))
	assert.Nil(t, Num(math.NaN()))
}

func TestRoundTrip(t *testing.T) {
	res := &Results{
		Mode: "full", When: "2026-11-24 21:56 UTC", Took: "2m18s", Version: "commit abc",
		Servers: []string{"ch08", "final"},
		Rows: []Row{{Scenario: "1 fan-out", Measure: "deliveries/s", Ratio: true, Target: "≥ 3× ✅",
			Cells: map[string]Cell{"ch08": {Text: "100/s", Num: Num(100)}, "final": {Text: "350/s", Num: Num(350)}}}},
		Chart: []Group{{Title: "rate", Bars: []Bar{{Server: "ch08", Value: Num(100), Text: "100/s"}, {Server: "final"}}}},
		Notes: []string{"a note"}, Sizes: "small.", Machine: "$ nproc\n2\n",
	}
	data, err := res.JSON()
	require.NoError(t, err)
	back, err := Parse(data)
	require.NoError(t, err)
	assert.Equal(t, res, back)
	md := back.Markdown()
	assert.Equal(t, `Run: `+"`go run ./tools/bench`"+` (full), 2026-11-24 21:56 UTC, 2m18s in all; servers built from commit abc.

| 场景 scenario | 指标 measure | ch08 | final | final/ch08 | final/ncat | 目标 target (final) |
|---|---|---:|---:|---:|---:|---|
| 1 fan-out | deliveries/s | 100/s | 350/s | 3.50× | – | ≥ 3× ✅ |

`+"```text"+`
rate
  ch08   ████████████████████████████████████████ 100/s
  final  (no figure)
`+"```"+`

- a note

Scenario sizes: small.

Machine:

`+"```"+`
$ nproc
2
`+"```"+`
`, md)

	_, err = Parse([]byte(`{"mode":"full"}`))
	assert.Error(t, err, "a file without rows")
}
