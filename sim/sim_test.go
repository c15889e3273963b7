package sim

import (
	"context"
	"encoding/xml"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/ringlb/ringlb/lb"
)

// smallConfig is the default model cut to a size that runs in milliseconds.
func smallConfig(seed uint64) Config {
	cfg := DefaultConfig()
	cfg.Seed = seed
	cfg.Calls = 400
	return cfg
}

func TestSameSeedSameResults(t *testing.T) {
	cfg := smallConfig(7)
	a, notesA, err := RunAll(cfg, StandardSpecs(cfg, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	b, notesB, err := RunAll(cfg, StandardSpecs(cfg, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(notesA, notesB) {
		t.Fatalf("same seed, different results:\n%+v\n%+v", a, b)
	}
	if len(a) != 6 {
		t.Fatalf("got %d results, want 6 (no Redis)", len(a))
	}
	var ta, tb strings.Builder
	if err := WriteTable(&ta, cfg, a, notesA); err != nil {
		t.Fatal(err)
	}
	if err := WriteTable(&tb, cfg, b, notesB); err != nil {
		t.Fatal(err)
	}
	if ta.String() != tb.String() {
		t.Fatalf("same seed, different tables:\n%s\n%s", ta.String(), tb.String())
	}

	other := smallConfig(8)
	c, _, err := RunAll(other, StandardSpecs(other, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(a, c) {
		t.Fatal("seeds 7 and 8 gave identical results; is the seed used?")
	}
}

func TestTraceIsTheSameForEveryPolicy(t *testing.T) {
	cfg := smallConfig(3)
	tr1, err := NewTrace(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr2, _ := NewTrace(cfg)
	if !reflect.DeepEqual(tr1, tr2) {
		t.Fatal("NewTrace is not deterministic")
	}
	// Every policy sees every call end exactly one way.
	results, _, err := RunAll(cfg, StandardSpecs(cfg, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Answered+r.Abandoned+r.Unanswered != cfg.Calls {
			t.Errorf("%s: %d answered + %d abandoned + %d unanswered != %d calls",
				r.Policy, r.Answered, r.Abandoned, r.Unanswered, cfg.Calls)
		}
		sum := 0
		for _, a := range r.Agents {
			sum += a.Answered
		}
		if sum != r.Answered {
			t.Errorf("%s: agents answered %d, calls answered %d", r.Policy, sum, r.Answered)
		}
	}
}

// leg is one offer seen by a recorder.
type leg struct {
	call int
	dest string
	o    Outcome
}

// recorder wraps a policy and logs how every leg ended.
type recorder struct {
	Policy
	legs []leg
}

func (r *recorder) LegEnded(now time.Duration, call, node int, dest string, o Outcome) error {
	r.legs = append(r.legs, leg{call, dest, o})
	return r.Policy.LegEnded(now, call, node, dest, o)
}

// LeftOut passes outReporter on, when the policy has it.
func (r *recorder) LeftOut(now time.Duration, call, node int, agent string) bool {
	o, ok := r.Policy.(outReporter)
	return ok && o.LeftOut(now, call, node, agent)
}

// answeredBy lists the agent who answered each answered call, in order.
func (r *recorder) answeredBy() []string {
	var out []string
	for _, l := range r.legs {
		if l.o == Answered {
			out = append(out, l.dest)
		}
	}
	return out
}

// offers lists the destinations offered to call, in order.
func (r *recorder) offers(call int) []string {
	var out []string
	for _, l := range r.legs {
		if l.call == call {
			out = append(out, l.dest)
		}
	}
	return out
}

// handCall describes one call of a hand-made trace.
type handCall struct {
	at, talk, patience time.Duration
	node               int
	refuse             string // members who do not answer this call
	answerAfter        time.Duration
}

// handTrace builds a one-group trace over members a, b, c (list order). By
// default every agent answers after 1 s.
func handTrace(calls ...handCall) (Config, *Trace) {
	cfg := DefaultConfig()
	cfg.Groups = []Group{{Name: "g", Members: []string{"a", "b", "c"}, Weight: 1}}
	cfg.Calls = len(calls)
	tr := &Trace{Agents: cfg.Agents()}
	for _, h := range calls {
		c := Call{Arrival: h.at, Talk: h.talk, Patience: h.patience, Node: h.node}
		for _, a := range tr.Agents {
			c.Answers = append(c.Answers, !strings.Contains(h.refuse, a))
			after := h.answerAfter
			if after == 0 {
				after = time.Second
			}
			c.AnswerAfter = append(c.AnswerAfter, after)
		}
		tr.Calls = append(tr.Calls, c)
	}
	return cfg, tr
}

// apart returns n calls one minute apart, each 10 s long: they never
// overlap.
func apart(n int) []handCall {
	var cs []handCall
	for i := range n {
		cs = append(cs, handCall{at: time.Duration(i) * time.Minute, talk: 10 * time.Second})
	}
	return cs
}

func mustMemory(t *testing.T, tie lb.TiePolicy) (*LB, *lb.Memory) {
	t.Helper()
	m, err := lb.NewMemory("t", lb.Options{Tie: tie, MaxHoldAge: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return &LB{Nodes: []lb.Balancer{m}}, m
}

func run(t *testing.T, cfg Config, tr *Trace, p Policy) (*recorder, Result) {
	t.Helper()
	rec := &recorder{Policy: p}
	res, err := Run(cfg, tr, "test", rec)
	if err != nil {
		t.Fatal(err)
	}
	return rec, res
}

func wantStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func TestRinglbLRURotatesIdleAgents(t *testing.T) {
	cfg, tr := handTrace(apart(6)...)
	p, _ := mustMemory(t, lb.TieLRU)
	rec, res := run(t, cfg, tr, p)
	wantStrings(t, "answered by", rec.answeredBy(), []string{"a", "b", "c", "a", "b", "c"})
	if res.MaxMin() != 1 || res.CV() != 0 {
		t.Errorf("max/min %v, CV %v; want 1 and 0", res.MaxMin(), res.CV())
	}
}

func TestListTiesGiveEveryShortCallToTheFirstMember(t *testing.T) {
	cfg, tr := handTrace(apart(4)...)
	for name, p := range map[string]Policy{
		"ringlb-list": func() Policy { p, _ := mustMemory(t, lb.TieList); return p }(),
		"genesis":     NewGenesis(0),
		"sequential":  Sequential{},
	} {
		rec, _ := run(t, cfg, tr, p)
		wantStrings(t, name+" answered by", rec.answeredBy(), []string{"a", "a", "a", "a"})
	}
}

// Call 0 is answered by a and lasts 10 minutes; call 1 comes a minute later.
var overlapping = []handCall{
	{at: 0, talk: 10 * time.Minute},
	{at: time.Minute, talk: time.Minute},
}

func TestGenesisDoesNotCountAnsweredCalls(t *testing.T) {
	cfg, tr := handTrace(overlapping...)
	g := NewGenesis(0)
	rec, res := run(t, cfg, tr, g)
	// a is on call 0 but counts zero, so call 1 is offered to a first.
	wantStrings(t, "call 1 offers", rec.offers(1), []string{"a", "b"})
	if rec.legs[1].o != Busy {
		t.Errorf("call 1's first leg ended %v, want Busy", rec.legs[1].o)
	}
	if res.BusyOffers != 1 || res.MeanAttempts() != 1.5 {
		t.Errorf("busy offers %d, attempts per answered call %v; want 1 and 1.5", res.BusyOffers, res.MeanAttempts())
	}
	if n := g.Count(30*time.Second, "a"); n != 0 {
		t.Errorf("genesis count of a during its call = %d, want 0", n)
	}
}

func TestRinglbCountsAnsweredCalls(t *testing.T) {
	for _, tie := range []lb.TiePolicy{lb.TieLRU, lb.TieList} {
		cfg, tr := handTrace(overlapping...)
		p, m := mustMemory(t, tie)
		rec, res := run(t, cfg, tr, p)
		wantStrings(t, tie.String()+" call 1 offers", rec.offers(1), []string{"b"})
		if res.BusyOffers != 0 {
			t.Errorf("%s: busy offers %d, want 0", tie, res.BusyOffers)
		}
		// Every hold was released by the end of the run.
		load, err := m.Load(context.Background(), []string{"a", "b", "c"})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(load, []int{0, 0, 0}) {
			t.Errorf("%s: load after the run %v, want all zero", tie, load)
		}
	}
}

func TestGenesisCountsRingingLegs(t *testing.T) {
	// a does not answer call 0 and rings 20 s; call 1 arrives meanwhile.
	cfg, tr := handTrace(
		handCall{at: 0, talk: time.Minute, refuse: "a"},
		handCall{at: 5 * time.Second, talk: time.Minute},
	)
	rec, _ := run(t, cfg, tr, NewGenesis(0))
	// At 5 s a rings (count 1), so call 1 goes to b, the first minimum.
	wantStrings(t, "call 1 offers", rec.offers(1), []string{"b"})
	// At 20 s a gives up; b is on call 1 but counts zero again, so call 0
	// tries b (busy) before c.
	wantStrings(t, "call 0 offers", rec.offers(0), []string{"a", "b", "c"})
}

func TestGenesisChoiceAndIncrementAreNotAtomic(t *testing.T) {
	calls := []handCall{
		{at: 0, talk: time.Minute},
		{at: 500 * time.Microsecond, talk: time.Minute},
	}
	cfg, tr := handTrace(calls...)
	// With a 1 ms round trip, call 1 chooses before call 0's INCR lands.
	rec, res := run(t, cfg, tr, NewGenesis(time.Millisecond))
	wantStrings(t, "call 1 offers", rec.offers(1), []string{"a", "b"})
	if res.PeakLegs() != 2 {
		t.Errorf("peak legs %d, want 2 (a rang twice)", res.PeakLegs())
	}
	// Made one step, the same trace spreads at once.
	rec, _ = run(t, cfg, tr, NewGenesis(0))
	wantStrings(t, "call 1 offers, no gap", rec.offers(1), []string{"b"})
	// ringlb's Next chooses and holds in one step.
	p, _ := mustMemory(t, lb.TieLRU)
	rec, _ = run(t, cfg, tr, p)
	wantStrings(t, "ringlb call 1 offers", rec.offers(1), []string{"b"})
}

func TestSequentialIgnoresLoad(t *testing.T) {
	cfg, tr := handTrace(overlapping...)
	rec, res := run(t, cfg, tr, Sequential{})
	wantStrings(t, "call 1 offers", rec.offers(1), []string{"a", "b"})
	if res.BusyOffers != 1 {
		t.Errorf("busy offers %d, want 1", res.BusyOffers)
	}
}

func TestRandomPicksUntriedMembersOnly(t *testing.T) {
	// Nobody answers, so every call tries all three members.
	var calls []handCall
	for i := range 30 {
		calls = append(calls, handCall{at: time.Duration(i) * time.Hour, talk: time.Minute, refuse: "abc"})
	}
	cfg, tr := handTrace(calls...)
	rec, res := run(t, cfg, tr, NewRandom(1))
	first := map[string]int{}
	for i := range calls {
		o := rec.offers(i)
		seen := map[string]bool{}
		for _, d := range o {
			seen[d] = true
		}
		if len(o) != 3 || len(seen) != 3 {
			t.Fatalf("call %d offers %v, want each member once", i, o)
		}
		first[o[0]]++
	}
	if len(first) != 3 {
		t.Errorf("first offers %v: random never started with some member", first)
	}
	if res.Unanswered != 30 || res.Attempts != 90 {
		t.Errorf("unanswered %d, attempts %d; want 30 and 90", res.Unanswered, res.Attempts)
	}
	rec2, _ := run(t, cfg, tr, NewRandom(1))
	if !reflect.DeepEqual(rec.legs, rec2.legs) {
		t.Error("random policy with one seed made different choices")
	}
}

func TestBusyOfferNeedsAnUntriedIdleMember(t *testing.T) {
	// Call 0: a does not answer, b answers at 21 s and talks an hour.
	// Call 1: a answers at 31 s and talks an hour. Call 2 at 60 s finds a
	// and b on calls and c idle.
	cfg, tr := handTrace(
		handCall{at: 0, talk: time.Hour, refuse: "a"},
		handCall{at: 30 * time.Second, talk: time.Hour},
		handCall{at: time.Minute, talk: time.Minute, refuse: "c"},
	)
	rec, res := run(t, cfg, tr, Sequential{})
	wantStrings(t, "call 0 offers", rec.offers(0), []string{"a", "b"})
	wantStrings(t, "call 1 offers", rec.offers(1), []string{"a"})
	// Call 2: a busy while c is idle and untried counts; so does b; then c
	// does not answer and the call is unanswered.
	wantStrings(t, "call 2 offers", rec.offers(2), []string{"a", "b", "c"})
	if res.BusyOffers != 2 || res.Unanswered != 1 {
		t.Errorf("busy offers %d, unanswered %d; want 2 and 1", res.BusyOffers, res.Unanswered)
	}

	// When the idle member was already tried, the busy offer is no fault.
	cfg, tr = handTrace(
		handCall{at: 0, talk: time.Hour},
		handCall{at: time.Minute, talk: time.Minute, refuse: "bc"},
	)
	g := NewGenesis(0)
	rec, res = run(t, cfg, tr, g)
	wantStrings(t, "genesis call 1 offers", rec.offers(1), []string{"a", "b", "c"})
	if res.BusyOffers != 1 {
		t.Errorf("busy offers %d, want 1 (only the first offer of a)", res.BusyOffers)
	}
}

func TestAbandonCancelsTheRingingLeg(t *testing.T) {
	cfg, tr := handTrace(handCall{at: 0, talk: time.Minute, patience: 25 * time.Second, refuse: "ab"})
	p, m := mustMemory(t, lb.TieLRU)
	rec, res := run(t, cfg, tr, p)
	// a rings 20 s, b from 20 s; the caller hangs up at 25 s.
	if len(rec.legs) != 2 || rec.legs[1] != (leg{0, "b", Cancelled}) {
		t.Fatalf("legs %v, want a no-answer then b cancelled", rec.legs)
	}
	if res.Abandoned != 1 || res.Answered != 0 {
		t.Errorf("abandoned %d, answered %d; want 1 and 0", res.Abandoned, res.Answered)
	}
	load, _ := m.Load(context.Background(), []string{"a", "b", "c"})
	if !reflect.DeepEqual(load, []int{0, 0, 0}) {
		t.Errorf("load after the run %v, want all zero", load)
	}
}

func TestAgentWhoAnsweredElsewhereRejectsTheOtherLeg(t *testing.T) {
	// Call 0 and call 1 both ring a (genesis gap); a answers call 0 at 1 s,
	// so call 1's leg, due to be answered at 3 s, ends busy.
	cfg, tr := handTrace(
		handCall{at: 0, talk: time.Minute},
		handCall{at: 100 * time.Microsecond, talk: time.Minute, answerAfter: 3 * time.Second},
	)
	rec, res := run(t, cfg, tr, NewGenesis(time.Millisecond))
	wantStrings(t, "call 1 offers", rec.offers(1), []string{"a", "b"})
	if rec.legs[1] != (leg{1, "a", Busy}) {
		t.Errorf("call 1's leg on a ended %v, want Busy", rec.legs[1])
	}
	if res.Answered != 2 {
		t.Errorf("answered %d, want 2", res.Answered)
	}
}

// TestRedisNodesMatchMemory runs three nodes on one miniredis: with one
// atomic script per choice and the same ranking, they must choose exactly
// as one memory balancer does.
func TestRedisNodesMatchMemory(t *testing.T) {
	mr := miniredis.RunT(t)
	cfg := smallConfig(5)
	cfg.Calls = 150
	// fewest ties with nothing that reads the clock: the servers' clock
	// and ours then rank alike.
	opts := timeless
	spec := RedisSpec("ringlb-redis-3node", "redis://"+mr.Addr(), "ringlb-sim-test:", 3, opts)
	p, closeFn, err := spec.Open()
	if err != nil {
		if strings.Contains(err.Error(), "not built yet") {
			t.Skipf("Redis backend not built yet: %v", err)
		}
		t.Fatal(err)
	}
	defer closeFn()
	tr, err := NewTrace(cfg)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Run(cfg, tr, "redis", p)
	if err != nil {
		t.Fatal(err)
	}
	mem, _, _ := MemorySpec("memory", opts).Open()
	want, err := Run(cfg, tr, "redis", mem)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("3 Redis nodes:\n%+v\nmemory:\n%+v", got, want)
	}
}

func TestValidateRejectsBadConfigs(t *testing.T) {
	for name, mut := range map[string]func(*Config){
		"answer after timeout": func(c *Config) { c.AnswerMax = c.RingTimeout },
		"no groups":            func(c *Config) { c.Groups = nil },
		"repeated member":      func(c *Config) { c.Groups = []Group{{Name: "g", Members: []string{"a", "a"}, Weight: 1}} },
		"no-answer above 1":    func(c *Config) { c.NoAnswer = 0.9 },
		"zero nodes":           func(c *Config) { c.Nodes = 0 },
	} {
		cfg := DefaultConfig()
		mut(&cfg)
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: Validate accepted it", name)
		}
	}
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Errorf("default config: %v", err)
	}
}

// The chart is well-formed SVG with a bar for every policy and agent and a
// line per policy followed.
func TestWriteChart(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Calls = 300
	results, _, err := RunAll(cfg, StandardSpecs(cfg, "", "chart:"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	agent := results[0].Agents[0].Agent
	if err := WriteChart(&b, results, agent, time.Hour, []string{"ringlb", "genesis"}); err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(strings.NewReader(b.String()))
	rects, lines := 0, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			switch se.Name.Local {
			case "rect":
				rects++
			case "polyline":
				lines++
			}
		}
	}
	// A background, a bar per policy and agent, a legend swatch per policy
	// and one per line.
	if want := 1 + len(results)*len(results[0].Agents) + len(results) + 2; rects != want || lines != 2 {
		t.Fatalf("%d rects and %d lines, want %d and 2", rects, lines, want)
	}
}

// byPolicy returns the result of policy name.
func byPolicy(t *testing.T, rs []Result, name string) Result {
	t.Helper()
	for _, r := range rs {
		if r.Policy == name {
			return r
		}
	}
	t.Fatalf("no result for %s", name)
	return Result{}
}

func maxMin(r Result) float64 {
	lo, hi := r.AnsweredRange()
	return float64(hi) / float64(lo)
}

// runScenario runs every standard policy over scenario name on the default
// model with calls calls, twice, and checks both runs agree.
func runScenario(t *testing.T, name string, calls int) []Result {
	t.Helper()
	s, ok := ScenarioByName(name)
	if !ok {
		t.Fatalf("no scenario %s", name)
	}
	cfg := DefaultConfig()
	cfg.Calls = calls
	s.Apply(&cfg)
	a, _, err := RunAll(cfg, StandardSpecs(cfg, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := RunAll(cfg, StandardSpecs(cfg, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("%s: same seed, different results", name)
	}
	return a
}

// The fewest tie (the default) spreads answered calls at least as evenly as
// lru on every scenario, with no busy offer.
func TestFewestIsTheFairestTie(t *testing.T) {
	for _, s := range Scenarios() {
		rs := runScenario(t, s.Name, 2000)
		fewest, lru := byPolicy(t, rs, "ringlb"), byPolicy(t, rs, "ringlb-lru")
		if maxMin(fewest) > maxMin(lru) || fewest.BusyOffers != 0 {
			t.Errorf("%s: fewest max/min %.2f (busy offers %d), lru %.2f", s.Name, maxMin(fewest), fewest.BusyOffers, maxMin(lru))
		}
		if maxMin(fewest) > 1.15 {
			t.Errorf("%s: fewest max/min %.2f, want <= 1.15", s.Name, maxMin(fewest))
		}
	}
}

// A late joiner is offered nothing before it logs in, and afterwards takes
// its share, not every tied call: after its first hour it answers about as
// many as the others.
func TestLateJoiner(t *testing.T) {
	rs := runScenario(t, "late-joiner", 3000)
	r := byPolicy(t, rs, "ringlb")
	var joiner AgentResult
	for _, a := range r.Agents {
		if a.Agent == "1008" {
			joiner = a
		}
	}
	if len(joiner.Load) == 0 || joiner.Load[0].At < 20*time.Hour {
		t.Fatalf("1008 had legs before joining at 20 h: %+v", joiner.Load[:min(3, len(joiner.Load))])
	}
	lo, hi := r.AnsweredRange()
	if joiner.Answered < lo || joiner.Answered > hi || maxMin(r) > 1.15 {
		t.Errorf("joiner answered %d, range %d-%d", joiner.Answered, lo, hi)
	}
}

// With wrap-up, ringlb never offers an agent in after-call work while
// another is free; without the option it does.
func TestWrapupLeavesAgentsAlone(t *testing.T) {
	rs := runScenario(t, "wrap-up", 2000)
	if with, without := byPolicy(t, rs, "ringlb"), byPolicy(t, rs, "ringlb-no-wrapup"); with.BusyOffers != 0 || without.BusyOffers == 0 {
		t.Errorf("busy offers with wrap-up %d (want 0), without %d (want > 0)", with.BusyOffers, without.BusyOffers)
	}
}

// Calls dialled straight to agents: with the call tracker ringlb makes no
// busy offer; without it, it offers agents who are on a direct call.
func TestTrackedDirectCalls(t *testing.T) {
	rs := runScenario(t, "direct-calls", 2000)
	tracked, untracked := byPolicy(t, rs, "ringlb"), byPolicy(t, rs, "ringlb-untracked")
	if tracked.Direct == 0 || untracked.Direct == 0 {
		t.Fatalf("direct calls taken: %d tracked, %d untracked", tracked.Direct, untracked.Direct)
	}
	if tracked.BusyOffers != 0 || untracked.BusyOffers == 0 {
		t.Errorf("busy offers tracked %d (want 0), untracked %d (want > 0)", tracked.BusyOffers, untracked.BusyOffers)
	}
}

// Direct calls come from a stream of their own: adding them leaves the
// group calls of the trace unchanged.
func TestDirectCallsKeepTheGroupTrace(t *testing.T) {
	cfg := smallConfig(3)
	plain, err := NewTrace(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DirectPerHour = 30
	with, err := NewTrace(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(plain.Calls, with.Calls) || len(with.Direct) == 0 {
		t.Fatalf("group calls changed, or no direct calls (%d)", len(with.Direct))
	}
}
