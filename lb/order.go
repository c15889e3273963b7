package lb

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// The ranking rule, written once in Go: the memory backend ranks with it.
// A store backend ranks inside its store, as its scripts write the same
// rule (lb/redislb/scripts/prelude.lua), and the conformance suite
// (lb/lbtest) holds every backend to it.

// candidate is one destination being ranked, with the facts the tie policy
// needs.
type candidate struct {
	dest string
	// tier is what ranks first: twice the load, plus one in the no-answer
	// back-off (after its equally loaded peers). One field, not two, as
	// ranking copies candidates.
	tier    int
	lastSeq uint64  // order of the destination's last hold start; 0 = never
	score   float64 // the tie score (fewest, talk), as a rank score (rankOf)
	pos     int     // position in the input list
	key     uint64  // random tie key, for TieRandom
	// state is the memory backend's state of the destination, nil if it
	// has none yet.
	state *destState
}

// tierOf is the tier of a candidate with load holds, back in its no-answer
// back-off.
func tierOf(load int, back bool) int {
	if back {
		return 2*load + 1
	}
	return 2 * load
}

// compare orders a before b (negative) when a is less loaded, then not in
// its no-answer back-off (tier), then by tie policy, then by list
// position.
func compare(a, b *candidate, tie TiePolicy) int {
	if a.tier != b.tier {
		return a.tier - b.tier
	}
	switch tie {
	case TieFewest, TieTalk:
		if a.score != b.score {
			if a.score < b.score {
				return -1
			}
			return 1
		}
		fallthrough
	case TieLRU:
		if a.lastSeq != b.lastSeq {
			if a.lastSeq < b.lastSeq {
				return -1
			}
			return 1
		}
	case TieRandom:
		if a.key != b.key {
			if a.key < b.key {
				return -1
			}
			return 1
		}
	}
	return a.pos - b.pos
}

// rank sorts cands from least to most loaded, breaking ties by policy. It
// sorts in place and uses rnd only for TieRandom.
func rank(cands []candidate, tie TiePolicy, rnd *rand.Rand) {
	tieKeys(cands, tie, rnd)
	slices.SortFunc(cands, func(a, b candidate) int { return compare(&a, &b, tie) })
}

// tieKeys sets the random keys of TieRandom.
func tieKeys(cands []candidate, tie TiePolicy, rnd *rand.Rand) {
	if tie == TieRandom {
		for i := range cands {
			cands[i].key = rnd.Uint64()
		}
	}
}

// scored reports whether tie ranks by a score (fewest, talk).
func (t TiePolicy) scored() bool { return t == TieFewest || t == TieTalk }

// Where a member's score starts, and its lift on return, written once in
// Go (the Redis scripts write the same in Lua): a member is scored the
// first time it is ranked, at zero within the balancer's start window and
// at the lowest score of the members it is ranked with after it; a member
// back from an absence is lifted, at its next ranking, to the mean score
// of the members it is ranked with. The others of a ranking are the
// members scored before it and not themselves returning.

// Lift states of a member.
const (
	liftNone    = 0
	liftPending = 1 // back: lifted at its next ranking
	liftAway    = 2 // away: pending once it answers
)

// peers sums what starting and lifting need of the members of a ranking
// that are scored and not returning: their lowest rank score and the mean
// of their scores at now.
type peers struct {
	low  float64 // the lowest rank score, once n > 0
	sum  float64 // scores at now
	n    int
	now  int64
	half time.Duration
}

// add counts a member of rank score r.
func (p *peers) add(r float64) {
	if p.n == 0 || r < p.low {
		p.low = r
	}
	p.sum += scoreOf(r, p.now, p.half)
	p.n++
}

// start returns the rank score of a member first ranked, inWindow when the
// balancer is within its start window.
func (p *peers) start(inWindow bool) float64 {
	if inWindow || p.n == 0 {
		return noScore
	}
	return p.low
}

// lifted returns rank score r of a returning member, lifted to the mean
// of the others if below it.
func (p *peers) lifted(r float64) float64 {
	if p.n == 0 {
		return r
	}
	if mean := rankOf(p.sum/float64(p.n), p.now, p.half); mean > r {
		return mean
	}
	return r
}

// Fading, written once in Go: tie scores fade by half every half-life, so a score s as of time t weighs s·2^(-(now-t)/half) at now.
// Two members compare the same at any now by log2(s) + t/half, their rank
// score, which never needs updating, so ranking takes no exponential per
// member.

// noScore is the rank score of a score of zero: below every other.
var noScore = math.Inf(-1)

// rankOf returns the rank score of score s as of now (unix ns),
// fading with half-life half (<= 0: never).
func rankOf(s float64, now int64, half time.Duration) float64 {
	r := math.Log2(s) // noScore for 0
	if half > 0 {
		r += float64(now) / float64(half)
	}
	return r
}

// scoreOf returns the score that rank score r weighs at now.
func scoreOf(r float64, now int64, half time.Duration) float64 {
	if half > 0 {
		r -= float64(now) / float64(half)
	}
	return math.Exp2(r)
}
