package sim

import (
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/ringlb/ringlb/internal/redistest"
	"github.com/ringlb/ringlb/lb"
)

// offer is one Next call seen by a lister: when, what it was offered and
// what it chose.
type offer struct {
	at     time.Duration
	listed []string
	chosen string
}

// lister wraps a policy and logs every Next call. It passes presence on
// only when the policy has it, as the simulation needs to know.
type lister struct {
	Policy
	offers []offer
}

func (l *lister) Next(now time.Duration, call, node int, remaining []string) (string, error) {
	d, err := l.Policy.Next(now, call, node, remaining)
	l.offers = append(l.offers, offer{now, slices.Clone(remaining), d})
	return d, err
}

// LeftOut passes outReporter on, when the policy has it.
func (l *lister) LeftOut(now time.Duration, call, node int, agent string) bool {
	o, ok := l.Policy.(outReporter)
	return ok && o.LeftOut(now, call, node, agent)
}

type presentLister struct {
	*lister
	Presence
}

func listerOf(p Policy) Policy {
	l := &lister{Policy: p}
	if pr, ok := p.(Presence); ok {
		return presentLister{l, pr}
	}
	return l
}

func offersOf(p Policy) []offer {
	if pl, ok := p.(presentLister); ok {
		return pl.offers
	}
	return p.(*lister).offers
}

// A logged-out agent is never offered a call. On do-not-disturb it is not
// even listed; drained, it is listed to a policy that is told (ringlb,
// which leaves it out) and not listed to one that is not.
func TestLogoutSignals(t *testing.T) {
	const from, to = 30 * time.Minute, 90 * time.Minute
	for _, tc := range []struct {
		via    Signal
		policy func(t *testing.T) Policy
		listed bool // b listed while away
	}{
		{DND, func(t *testing.T) Policy { p, _ := mustMemory(t, lb.TieLRU); return p }, false},
		{Drained, func(t *testing.T) Policy { p, _ := mustMemory(t, lb.TieLRU); return p }, true},
		{Drained, func(*testing.T) Policy { return Sequential{} }, false},
		{Drained, func(*testing.T) Policy { return NewRule(RuleOptions{Tie: RuleLRU}) }, true},
	} {
		calls := apart(150)
		for i := range calls {
			calls[i].refuse = "a" // so that list order reaches b too
		}
		cfg, tr := handTrace(calls...)
		cfg.Logouts = []Logout{{Agent: "b", From: from, To: to, Via: tc.via}}
		p := listerOf(tc.policy(t))
		if _, err := Run(cfg, tr, "test", p); err != nil {
			t.Fatal(err)
		}
		sawListed, sawAfter := false, false
		for _, o := range offersOf(p) {
			away := o.at >= from && o.at < to
			if away && o.chosen == "b" {
				t.Fatalf("%v: b offered a call at %v while away", tc.via, o.at)
			}
			if away && slices.Contains(o.listed, "b") {
				sawListed = true
			}
			if o.at >= to && o.chosen == "b" {
				sawAfter = true
			}
		}
		if sawListed != tc.listed || !sawAfter {
			t.Errorf("%v, %T: b listed while away %v (want %v), offered after return %v", tc.via, tc.policy(t), sawListed, tc.listed, sawAfter)
		}
	}
}

