package sim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/ringlb/ringlb/lb"
)

// LB drives ringlb balancers the way the Lua API is used in a dialplan: Next
// holds the chosen destination when its leg starts ringing, a failed leg is
// released at once, and an answered call is released when it ends. Call i is
// handled by Nodes[node], so several nodes may share one backend.
//
// The simulation never reads the wall clock, but the balancers do (memory
// for hold expiry, Redis for leases). Open them with holds that do not
// expire during a run (Options.MaxHoldAge < 0 and a long Lease), so that
// every hold ends by an explicit Release at simulated call end.
type LB struct {
	Nodes []lb.Balancer
	// Untracked leaves direct calls unseen, as a switch without the call
	// tracker hooks: only group calls load the members.
	Untracked bool
	// Clock, when set, is moved to each event's simulated time before the
	// balancers are called: memory balancers opened by MemorySpec read it,
	// so answered-count decay and wrap-up run on simulated time.
	Clock *Clock
	// ByGroup makes Nodes one balancer per group of the run, in the
	// configuration's order, as ringlb_ring.lua opens them (a ring group's
	// name is its balancer's): a call is placed by its group's balancer,
	// presence reaches every balancer whose group lists the agent, and a
	// direct call counts on the first of them.
	ByGroup bool
	groupOf []int      // call -> its group, with ByGroup
	members [][]string // each group's members, with ByGroup
}

// route learns each call's group, for ByGroup.
func (p *LB) route(groups []Group, calls []Call) {
	if !p.ByGroup {
		return
	}
	p.groupOf = make([]int, len(calls))
	for i, c := range calls {
		p.groupOf[i] = c.Group
	}
	p.members = make([][]string, len(groups))
	for i, g := range groups {
		p.members[i] = g.Members
	}
}

// of returns the balancer that handles call, placed on node.
func (p *LB) of(call, node int) lb.Balancer {
	if p.ByGroup {
		return p.Nodes[p.groupOf[call]]
	}
	return p.node(node)
}

// agentBalancers returns the balancers that know agent: with ByGroup those
// of the groups listing it, else the first node's.
func (p *LB) agentBalancers(agent string) []lb.Balancer {
	if !p.ByGroup {
		return p.Nodes[:1]
	}
	var out []lb.Balancer
	for i, m := range p.members {
		if slices.Contains(m, agent) {
			out = append(out, p.Nodes[i])
		}
	}
	return out
}

// Clock is simulated time as a wall clock: Epoch plus the time of the
// event being simulated.
type Clock struct {
	Epoch time.Time
	now   time.Duration
}

// Now returns the simulated time.
func (c *Clock) Now() time.Time { return c.Epoch.Add(c.now) }

func (p *LB) at(now time.Duration) {
	if p.Clock != nil {
		p.Clock.now = now
	}
}

func callID(call int) string { return fmt.Sprintf("sim-call-%d", call) }

func (p *LB) node(n int) lb.Balancer { return p.Nodes[n%len(p.Nodes)] }

// Next implements Policy.
func (p *LB) Next(now time.Duration, call, node int, remaining []string) (string, error) {
	p.at(now)
	return p.of(call, node).Next(context.Background(), remaining, callID(call))
}

// LeftOut implements outReporter: whether the balancer placing call
// leaves agent out for offers it left unanswered (lb.Options.MaxNoAnswer),
// as its snapshot says.
func (p *LB) LeftOut(now time.Duration, call, node int, agent string) bool {
	p.at(now)
	s, err := p.of(call, node).Snapshot(context.Background())
	if err != nil {
		return false
	}
	for _, d := range s.Destinations {
		if d.Dest == agent {
			return d.Out
		}
	}
	return false
}

// LegEnded implements Policy: an answered leg is marked answered (the ring
// helper does so), one that rang out is released as unanswered (the ring
// helper does so for a no-answer hangup cause), any other is released.
func (p *LB) LegEnded(now time.Duration, call, node int, dest string, o Outcome) error {
	p.at(now)
	var err error
	switch o {
	case Answered:
		_, err = p.of(call, node).Answered(context.Background(), dest, callID(call))
	case NoAnswer:
		_, err = p.of(call, node).Unanswered(context.Background(), dest, callID(call))
	default:
		_, err = p.of(call, node).Release(context.Background(), dest, callID(call))
	}
	return err
}

// Hangup implements Policy.
func (p *LB) Hangup(now time.Duration, call, node int, dest string) error {
	p.at(now)
	ok, err := p.of(call, node).Release(context.Background(), dest, callID(call))
	if err == nil && !ok {
		err = fmt.Errorf("release %q: no hold (did it expire?)", dest)
	}
	return err
}

func directID(id int) string { return fmt.Sprintf("sim-direct-%d", id) }

// DirectStarted implements Tracker as ringlb_track.lua does: the call
// counts on the member (Count) and is answered.
func (p *LB) DirectStarted(now time.Duration, id int, agent string) error {
	if p.Untracked {
		return nil
	}
	p.at(now)
	b := p.agentBalancers(agent)[0]
	if _, err := b.Count(context.Background(), agent, directID(id)); err != nil {
		return err
	}
	_, err := b.Answered(context.Background(), agent, directID(id))
	return err
}

