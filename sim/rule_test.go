package sim

import (
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/ringlb/ringlb/lb"
)

// traceOf returns the config and trace of scenario or shift name at seed,
// cut to calls calls (scenarios) or length (shifts).
func traceOf(t *testing.T, name string, seed uint64, calls int, length time.Duration) (Config, *Trace) {
	t.Helper()
	s, ok := ScenarioByName(name)
	if !ok {
		t.Fatalf("no trace %s", name)
	}
	cfg := DefaultConfig()
	cfg.Seed, cfg.Calls = seed, calls
	s.Apply(&cfg)
	if cfg.Duration > 0 {
		cfg.ScaleShift(float64(length) / float64(cfg.Duration))
	}
	tr, err := NewTrace(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, tr
}

// The research model chooses exactly as lb.Memory for the ties both have,
// on every trace: what a variant of it changes is the variant, not the
// model.
func TestRuleMatchesMemory(t *testing.T) {
	type pair struct {
		lb   lb.Options
		rule RuleOptions
	}
	talk := DefaultRuleOptions()
	talk.Tie = RuleTalk
	pairs := []pair{
		{lb.Options{}, DefaultRuleOptions()},
		{lb.Options{HalfLife: -1, StartWindow: -1, NoAnswerBackoff: -1}, RuleOptions{Tie: RuleFewest, Start: StartWhenRanked, LiftMean: true}},
		{lb.Options{HalfLife: 30 * time.Minute, NoAnswerBackoff: -1},
			RuleOptions{Tie: RuleFewest, HalfLife: 30 * time.Minute, Start: StartZeroFirstHour, LiftMean: true}},
		{lb.Options{Tie: lb.TieTalk}, talk},
		{lb.Options{Tie: lb.TieLRU}, RuleOptions{Tie: RuleLRU, Backoff: lb.DefaultNoAnswerBackoff, BackoffDoubles: true,
			MaxNoAnswer: lb.DefaultMaxNoAnswer}},
		{lb.Options{MaxNoAnswer: -1}, RuleOptions{Tie: RuleFewest, HalfLife: lb.DefaultHalfLife, Start: StartZeroFirstHour,
			FirstHour: lb.DefaultStartWindow, LiftMean: true, Backoff: lb.DefaultNoAnswerBackoff, BackoffDoubles: true}},
		{lb.Options{Tie: lb.TieList, NoAnswerBackoff: -1}, RuleOptions{Tie: RuleList}},
	}
	var names []string
	for _, s := range append(Scenarios(), Shifts()...) {
		names = append(names, s.Name)
	}
	for _, name := range names {
		for seed := uint64(1); seed <= 2; seed++ {
			cfg, tr := traceOf(t, name, seed, 800, 3*time.Hour)
			for _, p := range pairs {
				p.lb.DefaultWrapup, p.rule.Wrapup = cfg.Wrapup, cfg.Wrapup
				what := fmt.Sprintf("%s seed %d, %s", name, seed, p.rule)
				mem, closeFn, err := MemorySpec("m", p.lb).Open()
				if err != nil {
					t.Fatal(err)
				}
				memRec, memRes := run(t, cfg, tr, mem)
				closeFn()
				ruleRec, ruleRes := run(t, cfg, tr, NewRule(p.rule))
				if !reflect.DeepEqual(memRec.legs, ruleRec.legs) {
					t.Errorf("%s: legs differ from lb's", what)
					for i := range memRec.legs {
						if i < len(ruleRec.legs) && memRec.legs[i] != ruleRec.legs[i] {
							t.Errorf("first difference at leg %d: lb %+v, rule %+v", i, memRec.legs[i], ruleRec.legs[i])
							break
						}
					}
					continue
				}
				if !reflect.DeepEqual(memRes, ruleRes) {
					t.Errorf("%s: results differ from lb's", what)
				}
			}
		}
	}
}

// step is one row of a Rule step table: at At, either a Next over List
// (call Call) that must choose Want, or the end of call Call's leg on Dest
// with Outcome (Hangup: the answered call ends), or Dest coming back.
type step struct {
	at     time.Duration
	call   int
	list   []string
	want   string
	dest   string
	o      Outcome
	hangup bool
	back   bool
	out    bool
}

// score returns dest's score as Rule weighs it at now; -1 if unscored.
func (r *Rule) score(dest string, now time.Duration) float64 {
	m := r.members[dest]
	if m == nil || !m.scored {
		return -1
	}
	return r.scoreOf(m.rank, r.ns(now))
}

func runSteps(t *testing.T, r *Rule, steps []step) {
	t.Helper()
	for i, s := range steps {
		var err error
		switch {
		case s.list != nil:
			var got string
			got, err = r.Next(s.at, s.call, 0, s.list)
			if err == nil && got != s.want {
				t.Fatalf("step %d at %v: Next(%v) = %s, want %s", i, s.at, s.list, got, s.want)
			}
		case s.hangup:
			err = r.Hangup(s.at, s.call, 0, s.dest)
		case s.back:
			err = r.LoggedIn(s.at, s.dest, DND)
		case s.out:
			err = r.LoggedOut(s.at, s.dest, DND)
		default:
			err = r.LegEnded(s.at, s.call, 0, s.dest, s.o)
		}
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
}

// call returns the steps of call id: offered over list, answered by want
// at at+1s, ended at at+talk.
func call(id int, at, talk time.Duration, list []string, want string) []step {
	return []step{
		{at: at, call: id, list: list, want: want},
		{at: at + time.Second, call: id, dest: want, o: Answered},
		{at: at + talk, call: id, dest: want, hangup: true},
	}
}

func steps(parts ...[]step) []step {
	var out []step
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// A member first ranked after the shared member took calls: today it
// starts at the lowest score of its list, calls it never took; started at
// zero in the first hour it starts level with the shift.
func TestRuleStart(t *testing.T) {
	min := time.Minute
	s, a, c := "s", "a", "c"
	table := steps(
		call(1, 0, min, []string{s}, s),
		call(2, 2*min, min, []string{s}, s),
		// a first ranked beside s (2 calls): ties at 2 today, wins on lru.
		call(3, 4*min, min, []string{a, s}, a),
	)
	for _, tc := range []struct {
		start RuleStart
		a     float64 // a's score after its first call
	}{
		{StartWhenChosen, 3},
		{StartWhenRanked, 3},
		{StartZeroFirstHour, 1},
	} {
		r := NewRule(RuleOptions{Tie: RuleFewest, Start: tc.start})
		runSteps(t, r, table)
		if got := r.score(a, 5*min); !near(got, tc.a) {
			t.Errorf("%v: a's score after one call %v, want %v", tc.start, got, tc.a)
		}
		// After the first hour a newcomer starts at the lowest of its
		// list, whatever the start rule.
		runSteps(t, r, call(4, 2*time.Hour, min, []string{c, s}, c))
		if got, want := r.score(c, 2*time.Hour+2*min), r.score(s, 0)+1; !near(got, want) {
			t.Errorf("%v: newcomer's score %v, want %v", tc.start, got, want)
		}
	}
	// When chosen vs when ranked: a member ranked but not chosen keeps
	// floating at the lowest of its list until chosen today; ranked, it is
	// scored at once and stays there.
	r := NewRule(RuleOptions{Tie: RuleFewest, Start: StartWhenRanked})
	runSteps(t, r, steps(call(1, 0, min, []string{s}, s), call(2, 2*min, min, []string{s, a}, a)))
	if got := r.score(a, 3*min); got != 2 {
		t.Errorf("ranked at 1: a's score %v, want 2", got)
	}
}

// awayThenBack are the steps of a shift in which a answers a call, goes on
// do-not-disturb at 2 minutes and comes back at 9, while b answers three
// calls and c two.
func awayThenBack() []step {
	min := time.Minute
	return steps(
		call(1, 0, min, []string{"a", "b", "c"}, "a"),
		[]step{{at: 2 * min, dest: "a", out: true}},
		call(2, 3*min, min, []string{"b", "c"}, "b"),
		call(3, 5*min, min, []string{"b", "c"}, "c"),
		call(4, 7*min, min, []string{"b", "c"}, "b"),
		call(5, 8*min, min, []string{"b", "c"}, "c"),
		call(6, 8*min+30*time.Second, min, []string{"b", "c"}, "b"),
		[]step{{at: 9 * min, dest: "a", back: true}},
	)
}

// A member back from do-not-disturb (marked away as the ring helper
// does) is back at its next answered leg, and raised at its next ranking
// to the lowest (Lift) or mean (LiftMean) score of the members it is
// ranked with, so it takes its share of ties, not all.
func TestRuleLift(t *testing.T) {
	min := time.Minute
	table := steps(
		awayThenBack(),
		call(7, 10*min, min, []string{"a", "b", "c"}, "a"), // back: its answer shows it
		// The next ranking lifts it: b 3, c 2.
		[]step{{at: 12 * min, call: 8, list: []string{"a", "b", "c"}, want: "c"}},
	)
	for _, tc := range []struct {
		o    RuleOptions
		want float64
	}{
		{RuleOptions{Tie: RuleFewest, Start: StartZeroFirstHour}, 2},
		{RuleOptions{Tie: RuleFewest, Start: StartZeroFirstHour, Lift: true}, 2},
		{RuleOptions{Tie: RuleFewest, Start: StartZeroFirstHour, LiftMean: true}, 2.5},
	} {
		r := NewRule(tc.o)
		runSteps(t, r, table)
		if got := r.score("a", 12*min); !near(got, tc.want) {
			t.Errorf("%s: a's score on return %v, want %v", tc.o, got, tc.want)
		}
	}
}

// An offer that rings out unanswered counts against its member (weight),
// or puts it behind its equals for a while (back-off).
func TestRuleNoAnswer(t *testing.T) {
	min := time.Minute
	ringOut := []step{
		{at: 0, call: 1, list: []string{"a", "b"}, want: "a"},
		{at: 20 * time.Second, call: 1, dest: "a", o: NoAnswer},
		{at: 20 * time.Second, call: 1, list: []string{"b"}, want: "b"},
		{at: 21 * time.Second, call: 1, dest: "b", o: Answered},
		{at: min, call: 1, dest: "b", hangup: true},
	}
	r := NewRule(RuleOptions{Tie: RuleFewest, Start: StartZeroFirstHour, NoAnswerWeight: 1})
	runSteps(t, r, ringOut)
	if a, b := r.score("a", min), r.score("b", min); !near(a, 1) || !near(b, 1) {
		t.Errorf("weight: scores a %v, b %v; want 1 and 1", a, b)
	}
	// A caller hanging up is not the member's fault.
	runSteps(t, r, []step{
		{at: 2 * min, call: 2, list: []string{"a", "b"}, want: "a"},
		{at: 2*min + 5*time.Second, call: 2, dest: "a", o: Cancelled},
	})
	if a := r.score("a", 3*min); !near(a, 1) {
		t.Errorf("cancelled offer counted: a's score %v, want 1", a)
	}

	r = NewRule(RuleOptions{Tie: RuleFewest, Start: StartZeroFirstHour, Backoff: 5 * min})
	runSteps(t, r, steps(ringOut,
		// a has 0 calls, b 1, but a is in back-off until 5m20s.
		call(2, 2*min, 30*time.Second, []string{"a", "b"}, "b"),
		call(3, 6*min, 30*time.Second, []string{"a", "b"}, "a"),
	))

	// Doubling: a second unanswered offer in a row backs off twice as
	// long; an answer starts again from one.
	r = NewRule(RuleOptions{Tie: RuleFewest, Start: StartZeroFirstHour, Backoff: min, BackoffDoubles: true})
	miss := func(id int, at time.Duration) []step {
		return []step{
			{at: at, call: id, list: []string{"a", "b"}, want: "a"},
			{at: at + 20*time.Second, call: id, dest: "a", o: NoAnswer},
		}
	}
	runSteps(t, r, steps(
		// b answers three calls, so a, with none, wins every tie it is
		// not backed off from.
		call(1, 0, 10*time.Second, []string{"b"}, "b"),
		call(2, min, 10*time.Second, []string{"b"}, "b"),
		call(3, 2*min, 10*time.Second, []string{"b"}, "b"),
		miss(4, 3*min), // back-off until 4m20s
		miss(5, 5*min), // the second in a row: until 7m20s
		call(6, 7*min, 10*time.Second, []string{"a", "b"}, "b"),
		call(7, 7*min+30*time.Second, 10*time.Second, []string{"a", "b"}, "a"),
		miss(8, 12*min), // after an answer, one minute again
		call(9, 13*min+21*time.Second, 10*time.Second, []string{"a", "b"}, "a"),
	))
}

// Talk ties count talk time, not calls: one long call weighs more than two
// short ones.
func TestRuleTalk(t *testing.T) {
	min := time.Minute
	r := NewRule(RuleOptions{Tie: RuleTalk, Start: StartZeroFirstHour})
	runSteps(t, r, steps(
		call(1, 0, 10*min, []string{"a", "b"}, "a"),
		call(2, time.Second, min, []string{"a", "b"}, "b"),
		call(3, 2*min, min, []string{"a", "b"}, "b"),
		// a talked 10m (from its hold's start), b 2 minutes: b again.
		call(4, 11*min, min, []string{"a", "b"}, "b"),
	))
	if a := r.score("a", 11*min); !near(a, (10 * min).Seconds()) {
		t.Errorf("a's talk score %v", a)
	}
}

// Scores fade by half every half-life.
func TestRuleFading(t *testing.T) {
	r := NewRule(RuleOptions{Tie: RuleFewest, HalfLife: time.Hour, Start: StartZeroFirstHour})
	runSteps(t, r, call(1, 0, time.Minute, []string{"a"}, "a"))
	if got := r.score("a", time.Second+2*time.Hour); !near(got, 0.25) {
		t.Errorf("score two half-lives on %v, want 0.25", got)
	}
}

// near reports whether scores a and b agree but for rounding.
func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*max(1, math.Abs(b)) }

// LiftAway lifts a member marked away as soon as it is ranked again, so
// its first call back goes by the others' scores, not by its own from
// before the absence: a (1 call) back among b (3) and c (2) is lifted to
// 2.5 and c takes the call; without it a does.
func TestRuleLiftAway(t *testing.T) {
	min := time.Minute
	before := awayThenBack()
	for _, tc := range []struct {
		liftAway bool
		want     string
	}{{false, "a"}, {true, "c"}} {
		o := RuleOptions{Tie: RuleFewest, Start: StartZeroFirstHour, LiftMean: true, LiftAway: tc.liftAway}
		r := NewRule(o)
		runSteps(t, r, steps(before, []step{{at: 10 * min, call: 7, list: []string{"a", "b", "c"}, want: tc.want}}))
		if got := r.score("a", 10*min); tc.liftAway && !near(got, 2.5) {
			t.Errorf("%s: a's score when ranked back %v, want 2.5", o, got)
		}
	}
}

// OppWeight counts the rankings a member was idle in beside its score:
// among equal scores, the member idle in more rankings yields the tie,
// which lru would give it.
func TestRuleOpportunities(t *testing.T) {
	min := time.Minute
	table := steps(
		call(1, 0, min, []string{"b", "c"}, "b"),
		call(2, 2*min, min, []string{"b", "c"}, "c"),
		call(3, 4*min, min, []string{"a", "c"}, "a"),
		// One call each, b's the oldest; b was idle in two rankings
		// and a in one, and both are in the next.
	)
	for _, tc := range []struct {
		w    float64
		want string
	}{{0, "b"}, {0.1, "a"}} {
		o := RuleOptions{Tie: RuleFewest, Start: StartZeroFirstHour, OppWeight: tc.w, OppHalfLife: time.Hour}
		runSteps(t, NewRule(o), steps(table, []step{{at: 6 * min, call: 4, list: []string{"a", "b"}, want: tc.want}}))
	}
}
