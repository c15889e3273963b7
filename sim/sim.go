// Package sim is a deterministic call-centre simulation that compares ring
// group policies on seeded arrival traces.
//
// # Model
//
// Calls arrive as a Poisson process (Config.ArrivalsPerHour), for a number
// of calls (Config.Calls) or over a shift (Config.Duration), and each goes
// to one ring group, chosen by the groups' weights. Groups share agents. A
// call rings the members of its group one at a time (what genesis calls
// BALANCING and ringlb's Lua API does with next/release): before each
// attempt the policy picks one of the members not yet tried by this call. A
// call makes at most one pass over its group; when every member has been
// tried it is "unanswered".
//
// An offered leg rings the agent. An agent already on a call rejects it as
// busy after Config.BusyDelay. Otherwise the agent answers after a delay
// drawn uniformly from [AnswerMin, AnswerMax], unless they do not answer this
// call (per-agent probability, see Config.NoAnswer and Config.Traits), in
// which case the leg rings for Config.RingTimeout. If the agent answered
// another call while this leg was ringing, the leg is rejected as busy at
// the moment it would have been answered. An answered call lasts an
// exponentially distributed talk time (mean Config.TalkMean, times the
// agent's Trait.TalkScale). A caller who is still not connected after their
// patience (exponential, mean Config.PatienceMean) hangs up: the call is
// "abandoned" and its ringing leg is cancelled.
//
// Every random draw belongs to the trace, not to the policy: the arrival
// time, group, talk time, patience and node of each call, and for each
// (call, agent) pair whether that agent would answer that call and how fast.
// So every policy sees exactly the same callers and the same agent
// behaviour; only the choices differ (common random numbers). The random
// policy draws from its own stream, seeded from Config.Seed.
//
// Traces (see Scenarios and Shifts) add agents who join mid-shift
// (Config.Joins), agents who log out and come back (Config.Logouts: on
// do-not-disturb, which the ring helper skips, or drained in the balancer),
// agents who answer less or talk longer (Config.Traits), after-call work
// (Config.Wrapup: an agent offered a call then rejects it as busy) and calls
// dialled straight to agents (Config.DirectPerHour, from a random stream of
// their own, so the group calls stay the same).
//
// Time is virtual: events run in simulated-time order from a priority queue,
// ties in the order they were scheduled, and nothing reads the wall clock, so
// a seed gives identical results on every run and every machine.
//
// # Policies
//
//   - ringlb: lb.Memory with its default (fewest) ties, on simulated time.
//     A hold is taken by Next when a leg starts ringing, marked answered
//     when the agent picks up, and released when the leg fails or the
//     answered call ends, so answered calls count. Direct calls are
//     counted as the call tracker does (Count, Answered, Release). A
//     drained logout is Drain and Undrain.
//   - ringlb-lru, ringlb-list: the same with lru or list ties.
//   - ringlb-no-wrapup (wrap-up traces), ringlb-untracked (direct-call
//     traces): without the wrapup option, or without the call tracker.
//   - ringlb-redis-Nnode: N simulated nodes, each with its own redislb.New
//     balancer on one shared Redis; each call is handled by the node the
//     trace gives it.
//   - genesis: a model of genesis's BALANCING mode: a shared count per
//     destination raised when a leg starts ringing and lowered as soon as
//     the leg answers, times out or is rejected, so an agent on a call
//     counts zero; least loaded is the first minimum in list order; the
//     choice (MGET) and the increment (INCR) are separate steps,
//     Config.GenesisGap apart, with no reservation between them.
//   - sequential: the group in list order.
//   - random: a uniformly random member not yet tried.
//
// Rule (rule.go) is a model of ringlb's ranking with tie rules that lb does
// not have, for research; Bound (bound.go) searches with hindsight for the
// best spread any tie rule could reach on a trace.
//
// # Metrics
//
// See Result: answered calls per agent (max/min, coefficient of variation,
// and per logged-in hour over the agents with equal traits), occupancy,
// time to answer, first offers, busy offers (a leg offered to an agent
// already on a call while another member of the group, not yet tried by
// this call, was idle: neither on a call nor ringing), the peak of
// simultaneous legs (ringing or connected) on one agent, attempts per
// answered call, and abandoned and unanswered calls.
package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/ringlb/ringlb/lb"
)

// Group is a ring group: its members in list order and its share of calls.
type Group struct {
	Name    string
	Members []string
	// Weight is the group's share of arrivals, relative to the other
	// groups' weights.
	Weight float64
}

