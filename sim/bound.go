package sim

import (
	"fmt"
	"time"
)

// Bound is the best spread the hindsight search found on one trace: how
// evenly any tie rule could have spread the calls, given which members were
// free.
//
// Every choice ringlb makes is "least loaded first, then a tie rule": the
// tie rule only ever picks among the untried members with the fewest
// holds. The search keeps that and nothing else. It runs the trace with a
// base rule, then walks through the choices that had two or more equally
// loaded members, in order; at each it tries every other member, runs the
// rest of the shift (the later ties by the base rule in the first pass, by
// the best sequence so far in later ones) and keeps a choice that ends
// with a smaller spread (max/min over the equal agents of answered calls
// per logged-in hour; ties by the sum of squared deviations). Every
// candidate is a full run of the simulation on the same trace, with the
// same callers and agent behaviour, so what it keeps is a sequence of tie
// choices that reaches that spread: the search never reports a spread no
// tie rule could reach. It is a one-step lookahead (rollout), not an
// exhaustive search, so a better sequence may exist: the true best spread
// lies between 1 and the bound. With BoundOptions.Objective ByOccupancy it
// evens out the answering agents' occupancy instead of answered calls.
type Bound struct {
	// Spread is the best spread found, Base the spread of the best base
	// rule it started from (both as the search's Objective measures
	// them), and BaseRule that rule.
	Spread, Base float64
	BaseRule     string
	// Decisions counts the choices among equally loaded members in the
	// best run; Runs the simulations the search made.
	Decisions, Runs int
	// Result is the best run.
	Result Result
}

// BoundOptions bound the search.
type BoundOptions struct {
	// Bases are the rules the search may start from; it starts from the
	// one with the smallest spread. Empty means BoundBases(), or
	// OccupancyBoundBases() for ByOccupancy.
	Bases []RuleOptions
	// Passes is how many times it walks through the choices; 0 means 2.
	Passes int
	// MaxRuns caps the simulations of one search; 0 means no cap.
	MaxRuns int
	// Objective is what the search evens out: answered calls (the
	// default) or occupancy.
	Objective Objective
}

// Objective is what a hindsight search evens out.
type Objective int

const (
	// ByCalls evens out answered calls per logged-in hour over the equal
	// agents (Result.Spread): fewest ties' aim.
	ByCalls Objective = iota
	// ByOccupancy evens out occupancy over the agents that answer their
	// calls (Result.AnsweringOccupancySpread): talk ties' aim.
	ByOccupancy
)

// spread returns r's spread as o measures it.
func (o Objective) spread(r *Result) float64 {
	if o == ByOccupancy {
		return r.AnsweringOccupancySpread()
	}
	return r.Spread()
}

// better reports whether a is more even than b as o measures it: a smaller
// spread, then a smaller sum of squared deviations.
func (o Objective) better(a, b *Result) bool {
	sa, sb := o.spread(a), o.spread(b)
	if sa != sb {
		return sa < sb
	}
	if o == ByOccupancy {
		return a.occupancyImbalance() < b.occupancyImbalance()
	}
	return a.imbalance() < b.imbalance()
}

// done reports whether no choice can make r more even: its calls split as
// evenly as whole calls do. Occupancy has no such floor.
func (o Objective) done(r *Result) bool {
	return o == ByCalls && r.Spread() <= r.evenest()
}

// BoundBases are the rules the search starts from by default: lb's fewest
// today, and the variants that do best on the shift traces.
func BoundBases() []RuleOptions {
	return []RuleOptions{
		{Tie: RuleFewest, HalfLife: 4 * time.Hour},
		{Tie: RuleFewest, Start: StartZeroFirstHour, Lift: true, NoAnswerWeight: 1},
		{Tie: RuleFewest, HalfLife: 8 * time.Hour, Start: StartZeroFirstHour, Lift: true, NoAnswerWeight: 1},
		{Tie: RuleLRU},
	}
}

