package sim

import (
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// chartColors are the policies' colours, in result order.
var chartColors = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"}

// WriteChart draws results as an SVG image of two panels: answered calls
// per agent, one bar per policy side by side; and the legs (ringing or
// connected) of agent over the first window of the trace under each of the
// policies named in over, as steps.
func WriteChart(w io.Writer, results []Result, agent string, window time.Duration, over []string) error {
	return WriteReportChart(w, results, agent, window, over, nil)
}

// WriteReportChart is WriteChart with a third panel when shifts is not
// empty: for each shift trace, ringlb's max/min on every seed beside the
// bound, against the target.
func WriteReportChart(w io.Writer, results []Result, agent string, window time.Duration, over []string, shifts []TraceRun) error {
	if len(results) == 0 || len(results[0].Agents) == 0 {
		return fmt.Errorf("sim: chart: no results")
	}
	const width, left, top, panelH, gap = 960, 60, 40, 260, 90
	agents := results[0].Agents
	maxAnswered := 1
	for _, r := range results {
		for _, a := range r.Agents {
			maxAnswered = max(maxAnswered, a.Answered)
		}
	}
	var b strings.Builder
	height := top + panelH + gap + panelH + 60
	if len(shifts) > 0 {
		height += gap + panelH
	}
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="15">Answered calls per agent, by policy</text>`+"\n", left)

	// Panel 1: grouped bars.
	plotW := width - left - 170
	groupW := float64(plotW) / float64(len(agents))
	barW := groupW * 0.8 / float64(len(results))
	y0 := top + panelH
	axis(&b, left, top, plotW, panelH, maxAnswered)
	for ai, a := range agents {
		gx := float64(left) + float64(ai)*groupW + groupW*0.1
		for pi, r := range results {
			v := r.Agents[ai].Answered
			h := float64(panelH) * float64(v) / float64(maxAnswered)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %d</title></rect>`+"\n",
				gx+float64(pi)*barW, float64(y0)-h, barW, h, chartColors[pi%len(chartColors)],
				html.EscapeString(r.Policy), html.EscapeString(a.Agent), v)
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", gx+groupW*0.4, y0+15, html.EscapeString(a.Agent))
	}
	for pi, r := range results {
		ly := top + 10 + pi*18
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n",
			width-160, ly, chartColors[pi%len(chartColors)], width-142, ly+10, html.EscapeString(r.Policy))
	}

	// Panel 2: one agent's legs over time.
	p2 := top + panelH + gap
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="15">Legs (ringing or connected) on %s, first %v of the trace</text>`+"\n",
		left, p2-15, html.EscapeString(agent), window)
	maxLegs := 1
	for _, r := range results {
		if !slices.Contains(over, r.Policy) {
			continue
		}
		for _, a := range r.Agents {
			if a.Agent == agent {
				for _, s := range a.Load {
					if s.At <= window {
						maxLegs = max(maxLegs, s.Legs)
					}
				}
			}
		}
	}
	axis(&b, left, p2, plotW, panelH, maxLegs)
	for i, name := range over {
		for pi, r := range results {
			if r.Policy == name {
				ly := p2 + 10 + i*18
				fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="3" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n",
					width-160, ly+5, chartColors[pi%len(chartColors)], width-142, ly+10, html.EscapeString(name))
			}
		}
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#555">2 legs: a call offered to an agent already on one (a busy offer)</text>`+"\n",
		left, p2+panelH+35)
	x := func(t time.Duration) float64 { return float64(left) + float64(plotW)*float64(t)/float64(window) }
	y := func(legs int) float64 { return float64(p2+panelH) - float64(panelH)*float64(legs)/float64(maxLegs) }
	for pi, r := range results {
		if !slices.Contains(over, r.Policy) {
			continue
		}
		for _, a := range r.Agents {
			if a.Agent != agent {
				continue
			}
			var pts []string
			legs := 0
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(0), y(0)))
			for _, s := range a.Load {
				if s.At > window {
					break
				}
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(s.At), y(legs)), fmt.Sprintf("%.1f,%.1f", x(s.At), y(s.Legs)))
				legs = s.Legs
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(window), y(legs)))
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" stroke-opacity="0.8" points="%s"><title>%s</title></polyline>`+"\n",
				chartColors[pi%len(chartColors)], strings.Join(pts, " "), html.EscapeString(r.Policy))
		}
	}
	for i := 0; i <= 4; i++ {
		t := window * time.Duration(i) / 4
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%v</text>`+"\n", x(t), p2+panelH+15, t)
	}
	if len(shifts) > 0 {
		spreadPanel(&b, shifts, left, top+2*(panelH+gap)+20, plotW, panelH)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// spreadPanel draws, per shift trace, ringlb's max/min on each seed (dots),
// the lookahead's (rings) and each seed's bound (dashes), on a scale from 1
// to 1.5 (higher values drawn at the top edge), with the target as a line.
func spreadPanel(b *strings.Builder, shifts []TraceRun, left, top, w, h int) {
	const lo, hi = 1.0, 1.5
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="15">Shift traces: max/min per seed of ringlb (dots), the lookahead (rings) and the bound (dashes); target %.2f</text>`+"\n",
		left, top-15, Target)
	y := func(v float64) float64 {
		v = min(max(v, lo), hi)
		return float64(top+h) - float64(h)*(v-lo)/(hi-lo)
	}
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left, top, left, top+h)
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left, top+h, left+w, top+h)
	for v := lo; v <= hi+1e-9; v += 0.1 {
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%.1f</text>`+"\n", left-6, y(v)+4, v)
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", left, y(v), left+w, y(v))
	}
	fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#d62728" stroke-dasharray="6 4"/>`+"\n", left, y(Target), left+w, y(Target))
	colW := float64(w) / float64(len(shifts))
	for i := range shifts {
		t := &shifts[i]
		cx := float64(left) + colW*(float64(i)+0.5)
		n := len(t.Seeds)
		for si := range t.Seeds {
			x := cx - colW*0.35 + colW*0.7*(float64(si)+0.5)/float64(max(n, 1))
			if r, ok := t.Seeds[si].Result("ringlb"); ok {
				v := r.Spread()
				fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s seed %d: ringlb %s</title></circle>`+"\n",
					x, y(v), chartColors[0], html.EscapeString(t.Scenario.Name), t.Seeds[si].Config.Seed, fmtRatio(v))
			}
			if lv := t.Seeds[si].LookaheadSpread(); !math.IsNaN(lv) {
				fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="none" stroke="%s"><title>%s seed %d: lookahead %s</title></circle>`+"\n",
					x, y(lv), chartColors[1], html.EscapeString(t.Scenario.Name), t.Seeds[si].Config.Seed, fmtRatio(lv))
			}
			if bv := t.Seeds[si].BoundSpread(); !math.IsNaN(bv) {
				fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"><title>%s seed %d: bound %s</title></line>`+"\n",
					x-4, y(bv), x+4, y(bv), chartColors[2], html.EscapeString(t.Scenario.Name), t.Seeds[si].Config.Seed, fmtRatio(bv))
			}
		}
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", cx, top+h+15, html.EscapeString(t.Scenario.Name))
	}
}

// axis draws a panel's frame and its value ticks from 0 to top.
func axis(b *strings.Builder, left, top, w, h, maxV int) {
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left, top, left, top+h)
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left, top+h, left+w, top+h)
	last := -1
	for i := 0; i <= 4; i++ {
		v := maxV * i / 4
		if v == last {
			continue
		}
		last = v
		yy := float64(top+h) - float64(h)*float64(v)/float64(maxV)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%d</text>`+"\n", left-6, yy+4, v)
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", left, yy, left+w, yy)
	}
}