// Config describes the call centre. Durations are simulated time.
type Config struct {
	// Seed selects the trace and the random policy's stream.
	Seed uint64
	// Calls is the number of arrivals simulated, when Duration is 0.
	Calls int
	// Duration, when set, is the length of the shift: calls arrive until
	// then, however many that makes (Calls is ignored).
	Duration time.Duration
	// ArrivalsPerHour is the Poisson arrival rate over all groups.
	ArrivalsPerHour float64
	// TalkMean is the mean of the exponential talk time.
	TalkMean time.Duration
	// RingTimeout is how long an unanswered leg rings before giving up.
	RingTimeout time.Duration
	// AnswerMin and AnswerMax bound the uniform delay before an agent who
	// answers picks up. AnswerMax must be below RingTimeout.
	AnswerMin, AnswerMax time.Duration
	// BusyDelay is how long a busy agent's leg takes to be rejected.
	BusyDelay time.Duration
	// PatienceMean is the mean of the exponential time a caller waits for
	// an answer before hanging up; 0 means callers never hang up.
	PatienceMean time.Duration
	// NoAnswer is the mean chance that an idle agent does not answer a
	// call. Agents differ: the chance rises linearly over the agents, from
	// NoAnswer*(1-NoAnswerSpread) for the first to
	// NoAnswer*(1+NoAnswerSpread) for the last.
	NoAnswer       float64
	NoAnswerSpread float64
	// Groups are the ring groups; agents are the union of their members.
	Groups []Group
	// Nodes is the number of switches calls are spread over (each call is
	// given one at random); it matters for multi-node policies only.
	Nodes int
	// GenesisGap is the time between genesis's choice (MGET) and its
	// increment (INCR): one Redis round trip. 0 makes them one step.
	GenesisGap time.Duration
	// Joins are agents who start mid-shift: before At, such an agent is in
	// no group and takes no call.
	Joins []Join
	// Logouts are agents away for a while who come back.
	Logouts []Logout
	// Traits are agents who differ from the others. Agents without one
	// are the "equal agents" whose spread the results judge.
	Traits []Trait
	// MeasureFrom starts the per-agent answered counts (and so max/min and
	// CV): answers before it are left out, to judge a late joiner after
	// its first hour. 0 counts every answer.
	MeasureFrom time.Duration
	// Wrapup is the after-call work of an agent after each answered call:
	// offered a call meanwhile, the agent rejects it as a busy one would.
	Wrapup time.Duration
	// DirectPerHour is the rate of calls dialled straight to an agent, not
	// through a group (Poisson, agent uniformly at random, talk as group
	// calls). An agent on a call when one arrives lets it go to voicemail.
	DirectPerHour float64
}

// Join is an agent starting mid-shift.
type Join struct {
	Agent string
	At    time.Duration
}

// Signal is how an agent's absence reaches ringlb.
type Signal int

const (
	// DND: the agent sets do-not-disturb; the ring helper leaves it out of
	// the members it passes to the balancer and marks it away there
	// (Away), so that its next call shows it back.
	DND Signal = iota
	// Drained: the operator drains the agent in the balancer (ringlbctl
	// drain) and undrains it on return; the ring helper still lists it.
	Drained
)

// String names the signal as the report shows it.
func (s Signal) String() string {
	if s == Drained {
		return "drained in the balancer"
	}
	return "do-not-disturb, skipped by the ring helper"
}

// Logout is an agent away from From to To: it finishes the call it is on,
// then takes no call until To.
type Logout struct {
	Agent    string
	From, To time.Duration
	Via      Signal
}

// Trait is an agent unlike the others.
type Trait struct {
	Agent string
	// NoAnswer, when above 0, replaces the agent's chance of not answering
	// a call (1: it never answers).
	NoAnswer float64
	// TalkScale, when above 0, multiplies the agent's talk times.
	TalkScale float64
}

// DefaultGroups are three groups over eight agents, each agent in one or
// two groups, listed in extension order as people usually write them.
func DefaultGroups() []Group {
	return []Group{
		{Name: "sales", Members: []string{"1001", "1002", "1003", "1004", "1005"}, Weight: 0.45},
		{Name: "support", Members: []string{"1004", "1005", "1006", "1007", "1008"}, Weight: 0.35},
		{Name: "billing", Members: []string{"1001", "1002", "1007", "1008"}, Weight: 0.20},
	}
}

// DefaultConfig is a moderately loaded small call centre: 60 calls an hour
// of 3 minutes on average (3 erlangs over 8 agents), 20 s ring timeout, a
// 10 % mean chance of not answering (5 % to 15 % by agent), callers who wait
// 2 minutes on average, and 3 nodes.
func DefaultConfig() Config {
	return Config{
		Seed:            1,
		Calls:           5000,
		ArrivalsPerHour: 60,
		TalkMean:        180 * time.Second,
		RingTimeout:     20 * time.Second,
		AnswerMin:       2 * time.Second,
		AnswerMax:       8 * time.Second,
		BusyDelay:       time.Second,
		PatienceMean:    120 * time.Second,
		NoAnswer:        0.10,
		NoAnswerSpread:  0.5,
		Groups:          DefaultGroups(),
		Nodes:           3,
		GenesisGap:      time.Millisecond,
	}
}