// OccupancyBoundBases are the rules an occupancy search starts from by
// default: talk ties as lb ranks them, and without the no-answer back-off
// and without fading.
func OccupancyBoundBases() []RuleOptions {
	talk := DefaultRuleOptions()
	talk.Tie = RuleTalk
	noBackoff := talk
	noBackoff.Backoff, noBackoff.BackoffDoubles, noBackoff.MaxNoAnswer = 0, false, 0
	noFading := talk
	noFading.HalfLife = 0
	return []RuleOptions{talk, noBackoff, noFading}
}

// FindBound runs the hindsight search over trace tr of cfg.
func FindBound(cfg Config, tr *Trace, o BoundOptions) (Bound, error) {
	bases := o.Bases
	if len(bases) == 0 {
		bases = BoundBases()
		if o.Objective == ByOccupancy {
			bases = OccupancyBoundBases()
		}
	}
	better := o.Objective.better
	passes := o.Passes
	if passes == 0 {
		passes = 2
	}
	var b Bound
	play := func(opts RuleOptions, plan []int) (Result, []decision, error) {
		b.Runs++
		r := NewRule(opts)
		r.opts.Wrapup = cfg.Wrapup
		r.plan = plan
		res, err := simulate(cfg, tr, "bound", r, false)
		return res, r.decisions, err
	}
	var (
		base  RuleOptions
		best  Result
		decs  []decision
		found bool
	)
	for _, opts := range bases {
		res, d, err := play(opts, nil)
		if err != nil {
			return Bound{}, fmt.Errorf("sim: bound: %w", err)
		}
		if !found || better(&res, &best) {
			base, best, decs, found = opts, res, d, true
		}
	}
	b.Base, b.BaseRule = o.Objective.spread(&best), base.String()
	plan := chosen(decs)
	for pass := range passes {
		improved := false
		for k := 0; k < len(decs); k++ {
			if (o.MaxRuns > 0 && b.Runs >= o.MaxRuns) || o.Objective.done(&best) {
				break
			}
			var next []decision
			for alt := range decs[k].n {
				if alt == decs[k].chosen {
					continue
				}
				var p []int
				if pass == 0 {
					// Rollout: this choice, then the base rule.
					p = append(append(make([]int, 0, k+1), plan[:k]...), alt)
				} else {
					// Then the best sequence found so far.
					p = append(append(append(make([]int, 0, len(plan)), plan[:k]...), alt), plan[k+1:]...)
				}
				res, d, err := play(base, p)
				if err != nil {
					return Bound{}, fmt.Errorf("sim: bound: %w", err)
				}
				if better(&res, &best) {
					best, next = res, d
				}
			}
			if next != nil {
				decs, plan, improved = next, chosen(next), true
			}
		}
		if !improved && pass > 0 {
			break
		}
	}
	b.Spread, b.Decisions, b.Result = o.Objective.spread(&best), len(decs), best
	b.Result.Policy = "bound"
	return b, nil
}

// evenest returns the smallest spread r's answered calls allow when its
// equal agents were all logged in alike: the total split as evenly as
// whole calls split (1 when they were not logged in alike).
func (r *Result) evenest() float64 {
	total, k := 0, 0
	var in time.Duration
	for i := range r.Agents {
		a := &r.Agents[i]
		if !a.Equal || a.LoggedIn <= 0 {
			continue
		}
		if k > 0 && a.LoggedIn != in {
			return 1
		}
		in = a.LoggedIn
		total += a.Answered
		k++
	}
	if k == 0 || total < k {
		return 1
	}
	lo, hi := total/k, (total+k-1)/k
	return float64(hi) / float64(lo)
}

// chosen lists the choice made at each decision.
func chosen(decs []decision) []int {
	out := make([]int, len(decs))
	for i, d := range decs {
		out[i] = d.chosen
	}
	return out
}