// Occupancy is talk time over logged-in time within the shift; first
// offers count the calls whose first leg rang the agent.
func TestOccupancyAndFirstOffers(t *testing.T) {
	// a does not answer call 0, b takes it and talks 10 minutes; a takes
	// call 1 and talks 30 minutes, of which the last 15 fall after the
	// shift.
	cfg, tr := handTrace(
		handCall{at: 0, talk: 10 * time.Minute, refuse: "a"},
		handCall{at: 44*time.Minute + 59*time.Second, talk: 30 * time.Minute},
	)
	tr.Span = time.Hour
	_, res := run(t, cfg, tr, Sequential{})
	got := map[string][3]float64{}
	for _, a := range res.Agents {
		got[a.Agent] = [3]float64{float64(a.FirstOffers), a.Occupancy(), a.LoggedIn.Hours()}
	}
	want := map[string][3]float64{"a": {2, 0.25, 1}, "b": {0, 1.0 / 6, 1}, "c": {0, 0, 1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("first offers, occupancy, logged-in hours = %v, want %v", got, want)
	}
	if q := res.WaitQuantile(0.5); q != time.Second {
		t.Errorf("median time to answer %v, want 1s", q)
	}
	if q := res.WaitQuantile(1); q != 21*time.Second {
		t.Errorf("longest time to answer %v, want 21s (20 s on a, then 1 s on b)", q)
	}
}

// Occupancy's spread over every agent counts the agent that misses calls;
// over the answering agents it does not.
func TestAnsweringOccupancySpread(t *testing.T) {
	r := Result{Agents: []AgentResult{
		{Agent: "a", Talk: 30 * time.Minute, LoggedIn: time.Hour, Equal: true},
		{Agent: "b", Talk: 33 * time.Minute, LoggedIn: time.Hour},
		{Agent: "c", Talk: 15 * time.Minute, LoggedIn: time.Hour, Misses: true},
		{Agent: "d", Talk: 0, LoggedIn: 0, Equal: true},
	}}
	if got := r.OccupancySpread(); math.Abs(got-2.2) > 1e-9 {
		t.Errorf("every agent: %v, want 2.2", got)
	}
	if got := r.AnsweringOccupancySpread(); math.Abs(got-1.1) > 1e-9 {
		t.Errorf("answering agents: %v, want 1.1", got)
	}
}

// An agent away part of the shift is judged per logged-in hour, and its
// first hour back against the others' mean.
func TestPerHourSpreadAndReturnShare(t *testing.T) {
	cfg := Config{Groups: []Group{{Name: "g", Members: []string{"a", "b", "c"}, Weight: 1}},
		Logouts: []Logout{{Agent: "a", From: 2 * time.Hour, To: 4 * time.Hour}}}
	at := func(n int, from time.Duration) []time.Duration {
		var ts []time.Duration
		for i := range n {
			ts = append(ts, from+time.Duration(i)*time.Minute)
		}
		return ts
	}
	res := Result{Span: 8 * time.Hour, Agents: []AgentResult{
		// a: 6 h logged in, 12 calls of which 4 in its first hour back.
		{Agent: "a", Answered: 12, LoggedIn: 6 * time.Hour, Equal: true, AnsweredAt: append(at(8, 0), at(4, 4*time.Hour)...)},
		{Agent: "b", Answered: 16, LoggedIn: 8 * time.Hour, Equal: true, AnsweredAt: at(16, 3*time.Hour+30*time.Minute)},
		{Agent: "c", Answered: 20, LoggedIn: 8 * time.Hour, Equal: true, AnsweredAt: at(20, 4*time.Hour+50*time.Minute)},
	}}
	if got := res.Spread(); got != 2.5/2 {
		t.Errorf("spread per logged-in hour %v, want 1.25 (2.5 / 2)", got)
	}
	if got := res.CountSpread(); got != 20.0/12 {
		t.Errorf("count spread %v, want %v", got, 20.0/12)
	}
	// First hour back, [4 h, 5 h): a 4; b none (3:30 to 3:45); c 10 (4:50
	// to 4:59). The others' mean is 5.
	rr := returns(cfg, &res)
	want := []ReturnResult{{Agent: "a", Back: 4 * time.Hour, FirstHour: 4, Others: 5}}
	if !reflect.DeepEqual(rr, want) {
		t.Errorf("returns %+v, want %+v", rr, want)
	}
	if rr[0].Share() != 0.8 {
		t.Errorf("share %v, want 0.8", rr[0].Share())
	}
}

// A trait changes its agent's draws only: the other agents see the same
// callers and answer alike.
func TestTraitsKeepTheTrace(t *testing.T) {
	s, _ := ScenarioByName("two-groups")
	cfg := DefaultConfig()
	s.Apply(&cfg)
	plain, err := NewTrace(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Traits = []Trait{{Agent: "1001", NoAnswer: 1}, {Agent: "1006", TalkScale: 2}}
	odd, err := NewTrace(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(plain.Calls) != len(odd.Calls) || len(plain.Calls) < 500 {
		t.Fatalf("%d and %d calls", len(plain.Calls), len(odd.Calls))
	}
	for i := range plain.Calls {
		p, o := plain.Calls[i], odd.Calls[i]
		if o.Answers[0] {
			t.Fatalf("call %d: 1001 answers, but it never does", i)
		}
		p.Answers, o.Answers = p.Answers[1:], o.Answers[1:]
		if !reflect.DeepEqual(p, o) {
			t.Fatalf("call %d differs beyond 1001's answer: %+v vs %+v", i, p, o)
		}
	}
	// 1006 talks twice as long on the calls it takes.
	res, err := Run(cfg, odd, "list", NewRule(RuleOptions{Tie: RuleList}))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range res.Agents {
		if a.Agent == "1001" && (a.Answered != 0 || a.Equal) {
			t.Errorf("1001: answered %d, equal %v", a.Answered, a.Equal)
		}
		if a.Agent == "1003" && !a.Equal {
			t.Error("1003 has no trait but is not equal")
		}
	}
}

// The shift traces run for their shift; their random layout is drawn from
// the seed and puts every agent in a group.
func TestShiftTraces(t *testing.T) {
	for _, s := range Shifts() {
		cfg := DefaultConfig()
		s.Apply(&cfg)
		tr, err := NewTrace(cfg)
		if err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		last := tr.Calls[len(tr.Calls)-1].Arrival
		if cfg.Duration < ShiftLength || tr.Span != cfg.Duration || last >= tr.Span || last < tr.Span-time.Hour {
			t.Errorf("%s: span %v, shift %v, last arrival %v", s.Name, tr.Span, cfg.Duration, last)
		}
	}
	s, _ := ScenarioByName("many-groups")
	layouts := map[string]bool{}
	for seed := uint64(1); seed <= 5; seed++ {
		a, b := DefaultConfig(), DefaultConfig()
		a.Seed, b.Seed = seed, seed
		s.Apply(&a)
		s.Apply(&b)
		if !reflect.DeepEqual(a.Groups, b.Groups) {
			t.Fatal("many-groups layout is not a function of the seed")
		}
		if len(a.Groups) != 10 || len(a.Agents()) != 20 {
			t.Fatalf("seed %d: %d groups over %d agents", seed, len(a.Groups), len(a.Agents()))
		}
		for _, g := range a.Groups {
			if len(g.Members) != 5 || !slices.IsSorted(g.Members) {
				t.Fatalf("seed %d: group %v", seed, g)
			}
		}
		if err := a.Validate(); err != nil {
			t.Fatal(err)
		}
		layouts[a.Describe()[len("seed 1;"):]] = true
	}
	if len(layouts) < 5 {
		t.Errorf("%d layouts over 5 seeds", len(layouts))
	}
}

func TestScaleShift(t *testing.T) {
	s, _ := ScenarioByName("logout-dnd")
	cfg := DefaultConfig()
	s.Apply(&cfg)
	cfg.ScaleShift(0.25)
	if cfg.Duration != 2*time.Hour || cfg.Logouts[0].From != 30*time.Minute || cfg.Logouts[0].To != time.Hour {
		t.Errorf("scaled: shift %v, logout %v-%v", cfg.Duration, cfg.Logouts[0].From, cfg.Logouts[0].To)
	}
	again := DefaultConfig()
	s.Apply(&again)
	if again.Logouts[0].From != 2*time.Hour {
		t.Error("scaling changed the scenario's own logouts")
	}
}

func TestMeets(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		spread, bound float64
		want          bool
	}{
		{1.15, nan, true},
		{1.154, nan, true}, // shown as 1.15
		{1.16, nan, false},
		{1.16, 1.05, false},
		{1.16, 1.11, true},
		{1.16, 1.10, false}, // a bound of 1.10 is not above 1.10
		{1.21, 1.16, true},
		{1.22, 1.16, false},
		{math.Inf(1), 1.2, false},
	} {
		if got := Meets(tc.spread, tc.bound); got != tc.want {
			t.Errorf("Meets(%v, %v) = %v, want %v", tc.spread, tc.bound, got, tc.want)
		}
	}
}

// The Redis backend, three nodes on a real redis-server, chooses as one
// memory balancer does on a shift trace.
func TestRedisMatchesMemoryOnAShift(t *testing.T) {
	srv := redistest.Start(t)
	runs, err := RunSuite(shiftsNamed(t, "two-groups"), true, SuiteOptions{
		Base: DefaultConfig(), Seeds: []uint64{1, 2}, ShiftScale: 0.25,
		RedisURL: srv.URL(), RedisPrefix: "ringlb-sim-test:", RedisTraces: []string{"two-groups"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range runs[0].Seeds {
		r, ok1 := s.Result(RedisName(3))
		m, ok2 := s.Result(NoFading)
		if !ok1 || !ok2 {
			t.Fatalf("seed %d: Redis ran %v, memory without fading %v; notes %v", s.Config.Seed, ok1, ok2, s.Notes)
		}
		if !sameChoices(r, m) || r.Answered < 50 {
			t.Errorf("seed %d: Redis %+v\nmemory %+v", s.Config.Seed, r.Agents, m.Agents)
		}
	}
}

func shiftsNamed(t *testing.T, names ...string) []Scenario {
	t.Helper()
	var out []Scenario
	for _, n := range names {
		s, ok := ScenarioByName(n)
		if !ok {
			t.Fatalf("no trace %s", n)
		}
		out = append(out, s)
	}
	return out
}

// A suite gives the same results whatever the number of workers.
func TestSuiteIsDeterministic(t *testing.T) {
	o := SuiteOptions{Base: DefaultConfig(), Seeds: []uint64{3, 4, 5}, ShiftScale: 0.125, Bound: true, BoundRuns: 50,
		Extra: func(Config) []Spec { return []Spec{RuleSpec("rule", RuleOptions{Tie: RuleTalk})} }}
	scs := shiftsNamed(t, "logout-drain", "mixed")
	o.Workers = 1
	a, err := RunSuite(scs, true, o)
	if err != nil {
		t.Fatal(err)
	}
	o.Workers = 3
	b, err := RunSuite(scs, true, o)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if !reflect.DeepEqual(a[i].Seeds, b[i].Seeds) {
			t.Fatalf("%s: one worker and three gave different results", a[i].Scenario.Name)
		}
	}
	if a[0].Seeds[2].Config.Seed != 5 || a[0].Seeds[0].Bound == nil || len(a[0].Seeds[0].Results[0].Returns) != 1 {
		t.Fatalf("seed order, bound or returns missing: %+v", a[0].Seeds[0])
	}
	if !slices.Contains(a[1].Policies(), "rule") {
		t.Errorf("extra policy missing: %v", a[1].Policies())
	}
	// Only the trace whose talk times differ searches for even occupancy.
	if a[0].Seeds[0].OccupancyBound != nil || a[1].Seeds[0].OccupancyBound == nil {
		t.Errorf("occupancy bound on logout-drain %v, on mixed %v; want only on mixed",
			a[0].Seeds[0].OccupancyBound != nil, a[1].Seeds[0].OccupancyBound != nil)
	}
}

// GroupSpec opens one balancer per group, as the ring helper does: with one
// group it is MemorySpec, call for call; with two groups sharing agents
// each balancer's scores count only its own group's calls, so the shared
// agents take more calls than with one balancer for both.
func TestOneBalancerPerGroup(t *testing.T) {
	runSpec := func(cfg Config, tr *Trace, s Spec) Result {
		t.Helper()
		p, closeFn, err := s.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer closeFn()
		res, err := Run(cfg, tr, s.Name, p)
		if err != nil {
			t.Fatal(err)
		}
		res.Policy = ""
		return res
	}
	one := DefaultConfig()
	one.Calls, one.Wrapup = 400, 30*time.Second
	one.Groups = one.Groups[:1]
	oneTr, err := NewTrace(one)
	if err != nil {
		t.Fatal(err)
	}
	opts := lb.Options{DefaultWrapup: one.Wrapup}
	if a, b := runSpec(one, oneTr, MemorySpec("a", opts)), runSpec(one, oneTr, GroupSpec("b", one.Groups, opts)); !reflect.DeepEqual(a, b) {
		t.Errorf("one group: one balancer per group chose otherwise than MemorySpec")
	}

	cfg, tr := traceOf(t, "two-groups", 1, 0, 3*time.Hour)
	shared := runSpec(cfg, tr, MemorySpec("ringlb", lb.Options{}))
	per := runSpec(cfg, tr, GroupSpec("per-group", cfg.Groups, lb.Options{}))
	if per.BusyOffers != 0 {
		t.Errorf("busy offers %d with one balancer per group, want 0 (loads are shared)", per.BusyOffers)
	}
	count := func(r Result, agents ...string) (n int) {
		for _, a := range r.Agents {
			if slices.Contains(agents, a.Agent) {
				n += a.Answered
			}
		}
		return n
	}
	// 1003 and 1004 are in both groups, 1001 and 1006 in one each.
	ratio := func(r Result) float64 {
		return float64(count(r, "1003", "1004")) / float64(count(r, "1001", "1006"))
	}
	if p, s := ratio(per), ratio(shared); p < 1.5 || s > 1.25 {
		t.Errorf("shared agents' calls over single-group agents': %.2f with one balancer per group (want >= 1.5), %.2f with one for both (want <= 1.25)", p, s)
	}
}

// An agent who never answers gets at most its fair share of first offers
// with ringlb's defaults, because after max_no_answer misses in a row it is
// left out while its back-off runs; with max_no_answer never it is still
// tried whenever it is the only idle member, more than its share. The
// legs that passed over it to a busy agent are counted apart from busy
// offers.
func TestNeverAnswersGetsAtMostItsShare(t *testing.T) {
	cfg, tr := traceOf(t, "never-answers", 1, 0, 4*time.Hour)
	fair := fairFirstOffers(&cfg, "1001")
	first := func(o lb.Options) (int, Result) {
		p, closeFn, err := MemorySpec("m", o).Open()
		if err != nil {
			t.Fatal(err)
		}
		defer closeFn()
		res, err := Run(cfg, tr, "ringlb", p)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range res.Agents {
			if a.Agent == "1001" {
				return a.FirstOffers, res
			}
		}
		t.Fatal("no agent 1001")
		return 0, res
	}
	def, res := first(lb.Options{})
	if float64(def) > fair || res.BusyOffers != 0 || res.PassedOver == 0 {
		t.Errorf("defaults: 1001 had %d first offers (fair share %.0f), %d busy offers, %d passing over it; want at most its share, 0, some",
			def, fair, res.BusyOffers, res.PassedOver)
	}
	never, res := first(lb.Options{MaxNoAnswer: -1})
	if float64(never) <= fair || res.PassedOver != 0 {
		t.Errorf("max_no_answer never: 1001 had %d first offers (fair share %.0f), %d passing over it; want more than its share, 0",
			never, fair, res.PassedOver)
	}
}
