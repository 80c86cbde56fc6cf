package main

import (
	"fmt"
	"strings"
	"time"

	"im-workbook/tools/internal/benchfmt"
	"im-workbook/tools/internal/load"
)

type cell = benchfmt.Cell

// fig is a cell with a number the ratio columns and the chart can use.
func fig(t string, num float64) cell { return cell{Text: t, Num: benchfmt.Num(num)} }

// text is a cell without a number.
func text(t string) cell { return cell{Text: t} }

func none() cell { return text("–") }

// results is the run as the results file holds it: figures with their
// text, ready for benchfmt to format.
func (rep *report) results() *benchfmt.Results {
	p := rep.params
	mode := "full"
	if rep.quick {
		mode = "quick (-quick: smaller scenarios; the targets are set for the full run)"
	}
	res := &benchfmt.Results{
		Mode:    mode,
		When:    rep.when.Format("2006-01-02 15:04 UTC"),
		Took:    rep.took.Round(time.Second).String(),
		Version: rep.version,
		Notes:   rep.notes(),
		Sizes: fmt.Sprintf("fan-out %d readers, %d senders × %d lines of %d B; stalled consumer %d readers, %d senders × %d lines of %d B (%.1f MB towards each reader); idle %d users; leaving %d users, CPU over %v from %v after they quit.",
			p.fan.Readers, p.fan.Senders, p.fan.Lines, p.fan.Size, p.stalled.Readers, p.stalled.Senders, p.stalled.Lines, p.stalled.Size,
			float64(p.stalled.Senders*p.stalled.Lines*(p.stalled.Size+1))/1e6, p.idleUsers, p.leaveUsers, p.leaveWindow, p.leaveAfter),
		Machine: rep.machine,
		Chart:   rep.chart(),
		Cluster: rep.clusterTable(),
	}
	for _, k := range rep.kinds {
		res.Servers = append(res.Servers, k.name)
	}
	for _, m := range rep.measures() {
		r := benchfmt.Row{Scenario: m.scenario, Measure: m.name, Ratio: m.ratio, Target: m.target, Cells: map[string]cell{}}
		for _, k := range rep.kinds {
			r.Cells[k.name] = m.cell(rep.out[k.name])
		}
		if m.met != nil {
			if ok, judged := m.met(rep.out["final"], r.Cells); judged {
				r.Target += " " + rep.mark(ok)
			}
		}
		res.Rows = append(res.Rows, r)
	}
	return res
}

// mark is ✅ or ❌; a quick run's sizes are not the targets', so it says so.
func (rep *report) mark(ok bool) string {
	if rep.quick {
		return "(judged on the full run)"
	}
	if ok {
		return "✅"
	}
	return "❌"
}

// measure is one row of the table, as data: its cell for each server
// and, for a row with a target, whether final met it (judged false: no
// figure to judge).
type measure struct {
	scenario, name string
	ratio          bool
	cell           func(o *outcome) cell
	target         string
	met            func(f *outcome, cells map[string]cell) (ok, judged bool)
}

