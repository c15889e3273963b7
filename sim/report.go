package sim

import (
	"fmt"
	"io"
	"math"
	"slices"
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
	// PassedOver counts legs offered to an agent on a call while the only
	// idle members not yet tried were ones the policy had left out for
	// offers they left unanswered (lb.Options.MaxNoAnswer): not counted in
	// BusyOffers, as an idle member on do-not-disturb is not.
	PassedOver int
	// Direct counts the direct calls agents took.
	Direct int
	// Wait sums the time from arrival to answer of answered calls; Waits
	// lists them, in answer order.
	Wait  time.Duration
	Waits []time.Duration
	// Span is the shift the trace covers and MeasureFrom where the
	// per-agent figures start (see Config.MeasureFrom).
	Span, MeasureFrom time.Duration
	// Agents are per-agent figures, in trace order.
	Agents []AgentResult
	// Returns are the agents who came back from a logout, one per logout.
	Returns []ReturnResult
}

// AgentResult is what one agent saw.
type AgentResult struct {
	Agent    string
	Answered int
	Offers   int
	// FirstOffers counts the calls whose first leg rang this agent.
	FirstOffers int
	BusyOffers  int
	// PeakLegs is the most legs (ringing or connected) the agent had at
	// once.
	PeakLegs int
	// Talk is the agent's talk time and LoggedIn its logged-in time, both
	// within the measured shift (from MeasureFrom to Span).
	Talk, LoggedIn time.Duration
	// Equal is true for an agent without a Trait: the spread is judged
	// over those.
	Equal bool
	// Misses is true for an agent whose Trait leaves more of its calls
	// unanswered than the others' (Trait.NoAnswer).
	Misses bool
	// AnsweredAt are the times it answered, from MeasureFrom on.
	AnsweredAt []time.Duration
	// Load is the agent's legs over time: each step holds from At until
	// the next.
	Load []LoadStep
}

// ReturnResult is how an agent back from a logout fared in its first hour.
type ReturnResult struct {
	Agent string
	Back  time.Duration
	// FirstHour is what it answered in its first hour back, and Others
	// the mean of what the other equal agents logged in all that hour
	// answered in it.
	FirstHour int
	Others    float64
}

// Share returns the returning agent's first-hour answers over the others'
// mean: 1 is an even share; 0 if the others answered nothing.
func (r ReturnResult) Share() float64 {
	if r.Others == 0 {
		return 0
	}
	return float64(r.FirstHour) / r.Others
}

// returns computes Result.Returns from the answer times.
func returns(cfg Config, res *Result) []ReturnResult {
	var out []ReturnResult
	for _, l := range cfg.Logouts {
		from, to := l.To, l.To+time.Hour
		rr := ReturnResult{Agent: l.Agent, Back: l.To}
		n := 0
		for _, a := range res.Agents {
			in := countIn(a.AnsweredAt, from, to)
			switch {
			case a.Agent == l.Agent:
				rr.FirstHour = in
			case a.Equal && cfg.loggedIn(a.Agent, from, to) == to-from:
				rr.Others += float64(in)
				n++
			}
		}
		if n > 0 {
			rr.Others /= float64(n)
		}
		out = append(out, rr)
	}
	return out
}

// countIn counts the times in [from, to).
func countIn(ts []time.Duration, from, to time.Duration) int {
	n := 0
	for _, t := range ts {
		if t >= from && t < to {
			n++
		}
	}
	return n
}

// Occupancy returns the agent's talk time over its logged-in time.
func (a *AgentResult) Occupancy() float64 {
	if a.LoggedIn <= 0 {
		return 0
	}
	return float64(a.Talk) / float64(a.LoggedIn)
}

// PerHour returns the calls the agent answered per logged-in hour.
func (a *AgentResult) PerHour() float64 {
	if a.LoggedIn <= 0 {
		return 0
	}
	return float64(a.Answered) / a.LoggedIn.Hours()
}

