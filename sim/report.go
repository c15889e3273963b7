package sim

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// Result is what one policy did with one trace.
type Result struct {
	Policy string
	// Calls, Answered, Abandoned and Unanswered count calls: every call
	// ends answered, abandoned (the caller hung up first) or unanswered
	// (every member was tried).
	Calls, Answered, Abandoned, Unanswered int
	// Attempts counts legs; AnsweredAttempts the legs of answered calls.
	Attempts, AnsweredAttempts int
	// BusyOffers counts legs offered to an agent on a call (or in
	// wrap-up) while another member of the group, not yet tried by that
	// call, was idle.
	BusyOffers int
	// Direct counts the direct calls agents took.
	Direct int
	// Wait sums the time from arrival to answer of answered calls.
	Wait time.Duration
	// Agents are per-agent figures, in trace order.
	Agents []AgentResult
}

// AgentResult is what one agent saw.
type AgentResult struct {
	Agent      string
	Answered   int
	Offers     int
	BusyOffers int
	// PeakLegs is the most legs (ringing or connected) the agent had at
	// once.
	PeakLegs int
	// Load is the agent's legs over time: each step holds from At until
	// the next.
	Load []LoadStep
}

// LoadStep is how many legs (ringing or connected) an agent had from At on.
type LoadStep struct {
	At   time.Duration
	Legs int
}

// AnsweredRange returns the fewest and most calls answered by one agent.
func (r *Result) AnsweredRange() (lo, hi int) {
	for i, a := range r.Agents {
		if i == 0 || a.Answered < lo {
			lo = a.Answered
		}
		if a.Answered > hi {
			hi = a.Answered
		}
	}
	return lo, hi
}

// MaxMin returns the ratio of the most to the fewest calls answered by one
// agent; +Inf if some agent answered none.
func (r *Result) MaxMin() float64 {
	lo, hi := r.AnsweredRange()
	if lo == 0 {
		return math.Inf(1)
	}
	return float64(hi) / float64(lo)
}

// CV returns the coefficient of variation (population standard deviation
// over mean) of calls answered per agent.
func (r *Result) CV() float64 {
	if len(r.Agents) == 0 {
		return 0
	}
	var sum float64
	for _, a := range r.Agents {
		sum += float64(a.Answered)
	}
	mean := sum / float64(len(r.Agents))
	if mean == 0 {
		return 0
	}
	var ss float64
	for _, a := range r.Agents {
		d := float64(a.Answered) - mean
		ss += d * d
	}
	return math.Sqrt(ss/float64(len(r.Agents))) / mean
}

// PeakLegs returns the most legs any one agent had at once.
func (r *Result) PeakLegs() int {
	p := 0
	for _, a := range r.Agents {
		p = max(p, a.PeakLegs)
	}
	return p
}

// MeanAttempts returns the mean number of legs per answered call, counting
// the answered leg.
func (r *Result) MeanAttempts() float64 {
	if r.Answered == 0 {
		return 0
	}
	return float64(r.AnsweredAttempts) / float64(r.Answered)
}

// MeanWait returns the mean time from arrival to answer.
func (r *Result) MeanWait() time.Duration {
	if r.Answered == 0 {
		return 0
	}
	return r.Wait / time.Duration(r.Answered)
}

func pct(n, of int) string {
	if of == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%.1f %%)", n, 100*float64(n)/float64(of))
}

// WriteTable writes the results as one markdown table, the model in the
// lines above it and notes (policies that could not run, say) below it.
func WriteTable(w io.Writer, cfg Config, results []Result, notes []string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### ringlb-sim: balance of %d calls over %d agents\n\n", cfg.Calls, len(cfg.Agents()))
	fmt.Fprintf(&b, "Model: %s.\n\n", cfg.Describe())
	b.WriteString("| policy | answered | abandoned | unanswered | answered per agent (min–max) | max/min | CV | busy offers | peak legs on one agent | attempts per answered call | mean time to answer |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for i := range results {
		r := &results[i]
		lo, hi := r.AnsweredRange()
		mm := "∞"
		if v := r.MaxMin(); !math.IsInf(v, 1) {
			mm = fmt.Sprintf("%.2f", v)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %d–%d | %s | %.3f | %s | %d | %.2f | %.1f s |\n",
			r.Policy, pct(r.Answered, r.Calls), pct(r.Abandoned, r.Calls), pct(r.Unanswered, r.Calls),
			lo, hi, mm, r.CV(), pct(r.BusyOffers, r.Attempts), r.PeakLegs(), r.MeanAttempts(), r.MeanWait().Seconds())
	}
	b.WriteString("\nBusy offers: legs offered to an agent already on a call while a member of the group not yet tried by that call was idle (percent of all legs). " +
		"Peak legs: the most legs, ringing or connected, one agent had at once. Same trace and same agent behaviour for every policy.\n")
	for _, n := range notes {
		fmt.Fprintf(&b, "\nNote: %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteAgents writes answered calls per agent, one column per policy.
func WriteAgents(w io.Writer, results []Result) error {
	if len(results) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("\n| agent |")
	for _, r := range results {
		fmt.Fprintf(&b, " %s |", r.Policy)
	}
	b.WriteString("\n|---|")
	for range results {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for i, a := range results[0].Agents {
		fmt.Fprintf(&b, "| %s |", a.Agent)
		for _, r := range results {
			x := r.Agents[i]
			fmt.Fprintf(&b, " %d answered / %d offers |", x.Answered, x.Offers)
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