func (rep *report) measures() []measure {
	p := rep.params
	var out []measure
	for _, sc := range []struct {
		mode string
		get  func(o *outcome) *load.Result
	}{
		{"lockstep", func(o *outcome) *load.Result { return o.fan }},
		{"burst", func(o *outcome) *load.Result { return o.fanBurst }},
	} {
		get := sc.get
		out = append(out,
			measure{scenario: fmt.Sprintf("1 fan-out, %s (%d readers, %d×%d lines)", sc.mode, p.fan.Readers, p.fan.Senders, p.fan.Lines),
				name: "deliveries/s", ratio: true, cell: func(o *outcome) cell { return rateCell(get(o)) },
				target: "≥ 3× ch08 and ≥ 3× ncat", met: func(f *outcome, cells map[string]cell) (bool, bool) {
					fc := cells["final"]
					if fc.Num == nil {
						return false, false
					}
					for _, base := range []string{"ch08", "ncat"} { // a server not in the run has no figure
						if c := cells[base]; c.Num != nil && *fc.Num < 3**c.Num {
							return false, true
						}
					}
					return get(f).Complete(), true
				}},
			measure{name: "every reader got every line, intact and attributed", cell: func(o *outcome) cell { return completeness(get(o)) }},
			measure{name: "observer latency p50 / p99", cell: func(o *outcome) cell { return latency(get(o)) }},
			measure{name: "connect time (all welcomed)", cell: func(o *outcome) cell {
				r := get(o)
				if r == nil {
					return none()
				}
				t := ms(r.ConnectTime)
				if r.Refused > 0 || !r.Joined {
					t += fmt.Sprintf(" (%d refused, all welcomed: %v)", r.Refused, r.Joined)
				}
				return fig(t, float64(r.ConnectTime))
			}},
			measure{name: "server CPU per delivery (the load generator's own cost excluded)", ratio: true, cell: func(o *outcome) cell { return cpuPerDelivery(get(o)) }},
			measure{name: "server CPU / RSS during the run", cell: func(o *outcome) cell {
				r := get(o)
				if r == nil {
					return none()
				}
				return fig(fmt.Sprintf("%.2f s / %.1f MiB", r.CPU.Seconds(), float64(r.RSS)/(1<<20)), r.CPU.Seconds())
			}},
		)
	}
	return append(out,
		measure{scenario: fmt.Sprintf("2 one stalled consumer (%d readers, %d×%d lines of %d B, lockstep; final with %s)", p.stalled.Readers, p.stalled.Senders, p.stalled.Lines, p.stalled.Size, strings.Join(stalledFlags, " ")),
			name: "deliveries/s without the stalled client", ratio: true, cell: func(o *outcome) cell { return rateCell(o.plain) }},
		measure{name: "deliveries/s with it (share of the rate without)", ratio: true, cell: func(o *outcome) cell {
			c := rateCell(o.withStalled)
			if o.withStalled != nil && o.plain != nil && o.plain.Rate != 0 && !o.withStalled.Stalled { // a stalled run's rate is the rate before it stalled
				c.Text += fmt.Sprintf(" (%.0f%%)", 100*o.withStalled.Rate/o.plain.Rate)
			}
			return c
		}, target: "others complete, ≥ 80% of own unstalled rate", met: func(f *outcome, _ map[string]cell) (bool, bool) {
			if f == nil || f.withStalled == nil || f.plain == nil {
				return false, false
			}
			return f.withStalled.Complete() && f.withStalled.Rate >= 0.8*f.plain.Rate, true
		}},
		measure{name: "server CPU per delivery, without the stalled client", ratio: true, cell: func(o *outcome) cell { return cpuPerDelivery(o.plain) }},
		measure{name: "every other reader got every line", cell: func(o *outcome) cell { return completeness(o.withStalled) }},
		measure{name: "what the server did", cell: func(o *outcome) cell { return stallCell(o.withStalled) }},
		measure{scenario: fmt.Sprintf("3 idle memory (%d users that never speak)", p.idleUsers), name: "server RSS per connected user", ratio: true, cell: func(o *outcome) cell {
			switch r := o.idle; {
			case r == nil:
				return none()
			case r.Gone:
				return text(fmt.Sprintf("crashed at %d users", r.Clients))
			case !r.Settled: // mid-announcement: not a figure to compare
				return text(fmt.Sprintf("%.2f KiB (still busy)", r.PerUser()/1024))
			default:
				return fig(fmt.Sprintf("%.2f KiB", r.PerUser()/1024), r.PerUser())
			}
		}, target: "≤ 10 KiB per user at 5,000 users", met: func(f *outcome, _ map[string]cell) (bool, bool) {
			if f == nil || f.idle == nil {
				return false, false
			}
			return f.idle.Clients >= 5000 && f.idle.PerUser() <= 10*1024, true
		}},
		measure{name: "users connected / welcomed", cell: func(o *outcome) cell {
			r := o.idle
			if r == nil {
				return none()
			}
			t := fmt.Sprintf("%d / %d", r.Clients, r.JoinsSeen)
			if !r.Settled {
				t += " (still busy when measured)"
			}
			return fig(t, float64(r.Clients))
		}},
		measure{scenario: fmt.Sprintf("4 leaving (%d users say a line and quit)", p.leaveUsers),
			name: fmt.Sprintf("server CPU over %v, %v later", p.leaveWindow, p.leaveAfter), ratio: true, cell: leaveCell, target: "< 0.05 CPU s", met: func(f *outcome, _ map[string]cell) (bool, bool) {
				if f == nil || f.leave == nil {
					return false, false
				}
				return !f.leave.Gone && f.leave.CPU < 50*time.Millisecond, true
			}},
	)
}