// Validate reports a configuration the simulation cannot run.
func (c *Config) Validate() error {
	switch {
	case c.Calls < 0 || c.Duration < 0:
		return fmt.Errorf("sim: calls %d, duration %v", c.Calls, c.Duration)
	case c.ArrivalsPerHour <= 0:
		return fmt.Errorf("sim: arrival rate %v per hour", c.ArrivalsPerHour)
	case c.TalkMean <= 0:
		return fmt.Errorf("sim: talk mean %v", c.TalkMean)
	case c.RingTimeout <= 0 || c.BusyDelay <= 0:
		return fmt.Errorf("sim: ring timeout %v, busy delay %v (want > 0)", c.RingTimeout, c.BusyDelay)
	case c.AnswerMin <= 0 || c.AnswerMax < c.AnswerMin || c.AnswerMax >= c.RingTimeout:
		return fmt.Errorf("sim: answer delay [%v, %v] (want 0 < min <= max < ring timeout %v)", c.AnswerMin, c.AnswerMax, c.RingTimeout)
	case c.PatienceMean < 0 || c.GenesisGap < 0:
		return fmt.Errorf("sim: negative patience or genesis gap")
	case c.NoAnswer < 0 || c.NoAnswerSpread < 0 || c.NoAnswer*(1+c.NoAnswerSpread) > 1:
		return fmt.Errorf("sim: no-answer chance %v spread %v (want within [0, 1])", c.NoAnswer, c.NoAnswerSpread)
	case c.Nodes < 1:
		return fmt.Errorf("sim: nodes %d", c.Nodes)
	case c.MeasureFrom < 0 || c.Wrapup < 0 || c.DirectPerHour < 0:
		return fmt.Errorf("sim: negative measure start, wrap-up or direct-call rate")
	case len(c.Groups) == 0:
		return fmt.Errorf("sim: no groups")
	}
	for _, g := range c.Groups {
		if g.Name == "" || len(g.Members) == 0 || g.Weight <= 0 {
			return fmt.Errorf("sim: group %q needs members and a positive weight", g.Name)
		}
		seen := make(map[string]bool)
		for _, m := range g.Members {
			if m == "" || seen[m] {
				return fmt.Errorf("sim: group %q: empty or repeated member %q", g.Name, m)
			}
			seen[m] = true
		}
	}
	agents := c.Agents()
	for _, j := range c.Joins {
		if !slices.Contains(agents, j.Agent) || j.At < 0 {
			return fmt.Errorf("sim: join of %q at %v: not an agent of the groups, or before 0", j.Agent, j.At)
		}
	}
	for _, l := range c.Logouts {
		if !slices.Contains(agents, l.Agent) || l.From < 0 || l.To <= l.From || (l.Via != DND && l.Via != Drained) {
			return fmt.Errorf("sim: logout of %q from %v to %v: not an agent of the groups, or not a span", l.Agent, l.From, l.To)
		}
	}
	seen := make(map[string]bool)
	for _, t := range c.Traits {
		if !slices.Contains(agents, t.Agent) || seen[t.Agent] || t.NoAnswer < 0 || t.NoAnswer > 1 || t.TalkScale < 0 {
			return fmt.Errorf("sim: trait of %q: not an agent of the groups, repeated, or out of range", t.Agent)
		}
		seen[t.Agent] = true
	}
	return nil
}

// ScaleShift multiplies the shift's length by f, and with it when agents
// join, leave and come back and where measuring starts: a shorter run of
// the same shape, for quick checks.
func (c *Config) ScaleShift(f float64) {
	scale := func(d time.Duration) time.Duration { return time.Duration(float64(d) * f) }
	c.Duration, c.MeasureFrom = scale(c.Duration), scale(c.MeasureFrom)
	c.Joins = slices.Clone(c.Joins)
	for i := range c.Joins {
		c.Joins[i].At = scale(c.Joins[i].At)
	}
	c.Logouts = slices.Clone(c.Logouts)
	for i := range c.Logouts {
		c.Logouts[i].From, c.Logouts[i].To = scale(c.Logouts[i].From), scale(c.Logouts[i].To)
	}
}

// Agents returns the union of the groups' members in order of first
// appearance.
func (c *Config) Agents() []string {
	var out []string
	seen := make(map[string]bool)
	for _, g := range c.Groups {
		for _, m := range g.Members {
			if !seen[m] {
				seen[m] = true
				out = append(out, m)
			}
		}
	}
	return out
}

// TalksDiffer reports whether some agent's talk times are scaled
// (Trait.TalkScale): a trace on which occupancy, not answered calls, is
// what talk ties even out.
func (c *Config) TalksDiffer() bool {
	for _, t := range c.Traits {
		if t.TalkScale > 0 && t.TalkScale != 1 {
			return true
		}
	}
	return false
}

// trait returns the trait of agent, if it has one.
func (c *Config) trait(agent string) (Trait, bool) {
	for _, t := range c.Traits {
		if t.Agent == agent {
			return t, true
		}
	}
	return Trait{}, false
}

// NoAnswerOf returns the chance that agent i of n does not answer, before
// traits (see Config.Traits).
func (c *Config) NoAnswerOf(i, n int) float64 {
	if n < 2 {
		return c.NoAnswer
	}
	f := float64(i) / float64(n-1) // 0 for the first agent, 1 for the last
	return c.NoAnswer * (1 - c.NoAnswerSpread + 2*c.NoAnswerSpread*f)
}

// loggedIn returns how long agent was logged in between from and to: after
// its join, outside its logouts.
func (c *Config) loggedIn(agent string, from, to time.Duration) time.Duration {
	for _, j := range c.Joins {
		if j.Agent == agent {
			from = max(from, j.At)
		}
	}
	if to <= from {
		return 0
	}
	d := to - from
	for _, l := range c.Logouts {
		if l.Agent == agent {
			d -= max(0, min(to, l.To)-max(from, l.From))
		}
	}
	return max(0, d)
}

