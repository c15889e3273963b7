package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// LookaheadOptions tune Lookahead.
type LookaheadOptions struct {
	// Base is the rule for the choices it does not weigh, and for the
	// rest of the shift in each future it plays.
	Base RuleOptions
	// Samples is the number of futures each choice is weighed on; 0
	// means 4.
	Samples int
	// Horizon, when set, ends each future that long after the choice (no
	// call arrives after it): a nearer, less noisy judge.
	Horizon time.Duration
}

// DefaultLookahead is how the report runs Lookahead: from lb's fewest
// started at zero in the first hour, four futures of 20 minutes per choice
// (longer futures judge by noise and do worse).
func DefaultLookahead() LookaheadOptions {
	return LookaheadOptions{Base: RuleOptions{Tie: RuleFewest, Start: StartZeroFirstHour}, Samples: 4, Horizon: 20 * time.Minute}
}

// Lookahead plays a shift trace with a tie rule that looks ahead without
// hindsight, to tell what a rule without knowledge of the future could
// reach: research only, far too slow for a switch.
//
// At every choice among two or more idle members it weighs each of them:
// it plays the rest of the shift on Samples futures drawn from what the
// call centre is known to be (the trace's rates, talk and patience means,
// answer chances) given everything that happened so far (who is on a call
// and for how long already, who waits), each member on the same futures,
// and takes the one that ends with the smallest sum of squared deviations
// of answered calls per logged-in hour. Calls in progress get a fresh
// remaining talk time (talk times are exponential, so what is left does not
// depend on what went by), waiting callers a fresh remaining patience and
// fresh answers from the members not tried yet; only a leg already ringing
// keeps its outcome (at most a ring timeout of hindsight). It needs a trace
// drawn for a shift (Config.Duration).
//
// Bound.Spread is then the spread the rule reached on the real trace: some
// rule without hindsight reaches it, so the best such rule is at least that
// even; Bound.Base is Base's spread.
func Lookahead(cfg Config, tr *Trace, o LookaheadOptions) (Bound, error) {
	if cfg.Duration == 0 {
		return Bound{}, fmt.Errorf("sim: lookahead: needs a shift trace (Config.Duration)")
	}
	samples := o.Samples
	if samples == 0 {
		samples = 4
	}
	var b Bound
	play := func(t *Trace, plan []int, stop bool) (*runner, *Rule, error) {
		b.Runs++
		r := NewRule(o.Base)
		r.opts.Wrapup = cfg.Wrapup
		r.plan, r.stop = plan, stop
		run, err := newRunner(cfg, t, r, false)
		if err != nil {
			return nil, nil, err
		}
		return run, r, run.loop()
	}
	base, _, err := play(tr, nil, false)
	if err != nil {
		return Bound{}, fmt.Errorf("sim: lookahead: %w", err)
	}
	baseRes := base.result("base")
	b.Base, b.BaseRule = baseRes.Spread(), o.Base.String()
	var plan []int
	for k := 0; ; k++ {
		run, r, err := play(tr, plan, true)
		if err == nil {
			res := run.result("lookahead")
			b.Spread, b.Decisions, b.Result = res.Spread(), len(r.decisions), res
			return b, nil
		}
		if !errors.Is(err, errStop) {
			return Bound{}, fmt.Errorf("sim: lookahead: %w", err)
		}
		// The choices up to here (the plan, then the base rule), and the
		// choice to weigh.
		plan = chosen(r.decisions)
		n := r.tied()
		futures := make([]*Trace, samples)
		for s := range futures {
			rng := rand.New(rand.NewPCG(cfg.Seed^0x6c6f6f6b61686561, uint64(len(plan))*uint64(samples)+uint64(s))) // "lookahea"
			until := cfg.Duration
			if o.Horizon > 0 {
				until = min(until, run.now+o.Horizon)
			}
			futures[s] = futureOf(cfg, tr, run, rng, until)
		}
		best, bestScore := 0, 0.0
		for c := range n {
			score := 0.0
			for _, f := range futures {
				fr, _, err := play(f, append(plan[:len(plan):len(plan)], c), false)
				if err != nil {
					return Bound{}, fmt.Errorf("sim: lookahead: %w", err)
				}
				res := fr.result("future")
				score += res.imbalance()
			}
			if c == 0 || score < bestScore {
				best, bestScore = c, score
			}
		}
		plan = append(plan, best)
	}
}

// tied is the number of idle members tied at the choice Next stopped at.
func (r *Rule) tied() int {
	n := 0
	for i := range r.cands {
		if r.cands[i].load == 0 {
			n++
		}
	}
	return n
}

// futureOf returns tr as known at the time run stopped, with a future drawn
// from rng: the calls that arrived keep their past, calls in progress get a
// fresh remaining talk time, waiting callers a fresh remaining patience and
// fresh answers from members not tried, and new calls arrive afresh.
func futureOf(cfg Config, tr *Trace, run *runner, rng *rand.Rand, until time.Duration) *Trace {
	t := run.now
	ft := &Trace{Agents: tr.Agents, Span: tr.Span, Direct: tr.Direct}
	noAnswer := noAnswers(cfg, tr.Agents)
	for i, c := range tr.Calls {
		cs := &run.calls[i]
		if c.Arrival > t || cs.tried == nil {
			break // not arrived yet: the new arrivals stand for it
		}
		switch {
		case cs.answered && cs.talkEnd > t:
			// On a call since talkEnd-talk: it ends after a fresh
			// remaining talk time.
			scale := run.agents[cs.agent].talkScale
			talk := time.Duration(float64(c.Talk) * scale)
			elapsed := t - (cs.talkEnd - talk)
			left := time.Duration(rng.ExpFloat64() * float64(cfg.TalkMean) * scale)
			c.Talk = time.Duration(float64(elapsed+left) / scale)
		case !cs.done:
			if c.Patience > 0 {
				c.Patience = t - c.Arrival + max(time.Millisecond, time.Duration(rng.ExpFloat64()*float64(cfg.PatienceMean)))
			}
			c.Answers, c.AnswerAfter = append([]bool(nil), c.Answers...), append([]time.Duration(nil), c.AnswerAfter...)
			members := cfg.Groups[c.Group].Members
			for mi, m := range members {
				a := run.index[m]
				if cs.tried[mi] {
					continue // tried, or ringing now: keeps its outcome
				}
				c.Answers[a] = rng.Float64() >= noAnswer[a]
				c.AnswerAfter[a] = cfg.AnswerMin + time.Duration(rng.Int64N(int64(cfg.AnswerMax-cfg.AnswerMin)+1))
			}
		}
		ft.Calls = append(ft.Calls, c)
	}
	ft.Calls = append(ft.Calls, drawCalls(cfg, tr.Agents, noAnswer, rng, t, until)...)
	return ft
}