// clusterTable is scenario 5's table: final on one instance and on two joined
// through NATS, each mode's pair run back to back, and what the NATS hop
// adds, derived from the two runs as tools/README.md explains.
func (rep *report) clusterTable() *benchfmt.Table {
	o, p := rep.out["final"], rep.params.fan
	if o == nil || o.cluster == [2]*load.Result{} {
		return nil
	}
	t := &benchfmt.Table{
		Title:   "Scenario 5, a cluster: scenario 1's fan-out with its connections spread over two finals joined through NATS (the first runs the embedded NATS server with `-nats-listen`, the second joins it with `-nats`), against one final; each pair runs back to back.",
		Columns: []string{"场景 scenario", "指标 measure", "final, one instance", "final, two instances (NATS)", "two/one"},
	}
	for i, one := range []*load.Result{o.fan, o.fanBurst} {
		two := o.cluster[i]
		row := func(measure string, c func(*load.Result) cell, withRatio bool) []string {
			a, b, ratio := c(one), c(two), ""
			if withRatio && a.Num != nil && b.Num != nil && *a.Num != 0 {
				ratio = fmt.Sprintf("%.2f×", *b.Num / *a.Num)
			}
			return []string{"", measure, a.Text, b.Text, ratio}
		}
		rows := [][]string{
			row("deliveries/s", rateCell, true),
			row("every reader got every line, intact and attributed", completeness, false),
			row("observer latency p50 / p99", latency, true),
			row("server CPU per delivery (both instances, NATS included)", cpuPerDelivery, true),
			{"", "what the NATS hop adds per delivery: wall time (1/rate) / server CPU", "", "–", ""},
			{"", fmt.Sprintf("what it adds per line (%d deliveries): server CPU / observer p50", p.Readers), "", "–", ""},
		}
		rows[0][0] = fmt.Sprintf("5 cluster, %s (%d readers, %d×%d lines)", []string{"lockstep", "burst"}[i], p.Readers, p.Senders, p.Lines)
		if one != nil && two != nil && one.Rate > 0 && two.Rate > 0 {
			cpu := cpuPer(two) - cpuPer(one) // µs per delivery
			rows[4][3] = fmt.Sprintf("%+.2f µs / %+.2f µs", 1e6/two.Rate-1e6/one.Rate, cpu)
			rows[5][3] = fmt.Sprintf("%+.0f µs / %+.1f ms", cpu*float64(p.Readers), float64(two.P50-one.P50)/1e6)
		}
		t.Rows = append(t.Rows, rows...)
	}
	return t
}

func latency(r *load.Result) cell {
	if r == nil || r.Latencies == 0 {
		return none()
	}
	return fig(fmt.Sprintf("%s / %s", ms(r.P50), ms(r.P99)), float64(r.P50))
}

func rateCell(r *load.Result) cell {
	if r == nil {
		return none()
	}
	return fig(fmt.Sprintf("%s/s", thousands(r.Rate)), r.Rate)
}

// cpuPerDelivery is the server's CPU time over the run divided by the
// lines delivered (incomplete runs included: their CPU time still bought
// what they delivered).
func cpuPerDelivery(r *load.Result) cell {
	if r == nil || r.Delivered == 0 {
		return none()
	}
	return fig(fmt.Sprintf("%.2f µs", cpuPer(r)), cpuPer(r))
}

// cpuPer is the server's CPU time per delivery, in µs.
func cpuPer(r *load.Result) float64 { return r.CPU.Seconds() * 1e6 / float64(r.Delivered) }

func completeness(r *load.Result) cell {
	if r == nil {
		return none()
	}
	if r.Complete() {
		return fig("yes", 1)
	}
	t := fmt.Sprintf("**no**: %.1f%% arrived intact and attributed", 100*float64(r.Delivered)/float64(max(r.Expected, 1)))
	if r.Corrupt > 0 {
		t += fmt.Sprintf(", %d damaged", r.Corrupt)
	}
	if r.Unattributed > 0 {
		t += fmt.Sprintf(", %.1f%% without the sender's prefix", 100*float64(r.Unattributed)/float64(max(r.Expected, 1)))
	}
	if r.TimedOut {
		t += " (run capped by its time limit)"
	}
	return fig(t, 0)
}

