package sim

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// fmtRatio prints a max/min ratio with two decimals, ∞ for +Inf and — for
// NaN (not measured).
func fmtRatio(x float64) string {
	switch {
	case math.IsNaN(x):
		return "—"
	case math.IsInf(x, 1):
		return "∞"
	}
	return fmt.Sprintf("%.2f", x)
}

// tableHead writes a markdown table's header: cols, the first left of
// them aligned left, the others right.
func tableHead(b *strings.Builder, left int, cols ...string) {
	b.WriteString("|")
	for _, c := range cols {
		fmt.Fprintf(b, " %s |", c)
	}
	b.WriteString("\n|")
	for i := range cols {
		if i < left {
			b.WriteString("---|")
		} else {
			b.WriteString("---:|")
		}
	}
	b.WriteString("\n")
}

// stats returns the mean and the largest of xs (+Inf if any is).
func stats(xs []float64) (mean, worst float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	for _, x := range xs {
		mean += x
		worst = max(worst, x)
	}
	return mean / float64(len(xs)), worst
}

// spreads returns policy's spread on each seed (NaN where it did not run).
func (t *TraceRun) spreads(policy string) []float64 {
	out := make([]float64, len(t.Seeds))
	for i := range t.Seeds {
		out[i] = math.NaN()
		if r, ok := t.Seeds[i].Result(policy); ok {
			out[i] = r.Spread()
		}
	}
	return out
}

// bounds returns the bound of each seed (NaN without the search).
func (t *TraceRun) bounds() []float64 {
	out := make([]float64, len(t.Seeds))
	for i := range t.Seeds {
		out[i] = t.Seeds[i].BoundSpread()
	}
	return out
}

// Passes counts the seeds on which policy meets the target (see Meets),
// with no busy offer and, on traces with a return, a first-hour share
// within ReturnTarget.
func (t *TraceRun) Passes(policy string) (passed, seeds int) {
	for i := range t.Seeds {
		s := &t.Seeds[i]
		r, ok := s.Result(policy)
		if !ok {
			continue
		}
		seeds++
		if Meets(r.Spread(), s.BoundSpread()) && r.BusyOffers == 0 && returnsMeet(r) {
			passed++
		}
	}
	return passed, seeds
}

// returnsMeet reports whether every returning agent of r had a first-hour
// share within ReturnTarget of the others.
func returnsMeet(r *Result) bool {
	for _, rr := range r.Returns {
		if sh := round2(rr.Share()); sh > ReturnTarget || sh < round2(1/ReturnTarget) {
			return false
		}
	}
	return true
}

// summaryPolicies are the policies the summary tables compare, in order,
// when they ran.
var summaryPolicies = []string{"ringlb-lru", "ringlb-list", "genesis", "sequential", "random"}