// DirectEnded implements Tracker: the hang-up releases the hold.
func (p *LB) DirectEnded(now time.Duration, id int, agent string) error {
	if p.Untracked {
		return nil
	}
	p.at(now)
	_, err := p.agentBalancers(agent)[0].Release(context.Background(), agent, directID(id))
	return err
}

// Genesis models genesis's BALANCING mode with a balancer shared by every
// node: one count per destination, raised when a leg starts ringing and
// lowered (never below zero) as soon as the leg answers, times out or fails,
// so an agent on a call counts zero. Next picks the first destination with
// the lowest count in list order. The choice and the increment are separate
// steps: the increment lands Gap after the choice (genesis's MGET, then INCR
// one round trip later), and a choice made in between does not see it.
type Genesis struct {
	Gap     time.Duration
	counts  map[string]int
	pending []pendingIncr
}

type pendingIncr struct {
	at   time.Duration
	dest string
	call int
}

// NewGenesis returns the genesis model with the given choose→increment gap.
func NewGenesis(gap time.Duration) *Genesis {
	return &Genesis{Gap: gap, counts: make(map[string]int)}
}

// settle applies the increments that have landed by now.
func (g *Genesis) settle(now time.Duration) {
	kept := g.pending[:0]
	for _, p := range g.pending {
		if p.at <= now {
			g.counts[p.dest]++
		} else {
			kept = append(kept, p)
		}
	}
	g.pending = kept
}

// Count returns the count of dest at now, as genesis's get_count would.
func (g *Genesis) Count(now time.Duration, dest string) int {
	g.settle(now)
	return g.counts[dest]
}

// Next implements Policy.
func (g *Genesis) Next(now time.Duration, call, node int, remaining []string) (string, error) {
	g.settle(now)
	best := remaining[0]
	for _, d := range remaining[1:] {
		if g.counts[d] < g.counts[best] {
			best = d
		}
	}
	if g.Gap == 0 {
		g.counts[best]++
	} else {
		g.pending = append(g.pending, pendingIncr{at: now + g.Gap, dest: best, call: call})
	}
	return best, nil
}

// LegEnded implements Policy.
func (g *Genesis) LegEnded(now time.Duration, call, node int, dest string, o Outcome) error {
	g.settle(now)
	for i, p := range g.pending {
		if p.call == call && p.dest == dest {
			// genesis rings only after its INCR returns; a leg that ends
			// first never had its increment counted, so drop it.
			g.pending = append(g.pending[:i], g.pending[i+1:]...)
			return nil
		}
	}
	if g.counts[dest] > 0 {
		g.counts[dest]--
	}
	return nil
}

// Hangup implements Policy: genesis already forgot the call when it was
// answered.
func (g *Genesis) Hangup(now time.Duration, call, node int, dest string) error { return nil }

// Sequential always rings the group in list order.
type Sequential struct{}

// Next implements Policy.
func (Sequential) Next(now time.Duration, call, node int, remaining []string) (string, error) {
	return remaining[0], nil
}

// LegEnded implements Policy.
func (Sequential) LegEnded(time.Duration, int, int, string, Outcome) error { return nil }

// Hangup implements Policy.
func (Sequential) Hangup(time.Duration, int, int, string) error { return nil }

// Random rings a uniformly random member not yet tried.
type Random struct {
	rng *rand.Rand
}

// NewRandom returns a Random policy with its own stream from seed.
func NewRandom(seed uint64) *Random {
	return &Random{rng: rand.New(rand.NewPCG(seed, 0x72616e646f6d2d70))} // "random-p"
}

// Next implements Policy.
func (p *Random) Next(now time.Duration, call, node int, remaining []string) (string, error) {
	return remaining[p.rng.IntN(len(remaining))], nil
}

// LegEnded implements Policy.
func (*Random) LegEnded(time.Duration, int, int, string, Outcome) error { return nil }

// Hangup implements Policy.
func (*Random) Hangup(time.Duration, int, int, string) error { return nil }

// LoggedOut implements Presence: a drained agent is drained in the
// balancer (ringlbctl drain); one on do-not-disturb is left out of the
// members by the ring helper, which marks it away in the balancer (Away)
// the first time it skips it.
func (p *LB) LoggedOut(now time.Duration, agent string, via Signal) error {
	p.at(now)
	for _, b := range p.agentBalancers(agent) {
		mark := b.Drain
		if via != Drained {
			mark = b.Away
		}
		if err := mark(context.Background(), agent); err != nil {
			return err
		}
	}
	return nil
}

// LoggedIn implements Presence: a drained agent is undrained; the
// balancer learns that an agent marked away is back from its next call.
func (p *LB) LoggedIn(now time.Duration, agent string, via Signal) error {
	if via != Drained {
		return nil
	}
	p.at(now)
	for _, b := range p.agentBalancers(agent) {
		if err := b.Undrain(context.Background(), agent); err != nil {
			return err
		}
	}
	return nil
}