// Describe is the model in one line, for the table header.
func (c *Config) Describe() string {
	agents := c.Agents()
	var gs []string
	var total float64
	for _, g := range c.Groups {
		total += g.Weight
	}
	for _, g := range c.Groups {
		gs = append(gs, fmt.Sprintf("%s %.0f%% [%s]", g.Name, 100*g.Weight/total, strings.Join(g.Members, " ")))
	}
	patience := "never hang up"
	if c.PatienceMean > 0 {
		patience = fmt.Sprintf("hang up after exp. mean %v", c.PatienceMean)
	}
	erl := c.ArrivalsPerHour * c.TalkMean.Hours()
	extra := ""
	for _, j := range c.Joins {
		extra += fmt.Sprintf("; %s joins at %v", j.Agent, j.At)
	}
	for _, l := range c.Logouts {
		extra += fmt.Sprintf("; %s away from %v to %v (%s)", l.Agent, l.From, l.To, l.Via)
	}
	for _, t := range c.Traits {
		if t.NoAnswer > 0 {
			extra += fmt.Sprintf("; %s does not answer %.3g %% of calls", t.Agent, 100*t.NoAnswer)
		}
		if t.TalkScale > 0 && t.TalkScale != 1 {
			extra += fmt.Sprintf("; %s talks %.3g times as long", t.Agent, t.TalkScale)
		}
	}
	if c.MeasureFrom > 0 {
		extra += fmt.Sprintf("; answered per agent counted from %v", c.MeasureFrom)
	}
	if c.Wrapup > 0 {
		extra += fmt.Sprintf("; %v wrap-up after each answered call (ringlb opened with wrapup = %v)", c.Wrapup, c.Wrapup)
	}
	if c.DirectPerHour > 0 {
		extra += fmt.Sprintf("; plus %.4g direct calls/h to random agents, outside the groups", c.DirectPerHour)
	}
	size := fmt.Sprintf("%d calls", c.Calls)
	if c.Duration > 0 {
		size = fmt.Sprintf("a shift of %s", shortDuration(c.Duration))
	}
	noAnswer := fmt.Sprintf("no-answer %.3g %% to %.3g %% by agent", 100*c.NoAnswerOf(0, len(agents)), 100*c.NoAnswerOf(len(agents)-1, len(agents)))
	if c.NoAnswerSpread == 0 {
		noAnswer = fmt.Sprintf("no-answer %.3g %%", 100*c.NoAnswer)
	}
	return fmt.Sprintf("seed %d; %s, Poisson %.4g/h; talk exp. mean %v (%.3g erlangs over %d agents); "+
		"ring timeout %v, answer after U[%v, %v], %s; busy agent rejects after %v; "+
		"callers %s; one pass over the group; %d nodes; genesis choose→INCR gap %v%s; groups: %s",
		c.Seed, size, c.ArrivalsPerHour, c.TalkMean, erl, len(agents),
		c.RingTimeout, c.AnswerMin, c.AnswerMax, noAnswer,
		c.BusyDelay, patience, c.Nodes, c.GenesisGap, extra, strings.Join(gs, ", "))
}

// Call is one caller of a Trace.
type Call struct {
	// Arrival is the simulated time the call arrives.
	Arrival time.Duration
	// Group indexes Config.Groups.
	Group int
	// Talk is how long the call lasts once answered (before the answering
	// agent's Trait.TalkScale).
	Talk time.Duration
	// Patience is how long the caller waits for an answer; 0 is forever.
	Patience time.Duration
	// Node is the switch that handles the call, in [0, Config.Nodes).
	Node int
	// Answers says, per agent (index into Config.Agents), whether that
	// agent answers this call if idle, and AnswerAfter how fast.
	Answers     []bool
	AnswerAfter []time.Duration
}

// DirectCall is a call dialled straight to an agent, outside the groups.
type DirectCall struct {
	At    time.Duration
	Agent int // index into Trace.Agents
	Talk  time.Duration
}

// Trace is the input shared by every policy.
type Trace struct {
	Agents []string
	Calls  []Call
	// Direct are the direct calls, in time order, over the span of Calls.
	Direct []DirectCall
	// Span is the shift the trace covers: Config.Duration, or up to the
	// last arrival. Logged-in time and occupancy are measured over it.
	Span time.Duration
}

// NewTrace draws the trace of cfg from cfg.Seed.
func NewTrace(cfg Config) (*Trace, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x72696e676c622d74)) // "ringlb-t"
	agents := cfg.Agents()
	tr := &Trace{Agents: agents, Span: cfg.Duration}
	if cfg.Duration > 0 {
		tr.Calls = drawCalls(cfg, agents, noAnswers(cfg, agents), rng, 0, cfg.Duration)
	} else {
		tr.Calls = drawCalls(cfg, agents, noAnswers(cfg, agents), rng, 0, 0)
		if len(tr.Calls) > 0 {
			tr.Span = tr.Calls[len(tr.Calls)-1].Arrival
		}
	}
	if cfg.DirectPerHour > 0 {
		// A stream of its own, so that the group calls stay the same.
		drng := rand.New(rand.NewPCG(cfg.Seed, 0x6469726563742d63)) // "direct-c"
		gap := float64(time.Hour) / cfg.DirectPerHour
		for at := time.Duration(drng.ExpFloat64() * gap); at < tr.Span; at += time.Duration(drng.ExpFloat64() * gap) {
			tr.Direct = append(tr.Direct, DirectCall{At: at, Agent: drng.IntN(len(agents)),
				Talk: max(time.Second, time.Duration(drng.ExpFloat64()*float64(cfg.TalkMean)))})
		}
	}
	return tr, nil
}