func stallCell(r *load.Result) cell {
	if r == nil {
		return none()
	}
	var parts []string
	if r.Stalled {
		parts = append(parts, fmt.Sprintf("**stalled everyone** after %.0f%% of the lines", 100*float64(r.Delivered)/float64(max(r.Expected, 1))))
	}
	if r.StalledDropped > 0 {
		parts = append(parts, "disconnected the stalled client")
	}
	if r.TimedOut {
		parts = append(parts, "run capped by its time limit")
	}
	if len(parts) == 0 {
		parts = append(parts, "kept the stalled client, others unaffected")
	}
	return text(strings.Join(parts, "; "))
}

// chart is the headline figures, one group of bars per measure.
func (rep *report) chart() []benchfmt.Group {
	groups := []struct {
		title string
		bar   func(o *outcome) cell
	}{
		{"1 fan-out, lockstep: deliveries/s (longer is better)", func(o *outcome) cell { return rateCell(o.fan) }},
		{"1 fan-out, burst: deliveries/s (longer is better)", func(o *outcome) cell { return rateCell(o.fanBurst) }},
		{"2 with a stalled consumer: deliveries/s (longer is better)", func(o *outcome) cell { return rateCell(o.withStalled) }},
		{"3 idle: RSS per user, KiB (shorter is better)", func(o *outcome) cell {
			if o.idle == nil || o.idle.Gone {
				return none()
			}
			v := o.idle.PerUser() / 1024
			return fig(fmt.Sprintf("%.2f KiB", v), v)
		}},
		{"4 leaving: CPU seconds over 2 s (shorter is better)", leaveCell},
	}
	var out []benchfmt.Group
	for _, g := range groups {
		bg := benchfmt.Group{Title: g.title}
		for _, k := range rep.kinds {
			bar := benchfmt.Bar{Server: k.name}
			if c := g.bar(rep.out[k.name]); c.Num != nil {
				bar.Value, bar.Text = c.Num, c.Text
			}
			bg.Bars = append(bg.Bars, bar)
		}
		out = append(out, bg)
	}
	return out
}

func leaveCell(o *outcome) cell {
	switch r := o.leave; {
	case r == nil:
		return none()
	case r.Gone:
		return text("crashed")
	default:
		return fig(fmt.Sprintf("%.2f s", r.CPU.Seconds()), r.CPU.Seconds())
	}
}

// notes explains what the table cannot: failures, crashes, checks.
func (rep *report) notes() []string {
	var notes []string
	if o := rep.out["ch08"]; o != nil && o.withStalled != nil && !o.withStalled.Stalled {
		notes = append(notes, "**Check failed:** chapter 08 did not stall with a stalled consumer, so scenario 2 measured nothing: the stalled client's buffers held all the traffic. Raise the lines per sender.")
	} else if o != nil && o.withStalled != nil {
		notes = append(notes, "Check: chapter 08 did stall in scenario 2 (no reader got a line for 2 s), so the scenario measures what it should.")
	}
	if o := rep.out["ch08"]; o != nil && o.leave != nil {
		if o.leave.Gone {
			notes = append(notes, "Scenario 4: chapter 08 crashed (see below).")
		} else {
			notes = append(notes, fmt.Sprintf("Scenario 4: chapter 08 did not crash this time; its %.2f CPU seconds are the `ListenMessage` goroutines of the users who left, spinning on their closed channels after the idle kick.", o.leave.CPU.Seconds()))
		}
	}
	for _, k := range rep.kinds {
		n, o := k.name, rep.out[k.name]
		notes = append(notes, o.notes...)
		for _, r := range []*load.Result{o.fan, o.fanBurst, o.plain, o.withStalled, o.cluster[0], o.cluster[1]} {
			if r != nil && r.SendErr != "" {
				notes = append(notes, fmt.Sprintf("%s: a sender got `%s`", n, r.SendErr))
				break
			}
		}
		if o.idle != nil && o.idle.Refused > 0 {
			notes = append(notes, fmt.Sprintf("%s refused %d of %d idle users (%s).", n, o.idle.Refused, rep.params.idleUsers, o.idle.RefusedErr))
		}
		if o.idle != nil && !o.idle.Settled && !o.idle.Gone {
			notes = append(notes, fmt.Sprintf("%s was still busy when its idle RSS was taken (it had announced %d of %d arrivals to the first user).", n, o.idle.JoinsSeen, o.idle.Clients))
		}
		if o.leave != nil && !o.leave.Spoke {
			notes = append(notes, fmt.Sprintf("%s: in scenario 4 not every user's line arrived before they quit.", n))
		}
	}
	return notes
}

// thousands formats v rounded, with thin separators: 1,234,567.
func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func ms(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.1f ms", float64(d)/1e6)
}
