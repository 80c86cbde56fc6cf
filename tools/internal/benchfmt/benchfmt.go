// Package benchfmt is the results file that tools/bench writes and the
// Markdown that tools/weave renders from it into final/README.md. Measuring
// (bench) and formatting (weave) are separate: regenerating the README never
// measures anything.
package benchfmt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// Results is one benchmark run, as committed in tools/bench/results.json.
type Results struct {
	Mode    string   `json:"mode"`    // "full", or the quick run's explanation
	When    string   `json:"when"`    // "2006-01-02 15:04 UTC"
	Took    string   `json:"took"`    // the run's wall time, e.g. "2m18s"
	Version string   `json:"version"` // what the servers were built from
	Servers []string `json:"servers"` // table columns, in order
	Rows    []Row    `json:"rows"`
	Chart   []Group  `json:"chart"`
	Cluster *Table   `json:"cluster,omitempty"` // final on one instance against two joined through NATS
	Notes   []string `json:"notes,omitempty"`
	Sizes   string   `json:"sizes"`   // the scenario sizes, one sentence
	Machine string   `json:"machine"` // nproc, lscpu, free, go version, load average
}

// Row is one line of the table. Ratio rows get final/ch08 and final/ncat
// columns, computed from the cells' numbers.
type Row struct {
	Scenario string          `json:"scenario,omitempty"`
	Measure  string          `json:"measure"`
	Cells    map[string]Cell `json:"cells"`
	Ratio    bool            `json:"ratio,omitempty"`
	Target   string          `json:"target,omitempty"`
}

// Cell is one server's figure: its text and, where it can be compared,
// its number.
type Cell struct {
	Text string   `json:"text"`
	Num  *float64 `json:"num,omitempty"`
}

// Table is a table of text under a heading, in the main table's layout:
// scenario and measure, then figures (right aligned).
type Table struct {
	Title   string     `json:"title"`
	Columns []string   `json:"columns"`
	Rows    [][]string `json:"rows"`
}

func (t *Table) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n| %s |\n|---|---|%s\n", t.Title, strings.Join(t.Columns, " | "), strings.Repeat("---:|", len(t.Columns)-2))
	for _, row := range t.Rows {
		fmt.Fprintf(&b, "| %s |\n", strings.Join(row, " | "))
	}
	return b.String()
}

// Group is one bar chart: a bar per server.
type Group struct {
	Title string `json:"title"`
	Bars  []Bar  `json:"bars"`
}

// Bar is one server's bar; a nil Value is drawn as "(no figure)".
type Bar struct {
	Server string   `json:"server"`
	Value  *float64 `json:"value,omitempty"`
	Text   string   `json:"text,omitempty"`
}

// Num returns a pointer to v, or nil for NaN (no figure).
func Num(v float64) *float64 {
	if math.IsNaN(v) {
		return nil
	}
	return &v
}

// Parse reads a results file.
func Parse(data []byte) (*Results, error) {
	var r Results
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	if len(r.Servers) == 0 || len(r.Rows) == 0 {
		return nil, fmt.Errorf("no servers or no rows: not a bench results file")
	}
	return &r, nil
}

// JSON is the results file's text: indented, with a final newline.
func (r *Results) JSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // keep ≥, < and & readable in the committed file
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Markdown renders the results: the run line, the table, the cluster's
// table, the bar charts, the notes, the sizes and the machine.
func (r *Results) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run: `go run ./tools/bench` (%s), %s, %s in all; servers built from %s.\n\n",
		r.Mode, r.When, r.Took, r.Version)
	b.WriteString("| 场景 scenario | 指标 measure |")
	for _, s := range r.Servers {
		fmt.Fprintf(&b, " %s |", s)
	}
	b.WriteString(" final/ch08 | final/ncat | 目标 target (final) |\n|---|---|")
	for range r.Servers {
		b.WriteString("---:|")
	}
	b.WriteString("---:|---:|---|\n")
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "| %s | %s |", row.Scenario, row.Measure)
		for _, s := range r.Servers {
			c, ok := row.Cells[s]
			if !ok {
				c = Cell{Text: "–"}
			}
			fmt.Fprintf(&b, " %s |", c.Text)
		}
		fmt.Fprintf(&b, " %s | %s | %s |\n", row.ratio("ch08"), row.ratio("ncat"), row.Target)
	}
	b.WriteString("\n")
	if r.Cluster != nil {
		b.WriteString(r.Cluster.markdown() + "\n")
	}
	b.WriteString(r.chart())
	if len(r.Notes) > 0 {
		b.WriteString("\n- " + strings.Join(r.Notes, "\n- ") + "\n")
	}
	fmt.Fprintf(&b, "\nScenario sizes: %s\n", r.Sizes)
	fmt.Fprintf(&b, "\nMachine:\n\n```\n%s```\n", r.Machine)
	return b.String()
}

func (row Row) ratio(base string) string {
	if !row.Ratio {
		return ""
	}
	f, o := row.Cells["final"], row.Cells[base]
	if f.Num == nil || o.Num == nil || *o.Num == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", *f.Num / *o.Num)
}

// chart draws each group as text bars scaled to the group's largest value.
func (r *Results) chart() string {
	var b strings.Builder
	b.WriteString("```text\n")
	for gi, g := range r.Chart {
		if gi > 0 {
			b.WriteString("\n")
		}
		b.WriteString(g.Title + "\n")
		top := 0.0
		for _, bar := range g.Bars {
			if bar.Value != nil {
				top = math.Max(top, *bar.Value)
			}
		}
		for _, bar := range g.Bars {
			if bar.Value == nil {
				fmt.Fprintf(&b, "  %-5s  (no figure)\n", bar.Server)
				continue
			}
			fmt.Fprintf(&b, "  %-5s  %-40s %s\n", bar.Server, Bar40(*bar.Value, top), bar.Text)
		}
	}
	b.WriteString("```\n")
	return b.String()
}

// Bar40 is v as a bar of at most 40 cells, scaled to top, in eighths.
func Bar40(v, top float64) string {
	const width = 40
	if top <= 0 || v <= 0 {
		return ""
	}
	eighths := int(math.Round(v / top * float64(width*8)))
	if eighths == 0 {
		eighths = 1 // a non-zero figure stays visible
	}
	partial := []string{"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"}
	return strings.Repeat("█", eighths/8) + partial[eighths%8]
}