// noAnswers returns each agent's chance of not answering a call.
func noAnswers(cfg Config, agents []string) []float64 {
	out := make([]float64, len(agents))
	for a, name := range agents {
		out[a] = cfg.NoAnswerOf(a, len(agents))
		if t, ok := cfg.trait(name); ok && t.NoAnswer > 0 {
			out[a] = t.NoAnswer
		}
	}
	return out
}

// drawCalls draws calls arriving after from: until until when it is set,
// else cfg.Calls of them.
func drawCalls(cfg Config, agents []string, noAnswer []float64, rng *rand.Rand, from, until time.Duration) []Call {
	var total float64
	for _, g := range cfg.Groups {
		total += g.Weight
	}
	meanGap := float64(time.Hour) / cfg.ArrivalsPerHour
	var calls []Call
	if until == 0 {
		calls = make([]Call, 0, cfg.Calls)
	}
	now := from
	for i := 0; until > 0 || i < cfg.Calls; i++ {
		now += time.Duration(rng.ExpFloat64() * meanGap)
		if until > 0 && now >= until {
			break
		}
		c := Call{Arrival: now, Group: len(cfg.Groups) - 1}
		u := rng.Float64() * total
		for gi, g := range cfg.Groups {
			if u < g.Weight {
				c.Group = gi
				break
			}
			u -= g.Weight
		}
		c.Talk = max(time.Second, time.Duration(rng.ExpFloat64()*float64(cfg.TalkMean)))
		if cfg.PatienceMean > 0 {
			c.Patience = max(time.Millisecond, time.Duration(rng.ExpFloat64()*float64(cfg.PatienceMean)))
		}
		c.Node = rng.IntN(cfg.Nodes)
		c.Answers = make([]bool, len(agents))
		c.AnswerAfter = make([]time.Duration, len(agents))
		span := int64(cfg.AnswerMax - cfg.AnswerMin)
		for a := range agents {
			c.Answers[a] = rng.Float64() >= noAnswer[a]
			c.AnswerAfter[a] = cfg.AnswerMin + time.Duration(rng.Int64N(span+1))
		}
		calls = append(calls, c)
	}
	return calls
}

// Outcome is how a leg ended.
type Outcome int

const (
	// Answered: the agent picked up.
	Answered Outcome = iota
	// NoAnswer: the leg rang until the ring timeout.
	NoAnswer
	// Busy: the agent was on another call and rejected the leg.
	Busy
	// Cancelled: the caller hung up while the leg rang.
	Cancelled
)

// Tracker is a Policy that also learns of calls that do not go through it:
// ringlb's call tracker (ringlb_track.lua) counts them on the member.
type Tracker interface {
	// DirectStarted reports that agent took direct call id at now.
	DirectStarted(now time.Duration, id int, agent string) error
	// DirectEnded reports that direct call id on agent ended at now.
	DirectEnded(now time.Duration, id int, agent string) error
}

// Presence is a Policy that is told when agents leave and come back. A
// policy that is not one never sees a drained agent: the simulation leaves
// it out of the members as it does for do-not-disturb.
type Presence interface {
	// LoggedOut reports that agent left at now, signalled via.
	LoggedOut(now time.Duration, agent string, via Signal) error
	// LoggedIn reports that agent came back at now.
	LoggedIn(now time.Duration, agent string, via Signal) error
}

// router is a Policy that places each call by its group (LB.ByGroup): it
// learns the calls' groups before the run.
type router interface {
	route(groups []Group, calls []Call)
}

// outReporter is a policy that may leave an idle member out, as ringlb
// does with one that keeps leaving its offers unanswered
// (lb.Options.MaxNoAnswer): a busy offer that passed over only such
// members is not counted as one.
type outReporter interface {
	LeftOut(now time.Duration, call, node int, agent string) bool
}

// Policy chooses destinations. The simulation calls it in simulated-time
// order from one goroutine.
type Policy interface {
	// Next chooses one of remaining (the group's members not yet tried by
	// the call, in list order) for a leg that starts ringing at now.
	Next(now time.Duration, call int, node int, remaining []string) (string, error)
	// LegEnded reports how the leg of call on dest ended at now.
	LegEnded(now time.Duration, call int, node int, dest string, o Outcome) error
	// Hangup reports that the answered call on dest ended at now.
	Hangup(now time.Duration, call int, node int, dest string) error
}

// event kinds.
const (
	evArrive = iota
	evLegEnd
	evHangup
	evAbandon
	evDirect
	evDirectEnd
	evLogout
	evLogin
)

type event struct {
	at   time.Duration
	seq  uint64 // scheduling order, for ties
	kind int
	call int // the call, direct call or logout the event is about
	leg  int // which leg of the call, for evLegEnd
}

// eventQueue is a binary min-heap of events by time, then scheduling order.
type eventQueue []event

func (e *event) before(o *event) bool {
	if e.at != o.at {
		return e.at < o.at
	}
	return e.seq < o.seq
}