// ratio returns hi/lo of f over the agents keep selects: +Inf if the lowest
// is 0, NaN when none is selected.
func (r *Result) ratio(keep func(*AgentResult) bool, f func(*AgentResult) float64) float64 {
	lo, hi, any := 0.0, 0.0, false
	for i := range r.Agents {
		a := &r.Agents[i]
		if !keep(a) {
			continue
		}
		v := f(a)
		if !any || v < lo {
			lo = v
		}
		if !any || v > hi {
			hi = v
		}
		any = true
	}
	switch {
	case !any:
		return math.NaN()
	case lo == 0:
		return math.Inf(1)
	}
	return hi / lo
}

// Spread returns max/min, over the equal agents (those without a Trait),
// of the calls answered per logged-in hour: for agents logged in the whole
// shift, the ratio of their answered counts.
func (r *Result) Spread() float64 {
	return r.ratio(func(a *AgentResult) bool { return a.Equal && a.LoggedIn > 0 }, (*AgentResult).PerHour)
}

// CountSpread returns max/min of the answered counts over the equal agents,
// whatever their logged-in time.
func (r *Result) CountSpread() float64 {
	return r.ratio(func(a *AgentResult) bool { return a.Equal }, func(a *AgentResult) float64 { return float64(a.Answered) })
}

// OccupancySpread returns max/min of occupancy over every agent.
func (r *Result) OccupancySpread() float64 {
	return r.ratio(func(a *AgentResult) bool { return a.LoggedIn > 0 }, (*AgentResult).Occupancy)
}

// AnsweringOccupancySpread returns max/min of occupancy over the agents
// that answer their calls as the equal agents do (every agent but those
// that Misses): what talk ties can even out whatever an agent's talk time.
func (r *Result) AnsweringOccupancySpread() float64 {
	return r.ratio(answering, (*AgentResult).Occupancy)
}

// imbalance is the sum of squared relative deviations of the equal agents'
// answered per logged-in hour from their mean: a smooth companion of
// Spread for searches.
func (r *Result) imbalance() float64 {
	return r.deviation(func(a *AgentResult) bool { return a.Equal && a.LoggedIn > 0 }, (*AgentResult).PerHour)
}

// occupancyImbalance is imbalance for AnsweringOccupancySpread: the sum of
// squared relative deviations of the answering agents' occupancy from
// their mean.
func (r *Result) occupancyImbalance() float64 {
	return r.deviation(answering, (*AgentResult).Occupancy)
}

// answering selects the agents logged in that answer their calls as the
// equal agents do.
func answering(a *AgentResult) bool { return a.LoggedIn > 0 && !a.Misses }

// deviation returns the sum of squared relative deviations of f from its
// mean over the agents keep selects; 0 when the mean is 0.
func (r *Result) deviation(keep func(*AgentResult) bool, f func(*AgentResult) float64) float64 {
	var sum float64
	n := 0
	for i := range r.Agents {
		if a := &r.Agents[i]; keep(a) {
			sum += f(a)
			n++
		}
	}
	if n == 0 || sum == 0 {
		return 0
	}
	mean := sum / float64(n)
	var ss float64
	for i := range r.Agents {
		if a := &r.Agents[i]; keep(a) {
			d := f(a)/mean - 1
			ss += d * d
		}
	}
	return ss
}

// WaitQuantile returns the q-quantile (0 <= q <= 1) of the time to answer
// of answered calls, nearest rank.
func (r *Result) WaitQuantile(q float64) time.Duration {
	if len(r.Waits) == 0 {
		return 0
	}
	w := slices.Clone(r.Waits)
	slices.Sort(w)
	i := int(math.Ceil(q*float64(len(w)))) - 1
	return w[min(max(i, 0), len(w)-1)]
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
	tableHead(&b, 1, "policy", "answered", "abandoned", "unanswered", "answered per agent (min–max)", "max/min", "CV",
		"busy offers", "peak legs on one agent", "attempts per answered call", "mean time to answer")
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
	cols := []string{"agent"}
	for _, r := range results {
		cols = append(cols, r.Policy)
	}
	b.WriteString("\n")
	tableHead(&b, 1, cols...)
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
