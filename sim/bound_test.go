package sim

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// The bound is a spread some tie choices reach: replaying its choices
// gives its result, it is no worse than the rule it started from, and it
// keeps load first (no busy offer).
func TestBoundIsReached(t *testing.T) {
	cfg, tr := traceOf(t, "two-groups", 2, 0, 2*time.Hour)
	b, err := FindBound(cfg, tr, BoundOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if b.Spread > b.Base || b.Decisions == 0 || b.Runs < 2 || b.Result.BusyOffers != 0 {
		t.Fatalf("bound %.3f from base %.3f (%s), %d decisions, %d runs, %d busy offers",
			b.Spread, b.Base, b.BaseRule, b.Decisions, b.Runs, b.Result.BusyOffers)
	}
	for _, base := range BoundBases() {
		r := NewRule(base)
		res, err := simulate(cfg, tr, "base", r, false)
		if err != nil {
			t.Fatal(err)
		}
		if res.Spread() < b.Spread {
			t.Errorf("base %s spreads %.3f, better than the bound %.3f", base, res.Spread(), b.Spread)
		}
	}
	again, err := FindBound(cfg, tr, BoundOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(b, again) {
		t.Error("the search is not deterministic")
	}
	// MaxRuns stops it early, with a result no worse than its base.
	capped, err := FindBound(cfg, tr, BoundOptions{MaxRuns: 20})
	if err != nil {
		t.Fatal(err)
	}
	if capped.Runs > 20+len(BoundBases())+4 || capped.Spread > capped.Base {
		t.Errorf("capped search: %d runs, spread %.3f from %.3f", capped.Runs, capped.Spread, capped.Base)
	}
}

// The occupancy search evens out the answering agents' occupancy on a
// trace whose agents' talk times differ: no worse than any rule it starts
// from, load first kept, and the agent that misses calls left out of the
// measure.
func TestOccupancyBoundIsReached(t *testing.T) {
	cfg, tr := traceOf(t, "mixed", 2, 0, 2*time.Hour)
	if !cfg.TalksDiffer() {
		t.Fatal("mixed: talk times should differ")
	}
	b, err := FindBound(cfg, tr, BoundOptions{Objective: ByOccupancy, MaxRuns: 300})
	if err != nil {
		t.Fatal(err)
	}
	if b.Spread > b.Base || b.Runs < 2 || b.Result.BusyOffers != 0 || b.Spread != b.Result.AnsweringOccupancySpread() {
		t.Fatalf("bound %.3f from base %.3f (%s), %d runs, %d busy offers", b.Spread, b.Base, b.BaseRule, b.Runs, b.Result.BusyOffers)
	}
	for _, base := range OccupancyBoundBases() {
		res, err := simulate(cfg, tr, "base", NewRule(base), false)
		if err != nil {
			t.Fatal(err)
		}
		if res.AnsweringOccupancySpread() < b.Spread {
			t.Errorf("base %s: occupancy %.3f, better than the bound %.3f", base, res.AnsweringOccupancySpread(), b.Spread)
		}
	}
	for _, a := range b.Result.Agents {
		if a.Misses != (a.Agent == "1001") {
			t.Errorf("%s: Misses %v; only 1001 misses calls on mixed", a.Agent, a.Misses)
		}
	}
}

// On a trace where list order gives every call to the first member, the
// search evens it out: with hindsight, ties can always be spread.
func TestBoundEvensOutListTies(t *testing.T) {
	cfg, tr := handTrace(apart(30)...)
	tr.Span = 30 * time.Minute
	b, err := FindBound(cfg, tr, BoundOptions{Bases: []RuleOptions{{Tie: RuleList}}})
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsInf(b.Base, 1) || b.Spread != 1 {
		t.Errorf("list ties: base %v, bound %v; want +Inf (b and c answer nothing) and 1", b.Base, b.Spread)
	}
	for _, a := range b.Result.Agents {
		if a.Answered != 10 {
			t.Errorf("%s answered %d, want 10", a.Agent, a.Answered)
		}
	}
}

func TestEvenest(t *testing.T) {
	mk := func(counts ...int) *Result {
		r := &Result{}
		for _, c := range counts {
			r.Agents = append(r.Agents, AgentResult{Answered: c, LoggedIn: time.Hour, Equal: true})
		}
		return r
	}
	for _, tc := range []struct {
		r    *Result
		want float64
	}{
		{mk(10, 10, 10), 1},
		{mk(9, 10, 12), 11.0 / 10},
		{mk(1, 1, 0), 1}, // fewer calls than agents: no even split to judge
		{&Result{Agents: []AgentResult{{Answered: 3, LoggedIn: time.Hour, Equal: true}, {Answered: 4, LoggedIn: 2 * time.Hour, Equal: true}}}, 1},
	} {
		if got := tc.r.evenest(); got != tc.want {
			t.Errorf("evenest of %+v = %v, want %v", tc.r.Agents, got, tc.want)
		}
	}
}

// The lookahead is a rule without hindsight: deterministic for a trace,
// load first (no busy offer), and it needs a shift.
func TestLookahead(t *testing.T) {
	cfg, tr := traceOf(t, "two-groups", 2, 0, time.Hour)
	o := DefaultLookahead()
	a, err := Lookahead(cfg, tr, o)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Lookahead(cfg, tr, o)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Error("the lookahead is not deterministic")
	}
	if a.Runs <= a.Decisions || a.Result.BusyOffers != 0 || a.Result.Answered < 40 || math.IsNaN(a.Spread) {
		t.Errorf("lookahead: %d runs, %d decisions, %d busy offers, %d answered, spread %v",
			a.Runs, a.Decisions, a.Result.BusyOffers, a.Result.Answered, a.Spread)
	}
	legacy := DefaultConfig()
	legacy.Calls = 50
	ltr, _ := NewTrace(legacy)
	if _, err := Lookahead(legacy, ltr, o); err == nil {
		t.Error("lookahead ran on a trace without a shift")
	}
}

// A future keeps the past: replaying the choices made so far on it gives
// the same state at the time of the choice, and its new calls arrive after.
func TestFutureKeepsThePast(t *testing.T) {
	cfg, tr := traceOf(t, "overload", 4, 0, time.Hour)
	r := NewRule(DefaultLookahead().Base)
	r.stop = true
	run, err := newRunner(cfg, tr, r, false)
	if err != nil {
		t.Fatal(err)
	}
	for range 30 { // the 30th choice among idle members
		if err := run.loop(); !errors.Is(err, errStop) {
			t.Fatalf("run did not stop at a choice: %v", err)
		}
		r.plan = chosen(r.decisions)
		r.plan = append(r.plan, 0)
		next := NewRule(DefaultLookahead().Base)
		next.plan, next.stop = r.plan, true
		r = next
		if run, err = newRunner(cfg, tr, r, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := run.loop(); !errors.Is(err, errStop) {
		t.Fatal(err)
	}
	f := futureOf(cfg, tr, run, rand.New(rand.NewPCG(1, 2)), cfg.Duration)
	past := 0
	for i, c := range f.Calls {
		if c.Arrival > run.now {
			break
		}
		past++
		if c.Arrival != tr.Calls[i].Arrival || c.Group != tr.Calls[i].Group {
			t.Fatalf("call %d changed its arrival or group", i)
		}
	}
	if past == 0 || past == len(f.Calls) {
		t.Fatalf("%d of %d calls before the choice at %v", past, len(f.Calls), run.now)
	}
	// Replaying the plan on the future reaches the same choice.
	again := NewRule(DefaultLookahead().Base)
	again.plan, again.stop = r.plan, true
	rerun, err := newRunner(cfg, f, again, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := rerun.loop(); !errors.Is(err, errStop) || rerun.now != run.now || !reflect.DeepEqual(again.decisions, r.decisions) {
		t.Errorf("the future's past differs: stopped at %v (want %v), %v", rerun.now, run.now, err)
	}
}