func (q *eventQueue) push(e event) {
	*q = append(*q, e)
	h := *q
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !h[i].before(&h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (q *eventQueue) pop() event {
	h := *q
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < n && h[l].before(&h[m]) {
			m = l
		}
		if r := l + 1; r < n && h[r].before(&h[m]) {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	*q = h
	return top
}

// callState is a call in progress.
type callState struct {
	tried    []bool // by member index in the group
	leg      int    // number of legs started; the current one is leg
	ringing  bool
	agent    int // agent of the current leg
	outcome  Outcome
	answered bool
	done     bool // answered, abandoned or unanswered: no more legs
	attempts int
	legAt    time.Duration // when the current leg started
	talkEnd  time.Duration // when the answered call ends
}

type agentState struct {
	joinAt    time.Duration // takes calls from then on
	away      bool          // logged out now
	awayVia   Signal
	wrapUntil time.Duration // after-call work until then
	talkScale float64
	// connected and ringing are the agent's legs now.
	connected, ringing int
	peak               int
	answered, offers   int
	firstOffers        int
	busyOffers         int
	talk               time.Duration // talk time while logged in, measured
	answeredAt         []time.Duration
	steps              []LoadStep
}

// listed reports whether the ring helper passes agent a to the policy at
// now: joined, and not away unless drained in a policy that is told.
func (r *runner) listed(a *agentState, now time.Duration) bool {
	return a.joinAt <= now && (!a.away || (a.awayVia == Drained && r.presence != nil))
}

// idle reports whether agent a could take a call at now.
func (a *agentState) idle(now time.Duration) bool {
	return a.connected == 0 && a.ringing == 0 && now >= a.wrapUntil && !a.away
}

// step records agent ai's legs (connected + ringing) from now on.
func (r *runner) step(now time.Duration, ai int) {
	if !r.record {
		return
	}
	a := &r.agents[ai]
	a.steps = append(a.steps, LoadStep{At: now, Legs: a.connected + a.ringing})
}

// runner is one simulation of one policy over one trace.
type runner struct {
	cfg      Config
	tr       *Trace
	p        Policy
	presence Presence       // p, if it is one
	record   bool           // keep load steps and answer times
	index    map[string]int // agent -> index in tr.Agents
	q        eventQueue
	// fixed are the events known from the start (arrivals, direct calls,
	// logouts), in order: kept apart from the heap, which then only holds
	// what is in progress.
	fixed  []event
	seq    uint64
	calls  []callState
	agents []agentState
	res    Result
	rem    []string      // scratch for remaining members
	tried  []bool        // backing of the calls' tried flags
	now    time.Duration // when loop stopped on an error
}

// Run simulates policy p, named name, over trace tr drawn for cfg.
func Run(cfg Config, tr *Trace, name string, p Policy) (Result, error) {
	return simulate(cfg, tr, name, p, true)
}

// simulate is Run; record false leaves out what only reports and charts need
// (load steps, answer times), for searches that run a trace many times.
func simulate(cfg Config, tr *Trace, name string, p Policy, record bool) (Result, error) {
	r, err := newRunner(cfg, tr, p, record)
	if err != nil {
		return Result{}, err
	}
	if err := r.loop(); err != nil {
		return Result{}, fmt.Errorf("sim: %s: %w", name, err)
	}
	return r.result(name), nil
}

// newRunner prepares a run of p over tr.
func newRunner(cfg Config, tr *Trace, p Policy, record bool) (*runner, error) {
	r := &runner{
		cfg:    cfg,
		tr:     tr,
		p:      p,
		record: record,
		index:  make(map[string]int, len(tr.Agents)),
		calls:  make([]callState, len(tr.Calls)),
		agents: make([]agentState, len(tr.Agents)),
		q:      make(eventQueue, 0, 64),
	}
	r.presence, _ = p.(Presence)
	if g, ok := p.(router); ok {
		g.route(cfg.Groups, tr.Calls)
	}
	for i, a := range tr.Agents {
		r.index[a] = i
		r.agents[i].talkScale = 1
		if t, ok := cfg.trait(a); ok && t.TalkScale > 0 {
			r.agents[i].talkScale = t.TalkScale
		}
	}
	for _, j := range cfg.Joins {
		if ai, ok := r.index[j.Agent]; ok {
			r.agents[ai].joinAt = j.At
		}
	}
	for _, g := range cfg.Groups {
		for _, m := range g.Members {
			if _, ok := r.index[m]; !ok {
				return nil, fmt.Errorf("sim: member %q of %q is not in the trace", m, g.Name)
			}
		}
	}
	for i, l := range cfg.Logouts {
		if _, ok := r.index[l.Agent]; !ok {
			return nil, fmt.Errorf("sim: logout of %q, not in the trace", l.Agent)
		}
		r.scheduleFixed(l.From, evLogout, i)
		r.scheduleFixed(l.To, evLogin, i)
	}
	for i, d := range tr.Direct {
		r.scheduleFixed(d.At, evDirect, i)
	}
	for i, c := range tr.Calls {
		if c.Group < 0 || c.Group >= len(cfg.Groups) {
			return nil, fmt.Errorf("sim: call %d: group %d out of range", i, c.Group)
		}
		if len(c.Answers) != len(tr.Agents) || len(c.AnswerAfter) != len(tr.Agents) {
			return nil, fmt.Errorf("sim: call %d: answer draws for %d agents, want %d", i, len(c.Answers), len(tr.Agents))
		}
		r.scheduleFixed(c.Arrival, evArrive, i)
	}
	slices.SortFunc(r.fixed, func(a, b event) int {
		if a.before(&b) {
			return -1
		}
		return 1
	})
	return r, nil
}

// loop runs events until none is left, or until the policy fails (the
// runner then holds the state of that moment).
func (r *runner) loop() error {
	for len(r.q) > 0 || len(r.fixed) > 0 {
		var e event
		if len(r.fixed) > 0 && (len(r.q) == 0 || r.fixed[0].before(&r.q[0])) {
			e, r.fixed = r.fixed[0], r.fixed[1:]
		} else {
			e = r.q.pop()
		}
		var err error
		switch e.kind {
		case evArrive:
			err = r.arrive(e.at, e.call)
		case evLegEnd:
			err = r.legEnd(e.at, e.call, e.leg)
		case evHangup:
			err = r.hangup(e.at, e.call)
		case evAbandon:
			err = r.abandon(e.at, e.call)
		case evDirect:
			err = r.direct(e.at, e.call)
		case evDirectEnd:
			err = r.directEnd(e.at, e.call)
		case evLogout, evLogin:
			err = r.presenceChange(e.at, e.call, e.kind == evLogout)
		}
		if err != nil {
			r.now = e.at
			return fmt.Errorf("call %d at %v: %w", e.call, e.at, err)
		}
	}
	return nil
}

// result is what the run did, named name.
func (r *runner) result(name string) Result {
	cfg, tr, record := r.cfg, r.tr, r.record
	r.res.Policy = name
	r.res.Calls = len(tr.Calls)
	r.res.Span, r.res.MeasureFrom = tr.Span, cfg.MeasureFrom
	for i, a := range r.agents {
		name := tr.Agents[i]
		t, unequal := cfg.trait(name)
		r.res.Agents = append(r.res.Agents, AgentResult{
			Agent: name, Answered: a.answered, Offers: a.offers, FirstOffers: a.firstOffers,
			BusyOffers: a.busyOffers, PeakLegs: a.peak, Load: a.steps,
			Talk: a.talk, LoggedIn: cfg.loggedIn(name, cfg.MeasureFrom, tr.Span), Equal: !unequal,
			AnsweredAt: a.answeredAt, Misses: t.NoAnswer > 0 && t.NoAnswer > cfg.NoAnswerOf(i, len(r.agents)),
		})
	}
	if record {
		r.res.Returns = returns(cfg, &r.res)
	}
	return r.res
}

func (r *runner) schedule(at time.Duration, kind, call, leg int) {
	r.seq++
	r.q.push(event{at: at, seq: r.seq, kind: kind, call: call, leg: leg})
}

func (r *runner) scheduleFixed(at time.Duration, kind, id int) {
	r.seq++
	r.fixed = append(r.fixed, event{at: at, seq: r.seq, kind: kind, call: id})
}

func (r *runner) arrive(now time.Duration, ci int) error {
	c := &r.tr.Calls[ci]
	n := len(r.cfg.Groups[c.Group].Members)
	if cap(r.tried)-len(r.tried) < n {
		r.tried = make([]bool, 0, max(4096, n))
	}
	r.calls[ci].tried = r.tried[len(r.tried) : len(r.tried)+n : len(r.tried)+n]
	r.tried = r.tried[:len(r.tried)+n]
	if c.Patience > 0 {
		r.schedule(now+c.Patience, evAbandon, ci, 0)
	}
	return r.attempt(now, ci)
}

// countBusyOffer counts the leg of call ci to member pos, agent a, who is
// busy, as a busy offer if another member not yet tried was idle; as
// passed over if the only idle ones were out for offers they left
// unanswered, as the policy says (outReporter).
func (r *runner) countBusyOffer(now time.Duration, ci, pos int, a *agentState) {
	c, cs := &r.tr.Calls[ci], &r.calls[ci]
	out, _ := r.p.(outReporter)
	passed := false
	for i, m := range r.cfg.Groups[c.Group].Members {
		if i == pos || cs.tried[i] {
			continue
		}
		o := &r.agents[r.index[m]]
		if !o.idle(now) || o.joinAt > now {
			continue
		}
		if out != nil && out.LeftOut(now, ci, c.Node, m) {
			passed = true
			continue
		}
		a.busyOffers++
		r.res.BusyOffers++
		return
	}
	if passed {
		r.res.PassedOver++
	}
}

// attempt starts the next leg of call ci, or gives the call up as
// unanswered when every member has been tried.
func (r *runner) attempt(now time.Duration, ci int) error {
	c, cs := &r.tr.Calls[ci], &r.calls[ci]
	g := &r.cfg.Groups[c.Group]
	r.rem = r.rem[:0]
	for i, m := range g.Members {
		if !cs.tried[i] && r.listed(&r.agents[r.index[m]], now) {
			r.rem = append(r.rem, m)
		}
	}
	if len(r.rem) == 0 {
		cs.done = true
		r.res.Unanswered++
		return nil
	}
	dest, err := r.p.Next(now, ci, c.Node, r.rem)
	if errors.Is(err, lb.ErrAtCapacity) {
		// Every member left is busy, drained or in wrap-up as the
		// balancer sees it: the ring helper ends the ring (all_busy).
		cs.done = true
		r.res.Unanswered++
		return nil
	}
	if err != nil {
		return err
	}
	pos := -1
	for i, m := range g.Members {
		if m == dest && !cs.tried[i] && slices.Contains(r.rem, m) {
			pos = i
		}
	}
	if pos < 0 {
		return fmt.Errorf("policy chose %q, not a listed untried member of %s", dest, g.Name)
	}
	cs.tried[pos] = true
	ai := r.index[dest]
	a := &r.agents[ai]
	busy := a.connected > 0 || now < a.wrapUntil || a.away
	if busy {
		r.countBusyOffer(now, ci, pos, a)
	}
	if cs.attempts == 0 {
		a.firstOffers++
	}
	a.offers++
	a.ringing++
	a.peak = max(a.peak, a.connected+a.ringing)
	r.step(now, ai)
	cs.leg++
	cs.attempts++
	cs.ringing = true
	cs.agent = ai
	cs.legAt = now
	r.res.Attempts++
	switch {
	case busy:
		cs.outcome = Busy
		r.schedule(now+r.cfg.BusyDelay, evLegEnd, ci, cs.leg)
	case c.Answers[ai]:
		cs.outcome = Answered
		r.schedule(now+c.AnswerAfter[ai], evLegEnd, ci, cs.leg)
	default:
		cs.outcome = NoAnswer
		r.schedule(now+r.cfg.RingTimeout, evLegEnd, ci, cs.leg)
	}
	return nil
}

func (r *runner) legEnd(now time.Duration, ci, leg int) error {
	c, cs := &r.tr.Calls[ci], &r.calls[ci]
	if !cs.ringing || cs.leg != leg {
		return nil // cancelled by the caller hanging up
	}
	a := &r.agents[cs.agent]
	dest := r.tr.Agents[cs.agent]
	o := cs.outcome
	if o == Answered && (a.connected > 0 || now < a.wrapUntil) {
		o = Busy // the agent took another call while this one rang
	}
	cs.ringing = false
	a.ringing--
	if o == Answered {
		a.connected++
	}
	r.step(now, cs.agent)
	if err := r.p.LegEnded(now, ci, c.Node, dest, o); err != nil {
		return err
	}
	if o != Answered {
		return r.attempt(now, ci)
	}
	talk := time.Duration(float64(c.Talk) * a.talkScale)
	if now >= r.cfg.MeasureFrom {
		a.answered++
		if r.record {
			a.answeredAt = append(a.answeredAt, now)
		}
	}
	a.talk += r.talkWhileIn(dest, now, now+talk)
	cs.answered = true
	cs.done = true
	cs.talkEnd = now + talk
	r.res.Answered++
	r.res.AnsweredAttempts += cs.attempts
	r.res.Wait += now - c.Arrival
	if r.record {
		r.res.Waits = append(r.res.Waits, now-c.Arrival)
	}
	r.schedule(now+talk, evHangup, ci, 0)
	return nil
}

// talkWhileIn returns the part of a call from s to e on agent that falls
// in the measured shift while the agent is logged in.
func (r *runner) talkWhileIn(agent string, s, e time.Duration) time.Duration {
	s, e = max(s, r.cfg.MeasureFrom), min(e, r.tr.Span)
	if e <= s {
		return 0
	}
	return r.cfg.loggedIn(agent, s, e)
}

func (r *runner) hangup(now time.Duration, ci int) error {
	c, cs := &r.tr.Calls[ci], &r.calls[ci]
	a := &r.agents[cs.agent]
	a.connected--
	a.wrapUntil = now + r.cfg.Wrapup
	r.step(now, cs.agent)
	return r.p.Hangup(now, ci, c.Node, r.tr.Agents[cs.agent])
}

// direct starts direct call di, unless its agent is on a call, away or has
// not joined yet (it goes to voicemail).
func (r *runner) direct(now time.Duration, di int) error {
	d := &r.tr.Direct[di]
	a := &r.agents[d.Agent]
	if a.connected > 0 || a.joinAt > now || a.away {
		return nil
	}
	a.connected++
	a.peak = max(a.peak, a.connected+a.ringing)
	r.res.Direct++
	r.step(now, d.Agent)
	r.schedule(now+d.Talk, evDirectEnd, di, 0)
	if t, ok := r.p.(Tracker); ok {
		return t.DirectStarted(now, di, r.tr.Agents[d.Agent])
	}
	return nil
}

func (r *runner) directEnd(now time.Duration, di int) error {
	d := &r.tr.Direct[di]
	a := &r.agents[d.Agent]
	a.connected--
	a.wrapUntil = now + r.cfg.Wrapup
	r.step(now, d.Agent)
	if t, ok := r.p.(Tracker); ok {
		return t.DirectEnded(now, di, r.tr.Agents[d.Agent])
	}
	return nil
}

// presenceChange logs agent of logout li out (out) or back in.
func (r *runner) presenceChange(now time.Duration, li int, out bool) error {
	l := &r.cfg.Logouts[li]
	a := &r.agents[r.index[l.Agent]]
	a.away, a.awayVia = out, l.Via
	if r.presence == nil {
		return nil
	}
	if out {
		return r.presence.LoggedOut(now, l.Agent, l.Via)
	}
	return r.presence.LoggedIn(now, l.Agent, l.Via)
}

func (r *runner) abandon(now time.Duration, ci int) error {
	c, cs := &r.tr.Calls[ci], &r.calls[ci]
	if cs.done {
		return nil
	}
	cs.done = true
	r.res.Abandoned++
	if !cs.ringing {
		return nil
	}
	cs.ringing = false
	r.agents[cs.agent].ringing--
	r.step(now, cs.agent)
	return r.p.LegEnded(now, ci, c.Node, r.tr.Agents[cs.agent], Cancelled)
}