// WriteSummary writes one row per trace: ringlb's spread per seed, its mean
// and worst, the bound, how many seeds meet the target, busy offers, and
// the other policies' mean and worst.
func WriteSummary(w io.Writer, runs []TraceRun) error {
	var b strings.Builder
	bound := slices.ContainsFunc(runs, func(t TraceRun) bool { return t.Shift })
	look := slices.ContainsFunc(runs, func(t TraceRun) bool { return len(t.Seeds) > 0 && t.Seeds[0].Lookahead != nil })
	cols := []string{"trace", "ringlb max/min, seed by seed", "ringlb mean (worst)"}
	if bound {
		cols = append(cols, "bound mean (worst)")
	}
	if look {
		cols = append(cols, "lookahead mean (worst)")
	}
	if bound {
		cols = append(cols, "seeds meeting the target")
	}
	cols = append(cols, "busy offers (ringlb)")
	for _, p := range summaryPolicies {
		cols = append(cols, p+" mean (worst)")
	}
	tableHead(&b, 2, cols...)
	for i := range runs {
		t := &runs[i]
		sp := t.spreads("ringlb")
		var each []string
		for _, x := range sp {
			each = append(each, fmtRatio(x))
		}
		m, wst := stats(sp)
		fmt.Fprintf(&b, "| %s | %s | %s (%s) |", t.Scenario.Name, strings.Join(each, " "), fmtRatio(m), fmtRatio(wst))
		if bound {
			bm, bw := stats(t.bounds())
			fmt.Fprintf(&b, " %s (%s) |", fmtRatio(bm), fmtRatio(bw))
		}
		if look {
			var ls []float64
			for i := range t.Seeds {
				ls = append(ls, t.Seeds[i].LookaheadSpread())
			}
			lm, lw := stats(ls)
			fmt.Fprintf(&b, " %s (%s) |", fmtRatio(lm), fmtRatio(lw))
		}
		if bound {
			if t.Shift {
				p, n := t.Passes("ringlb")
				fmt.Fprintf(&b, " %d of %d |", p, n)
			} else {
				b.WriteString(" — |")
			}
		}
		busy, passed := 0, 0
		for _, s := range t.Seeds {
			if r, ok := s.Result("ringlb"); ok {
				busy += r.BusyOffers
				passed += r.PassedOver
			}
		}
		if passed > 0 {
			fmt.Fprintf(&b, " %d (%d passing over members out for no answer) |", busy, passed)
		} else {
			fmt.Fprintf(&b, " %d |", busy)
		}
		for _, p := range summaryPolicies {
			m, wst := stats(t.spreads(p))
			fmt.Fprintf(&b, " %s (%s) |", fmtRatio(m), fmtRatio(wst))
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// OccupancyTarget is the occupancy max/min talk ties must reach on a trace
// whose agents' talk times differ.
const OccupancyTarget = 1.15

// occupancy returns, seed by seed, talk ties' occupancy spread over every
// agent and over the agents that answer their calls, and the occupancy
// bound.
func (t *TraceRun) occupancy() (every, answering, bound []float64) {
	for i := range t.Seeds {
		s := &t.Seeds[i]
		e, a := math.NaN(), math.NaN()
		if r, ok := s.Result(TalkTies); ok {
			e, a = r.OccupancySpread(), r.AnsweringOccupancySpread()
		}
		every, answering, bound = append(every, e), append(answering, a), append(bound, s.OccupancyBoundSpread())
	}
	return every, answering, bound
}

// meetsOccupancy counts the seeds whose spread in xs is at most
// OccupancyTarget.
func meetsOccupancy(xs []float64) int {
	n := 0
	for _, x := range xs {
		if round2(x) <= OccupancyTarget {
			n++
		}
	}
	return n
}

// writeOccupancy writes the occupancy table of a trace whose agents' talk
// times differ: ringlb's and talk ties' occupancy spread seed by seed, talk
// ties' over the agents that answer their calls, and the occupancy bound.
func writeOccupancy(b *strings.Builder, t *TraceRun) {
	fmt.Fprintf(b, "\nOccupancy (talk time over logged-in time) max/min, seed by seed: what talk ties (`tie = \"talk\"`) even out "+
		"where talk times differ (target %s). \"Answering agents\" leaves out the agent that misses more calls than "+
		"the others: it has less talk because it misses calls, and offering it more of them to even that out would reward "+
		"not answering. The bound is the hindsight search run for the answering agents' occupancy instead of calls "+
		"(see \"The bound\"): it knows how long each call will last, which no rule does, so it shows what is reachable, "+
		"not what a rule can reach.\n\n", fmtRatio(OccupancyTarget))
	tableHead(b, 0, "seed", "ringlb", TalkTies, "talk ties, answering agents", "bound (answering agents)")
	every, answering, bound := t.occupancy()
	var fewest []float64
	for i := range t.Seeds {
		s := &t.Seeds[i]
		f := math.NaN()
		if r, ok := s.Result("ringlb"); ok {
			f = r.OccupancySpread()
		}
		fewest = append(fewest, f)
		fmt.Fprintf(b, "| %d | %s | %s | %s | %s |\n", s.Config.Seed, fmtRatio(f), fmtRatio(every[i]), fmtRatio(answering[i]), fmtRatio(bound[i]))
	}
	fm, fw := stats(fewest)
	em, ew := stats(every)
	am, aw := stats(answering)
	bm, bw := stats(bound)
	fmt.Fprintf(b, "| mean (worst) | %s (%s) | %s (%s) | %s (%s) | %s (%s) |\n", fmtRatio(fm), fmtRatio(fw),
		fmtRatio(em), fmtRatio(ew), fmtRatio(am), fmtRatio(aw), fmtRatio(bm), fmtRatio(bw))
	fmt.Fprintf(b, "| seeds at most %s | %d | %d | %d | %d |\n", fmtRatio(OccupancyTarget), meetsOccupancy(fewest), meetsOccupancy(every),
		meetsOccupancy(answering), meetsOccupancy(bound))
}

// writeOccupancySummary says how talk ties even out occupancy on the
// traces whose agents' talk times differ.
func writeOccupancySummary(b *strings.Builder, runs []TraceRun) {
	for i := range runs {
		t := &runs[i]
		if len(t.Seeds) == 0 || t.Seeds[0].OccupancyBound == nil {
			continue
		}
		every, answering, bound := t.occupancy()
		em, ew := stats(every)
		am, aw := stats(answering)
		bm, bw := stats(bound)
		fmt.Fprintf(b, "\nTalk ties on %s, occupancy max/min over every agent: %s (worst %s), at most %s on %d of %d seeds; "+
			"over the agents that answer their calls: %s (worst %s), on %d of %d seeds; the hindsight bound over those: %s (worst %s).\n",
			t.Scenario.Name, fmtRatio(em), fmtRatio(ew), fmtRatio(OccupancyTarget), meetsOccupancy(every), len(every),
			fmtRatio(am), fmtRatio(aw), meetsOccupancy(answering), len(answering), fmtRatio(bm), fmtRatio(bw))
	}
}

// WriteTrace writes a trace's tables: the spread seed by seed (with the
// bound), each policy over all seeds, each agent on the first seed, the
// returning agents, and Redis against memory where both ran.
func WriteTrace(w io.Writer, t *TraceRun) error {
	if len(t.Seeds) == 0 {
		return nil
	}
	var b strings.Builder
	first := &t.Seeds[0]
	fmt.Fprintf(&b, "Model: %s.\n\n", first.Config.Describe())
	// Research variants have their own table (WriteVariants).
	policies := slices.DeleteFunc(t.Policies(), isVariant)

	// Seed by seed.
	b.WriteString("Max/min of answered calls per logged-in hour over the equal agents, seed by seed:\n\n")
	look := t.Shift && first.Lookahead != nil
	cols := append([]string{"seed"}, policies...)
	if t.Shift {
		cols = append(cols, "bound")
	}
	if look {
		cols = append(cols, "lookahead")
	}
	if t.Shift {
		cols = append(cols, "ringlb meets the target")
	}
	tableHead(&b, 0, cols...)
	for i := range t.Seeds {
		s := &t.Seeds[i]
		fmt.Fprintf(&b, "| %d |", s.Config.Seed)
		for _, p := range policies {
			v := math.NaN()
			if r, ok := s.Result(p); ok {
				v = r.Spread()
			}
			fmt.Fprintf(&b, " %s |", fmtRatio(v))
		}
		if t.Shift {
			verdict := "—"
			if r, ok := s.Result("ringlb"); ok {
				verdict = "no"
				if Meets(r.Spread(), s.BoundSpread()) && r.BusyOffers == 0 && returnsMeet(r) {
					verdict = "yes"
				}
			}
			fmt.Fprintf(&b, " %s |", fmtRatio(s.BoundSpread()))
			if look {
				fmt.Fprintf(&b, " %s |", fmtRatio(s.LookaheadSpread()))
			}
			fmt.Fprintf(&b, " %s |", verdict)
		}
		b.WriteString("\n")
	}

	if first.OccupancyBound != nil {
		writeOccupancy(&b, t)
	}

	// Each policy over all seeds.
	fmt.Fprintf(&b, "\nEach policy over the %d seeds (calls summed; time to answer over every answered call; first offers per agent and occupancy max/min as the mean over seeds):\n\n", len(t.Seeds))
	tableHead(&b, 1, "policy", "answered", "abandoned", "unanswered", "time to answer p50 / p95", "busy offers",
		"spread mean (worst)", "occupancy max/min", "first offers per agent (min–max)", "attempts per answered call")
	for _, p := range policies {
		var all Result
		var occ, sp, foLo, foHi []float64
		for i := range t.Seeds {
			r, ok := t.Seeds[i].Result(p)
			if !ok {
				continue
			}
			all.Calls += r.Calls
			all.Answered += r.Answered
			all.Abandoned += r.Abandoned
			all.Unanswered += r.Unanswered
			all.Attempts += r.Attempts
			all.AnsweredAttempts += r.AnsweredAttempts
			all.BusyOffers += r.BusyOffers
			all.Waits = append(all.Waits, r.Waits...)
			occ = append(occ, r.OccupancySpread())
			sp = append(sp, r.Spread())
			lo, hi := r.firstOfferRange()
			foLo, foHi = append(foLo, float64(lo)), append(foHi, float64(hi))
		}
		om, _ := stats(occ)
		sm, sw := stats(sp)
		lo, _ := stats(foLo)
		hi, _ := stats(foHi)
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %.1f s / %.1f s | %s | %s (%s) | %s | %.0f–%.0f | %.2f |\n",
			p, pct(all.Answered, all.Calls), pct(all.Abandoned, all.Calls), pct(all.Unanswered, all.Calls),
			all.WaitQuantile(0.5).Seconds(), all.WaitQuantile(0.95).Seconds(), pct(all.BusyOffers, all.Attempts),
			fmtRatio(sm), fmtRatio(sw), fmtRatio(om), lo, hi, all.MeanAttempts())
	}

	// Each agent on the first seed.
	show := []string{"ringlb", "ringlb-lru", "genesis"}
	fmt.Fprintf(&b, "\nEach agent, seed %d: answered calls, occupancy (talk time over logged-in time), first offers:\n\n", first.Config.Seed)
	tableHead(&b, 1, append([]string{"agent", "groups"}, show...)...)
	if r0, ok := first.Result("ringlb"); ok {
		for ai, a := range r0.Agents {
			groups := 0
			for _, g := range first.Config.Groups {
				if slices.Contains(g.Members, a.Agent) {
					groups++
				}
			}
			note := ""
			if !a.Equal {
				note = " (unequal)"
			}
			fmt.Fprintf(&b, "| %s%s | %d |", a.Agent, note, groups)
			for _, p := range show {
				r, ok := first.Result(p)
				if !ok {
					b.WriteString(" — |")
					continue
				}
				x := &r.Agents[ai]
				fmt.Fprintf(&b, " %d, %.0f %%, %d |", x.Answered, 100*x.Occupancy(), x.FirstOffers)
			}
			b.WriteString("\n")
		}
	}

	// Agents that never answer.
	for _, tr := range first.Config.Traits {
		if tr.NoAnswer < 1 {
			continue
		}
		fair := fairFirstOffers(&first.Config, tr.Agent)
		fmt.Fprintf(&b, "\n%s never answers: the calls whose first leg rang it, mean over the seeds, against its fair share (%.0f: the calls of each of its groups over the group's members), and how long callers waited:\n\n", tr.Agent, fair)
		tableHead(&b, 1, "policy", "first offers to "+tr.Agent, "of its fair share", "time to answer p50 / p95", "abandoned",
			"busy offers while only members left out for no answer were idle")
		shown := policies
		if slices.Contains(t.Policies(), NoMaxNoAnswer) {
			shown = append(slices.Clone(policies[:1]), append([]string{NoMaxNoAnswer}, policies[1:]...)...)
		}
		for _, p := range shown {
			var fo []float64
			var all Result
			for i := range t.Seeds {
				r, ok := t.Seeds[i].Result(p)
				if !ok {
					continue
				}
				for _, a := range r.Agents {
					if a.Agent == tr.Agent {
						fo = append(fo, float64(a.FirstOffers))
					}
				}
				all.Calls += r.Calls
				all.Abandoned += r.Abandoned
				all.Attempts += r.Attempts
				all.PassedOver += r.PassedOver
				all.Waits = append(all.Waits, r.Waits...)
			}
			m, _ := stats(fo)
			fmt.Fprintf(&b, "| %s | %.0f | %.2f | %.1f s / %.1f s | %s | %s |\n", p, m, m/fair,
				all.WaitQuantile(0.5).Seconds(), all.WaitQuantile(0.95).Seconds(), pct(all.Abandoned, all.Calls),
				pct(all.PassedOver, all.Attempts))
		}
	}

	// Returning agents.
	if len(first.Config.Logouts) > 0 {
		l := first.Config.Logouts[0]
		fmt.Fprintf(&b, "\n%s back at %v: calls it answered in its first hour back, against the mean of the other equal agents in that hour (share; the target is within %.1f):\n\n", l.Agent, l.To, ReturnTarget)
		tableHead(&b, 0, append([]string{"seed"}, policies...)...)
		for i := range t.Seeds {
			s := &t.Seeds[i]
			fmt.Fprintf(&b, "| %d |", s.Config.Seed)
			for _, p := range policies {
				r, ok := s.Result(p)
				if !ok || len(r.Returns) == 0 {
					b.WriteString(" — |")
					continue
				}
				rr := r.Returns[0]
				fmt.Fprintf(&b, " %d vs %.1f (%.2f) |", rr.FirstHour, rr.Others, rr.Share())
			}
			b.WriteString("\n")
		}
	}

	// Redis against memory.
	if redis := RedisName(first.Config.Nodes); slices.Contains(policies, redis) {
		same, n := 0, 0
		for i := range t.Seeds {
			r, ok1 := t.Seeds[i].Result(redis)
			m, ok2 := t.Seeds[i].Result(NoFading)
			if ok1 && ok2 {
				n++
				if sameChoices(r, m) {
					same++
				}
			}
		}
		fmt.Fprintf(&b, "\n%s against %s (one memory balancer, nothing that reads the clock on either, no fading, start window or no-answer back-off: the Redis balancers read the Redis server's clock): the same answered calls for every agent and the same totals on %d of %d seeds.\n", redis, NoFading, same, n)
	}
	for i := range t.Seeds {
		for _, n := range t.Seeds[i].Notes {
			fmt.Fprintf(&b, "\nNote (seed %d): %s\n", t.Seeds[i].Config.Seed, n)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// sameChoices reports whether two runs of one trace ended alike: the same
// calls answered, abandoned and unanswered, the same legs, and each agent
// the same answered calls, offers and talk time.
func sameChoices(a, b *Result) bool {
	if a.Answered != b.Answered || a.Abandoned != b.Abandoned || a.Unanswered != b.Unanswered ||
		a.Attempts != b.Attempts || a.Wait != b.Wait || len(a.Agents) != len(b.Agents) {
		return false
	}
	for i := range a.Agents {
		x, y := &a.Agents[i], &b.Agents[i]
		if x.Answered != y.Answered || x.Offers != y.Offers || x.FirstOffers != y.FirstOffers || x.Talk != y.Talk {
			return false
		}
	}
	return true
}

// firstOfferRange returns the fewest and most first offers of one agent.
func (r *Result) firstOfferRange() (lo, hi int) {
	for i, a := range r.Agents {
		if i == 0 || a.FirstOffers < lo {
			lo = a.FirstOffers
		}
		hi = max(hi, a.FirstOffers)
	}
	return lo, hi
}

// WriteSeedsLine writes, for a trace of the default call centre, each
// policy's max/min seed by seed in one table.
func WriteSeedsLine(w io.Writer, t *TraceRun) error {
	var b strings.Builder
	fmt.Fprintf(&b, "\nMax/min over %d seeds (seed by seed; mean, worst):\n\n", len(t.Seeds))
	tableHead(&b, 2, "policy", "max/min seed by seed", "mean (worst)")
	for _, p := range slices.DeleteFunc(t.Policies(), isVariant) {
		sp := t.spreads(p)
		var each []string
		for _, x := range sp {
			each = append(each, fmtRatio(x))
		}
		m, wst := stats(sp)
		fmt.Fprintf(&b, "| %s | %s | %s (%s) |\n", p, strings.Join(each, " "), fmtRatio(m), fmtRatio(wst))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// seedList prints seeds as "1-10" when they run on, else one by one.
func seedList(seeds []uint64) string {
	if len(seeds) == 0 {
		return "none"
	}
	run := true
	for i := 1; i < len(seeds); i++ {
		run = run && seeds[i] == seeds[i-1]+1
	}
	if run && len(seeds) > 2 {
		return fmt.Sprintf("%d-%d", seeds[0], seeds[len(seeds)-1])
	}
	var parts []string
	for _, s := range seeds {
		parts = append(parts, fmt.Sprint(s))
	}
	return strings.Join(parts, ", ")
}

// ReportOptions are what WriteReport says about how the runs were made.
type ReportOptions struct {
	Seeds []uint64
	// Command is the command line that made the report.
	Command string
	// BoundRuns is the cap on the search's runs per seed (0: none).
	BoundRuns int
}

// WriteReport writes the whole balance report: how to read it, the
// summaries, what the bound is, then every trace's tables. shifts are
// shift traces, scenarios the default call centre's variations.
func WriteReport(w io.Writer, shifts, scenarios []TraceRun, o ReportOptions) error {
	var b strings.Builder
	b.WriteString("# Balance: how evenly ringlb spreads calls\n\n")
	fmt.Fprintf(&b, "Generated by `%s`; change the simulation (sim/, cmd/ringlb-sim), not this file. "+
		"Every figure comes from a seeded simulation on simulated time, seeds %s for every trace: "+
		"the same callers and the same agent behaviour for every policy, only the choices differ. "+
		"The ringlb rows run the real balancer (`lb.Memory` with its clock set to simulated time, "+
		"and the Redis backend, three nodes on a private redis-server), one balancer for all the groups of a trace; "+
		"the row \"ringlb with one balancer per group\" in \"Choosing the defaults\" opens one per group, as ring groups "+
		"with names of their own do. genesis, sequential and random are models (see the sim package).\n\n", o.Command, seedList(o.Seeds))
	b.WriteString(`## How to read the tables

- **Max/min** (the spread): over the *equal agents* (every agent without a trait such as a lower answer
  rate or longer talk), the most calls answered per logged-in hour over the fewest. For agents logged in
  the whole shift it is the ratio of their answered counts.
- **Target**, on every shift trace and every seed: max/min at most 1.15, or within 0.05 of the trace's
  bound where the bound is above 1.10; no busy offer; an agent back from a logout answers, in its first
  hour back, within 1.2 times the others' mean.
- **Bound**: the best max/min that tie choices reached on that seed with hindsight (see "The bound").
- **Busy offers**: legs offered to an agent already on a call (or in wrap-up) while a member of the group
  not yet tried by that call was idle.
- **Occupancy**: talk time over logged-in time; max/min over every agent.
- **First offers**: calls whose first leg rang that agent.
- **Time to answer**: from arrival to answer, over answered calls. *Abandoned*: the caller hung up first.
  *Unanswered*: every member was tried, or none was free as the balancer saw it.

A ring rings one member at a time, as the ring helper's balancing mode does: the balancer's next holds
the member when its leg starts ringing, a leg that is not answered within the ring timeout is released
as unanswered (the member backs off) and one rejected as busy is released, and the next member chosen;
an answered one is marked answered, and the hold ends when the call does. Logged-out agents are
unavailable; a trace says whether the operator put them on do-not-disturb (the ring helper leaves them
out of the members it passes and marks them away in the balancer) or drained them in the balancer.

`)
	if len(shifts) > 0 {
		b.WriteString("## Shift traces\n\n")
		b.WriteString("Each a shift of equal agents unless it says otherwise (5 % of calls not answered, talk exponential, " +
			"callers hanging up after 2 minutes on average); ringlb with its defaults. Summary, ringlb's max/min and the other policies':\n\n")
		if err := WriteSummary(&b, shifts); err != nil {
			return err
		}
		var miss []string
		for i := range shifts {
			if p, n := shifts[i].Passes("ringlb"); p < n {
				miss = append(miss, fmt.Sprintf("%s (met on %d of %d seeds)", shifts[i].Scenario.Name, p, n))
			}
		}
		b.WriteString("\nA busy offer is a leg offered to an agent on a call while another member the call had not tried " +
			"was idle. Legs offered while the only such members were ones ringlb had left out for leaving " +
			"`max_no_answer` offers in a row unanswered (3 by default; they are not offered until their no-answer back-off ends, " +
			"as mod_callcenter's agents go on break after max-no-answer) are counted apart, in brackets: with " +
			"capacities set, as for agents with one line, those calls would end at once instead.\n")
		if len(miss) > 0 {
			fmt.Fprintf(&b, "\nringlb misses the target on %s.\n", strings.Join(miss, ", "))
		} else {
			b.WriteString("\nringlb meets the target on every shift trace and seed.\n")
		}
		writeOccupancySummary(&b, shifts)
		lookNote := ""
		if slices.ContainsFunc(shifts, func(t TraceRun) bool { return len(t.Seeds) > 0 && t.Seeds[0].Lookahead != nil }) {
			lookNote = `
The *lookahead* column is what a rule without hindsight reached: at each choice among idle members it
plays the next 20 minutes on four futures drawn from what is known then (the call centre's rates and
means, who is on a call, who waits; talk times, patience and answers drawn afresh) and takes the member
whose futures end most evenly. Too slow for a switch, it shows what a rule that knows only the past and
the statistics can reach: where it meets the target and ringlb does not, a better rule exists.
`
		}
		runs := "every choice"
		if o.BoundRuns > 0 {
			runs = fmt.Sprintf("choices until %d runs per seed", o.BoundRuns)
		}
		fmt.Fprintf(&b, `
### The bound

"The best spread any tie rule could reach, given which agents were free" is computed from each trace by a
hindsight search. ringlb, like every load-first policy, chooses among the untried members with the fewest
holds: the tie rule is free only among those. The search keeps that constraint and nothing else. It runs
the trace with a base rule (the best of lb's fewest today and three variants of it), then walks through
%s that had two or more equally loaded members, in order; at each it tries every other member, plays the
rest of the shift (later ties by the base rule in the first pass, by the best sequence so far in a second
pass) and keeps a choice that ends with a smaller max/min (ties by the sum of squared deviations). It stops
early when the spread is as even as whole calls allow for the total answered. Every candidate is a full run
of the simulation on the same trace, with the same callers and agent behaviour, so the sequence it keeps
is real: some sequence of tie choices reaches the bound, and the bound also takes the smallest max/min of
every load-first policy run on that seed.

The search has hindsight: it knows every caller's talk time and patience and every agent's answer before
choosing, which no tie rule does. No rule can beat the best sequence of choices made with hindsight; the
search finds a good sequence, not necessarily the best (it looks one choice ahead at a time), so the bound
sits at or above that optimum and at or below every rule tried. Where it is below ringlb it says how much
better the choices could have been on that trace, not that a rule without hindsight could have made them.
%s`, runs, lookNote)
	}
	if len(shifts) > 0 {
		b.WriteString(`
### Trying a tie rule

` + "`go run ./cmd/ringlb-sim -scenario all -variants`" + ` adds research variants of the tie rule (sim.Variants:
half-lives, how a member's score starts, a lift on return, unanswered offers counted or backed off, talk-time
ties) and prints, for each, the seeds meeting the target on every trace. They run on sim.Rule, a model of
lb's ranking that a test holds to choose exactly as ` + "`lb.Memory`" + ` for the ties both have; a new variant is a
RuleOptions field and a line in Variants, with no change to lb. The ringlb rows always run lb itself.
`)
	}
	if len(scenarios) > 0 {
		b.WriteString("\n## The default call centre and its variations\n\n")
		b.WriteString("Counted in calls rather than hours (agents differ in answer rate, 5 % to 15 %: all are counted). " +
			"No bound is searched on these long traces. Summary:\n\n")
		if err := WriteSummary(&b, scenarios); err != nil {
			return err
		}
	}
	for i := range shifts {
		t := &shifts[i]
		fmt.Fprintf(&b, "\n## Shift trace %s: %s\n\n", t.Scenario.Name, t.Scenario.About)
		if err := WriteTrace(&b, t); err != nil {
			return err
		}
	}
	for i := range scenarios {
		t := &scenarios[i]
		fmt.Fprintf(&b, "\n## Scenario %s: %s\n\n", t.Scenario.Name, t.Scenario.About)
		if err := WriteTable(&b, t.Seeds[0].Config, t.Seeds[0].Results, t.Seeds[0].Notes); err != nil {
			return err
		}
		if len(t.Seeds) > 1 {
			if err := WriteSeedsLine(&b, t); err != nil {
				return err
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// fairFirstOffers is agent's fair share of first offers in a run of cfg:
// the expected calls of each group it is in over the group's members.
func fairFirstOffers(cfg *Config, agent string) float64 {
	total := 0.0
	for _, g := range cfg.Groups {
		total += g.Weight
	}
	calls := cfg.ArrivalsPerHour * cfg.Duration.Hours()
	if cfg.Duration == 0 {
		calls = float64(cfg.Calls)
	}
	fair := 0.0
	for _, g := range cfg.Groups {
		if slices.Contains(g.Members, agent) && total > 0 {
			fair += calls * g.Weight / total / float64(len(g.Members))
		}
	}
	return fair
}
