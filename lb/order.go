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
	dest    string
	load    int
	lastSeq uint64  // order of the destination's last hold start; 0 = never
	score   float64 // answered calls for TieFewest, as a rank score (rankOf)
	scored  bool    // score is known; else it starts at the lowest known
	pos     int     // position in the input list
	key     uint64  // random tie key, for TieRandom
}

// compare orders a before b (negative) when a is less loaded, then by tie
// policy, then by list position.
func compare(a, b *candidate, tie TiePolicy) int {
	if a.load != b.load {
		return a.load - b.load
	}
	switch tie {
	case TieFewest:
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

// tieKeys sets what compare needs beyond the loads: random keys for
// TieRandom, and for TieFewest the base score of candidates never scored,
// which it returns (noScore for other policies; see baseScores).
func tieKeys(cands []candidate, tie TiePolicy, rnd *rand.Rand) float64 {
	switch tie {
	case TieRandom:
		for i := range cands {
			cands[i].key = rnd.Uint64()
		}
	case TieFewest:
		return baseScores(cands)
	}
	return noScore
}

// baseScores gives the candidates never scored the lowest score among the
// others (noScore if none is scored): a member first seen mid-shift ties
// with the least busy, instead of taking every tie until it catches up.
func baseScores(cands []candidate) float64 {
	low, any := noScore, false
	for i := range cands {
		if cands[i].scored && (!any || cands[i].score < low) {
			low, any = cands[i].score, true
		}
	}
	for i := range cands {
		if !cands[i].scored {
			cands[i].score = low
		}
	}
	return low
}

// Fading, written once in Go: answered scores fade by half every
// half-life, so a score s as of time t weighs s·2^(-(now-t)/half) at now.
// Two members compare the same at any now by log2(s) + t/half, their rank
// score, which never needs updating, so ranking takes no exponential per
// member.

// noScore is the rank score of no answered call: below every other.
var noScore = math.Inf(-1)

// rankOf returns the rank score of s answered calls as of now (unix ns),
// fading with half-life half (<= 0: never).
func rankOf(s float64, now int64, half time.Duration) float64 {
	r := math.Log2(s) // noScore for 0
	if half > 0 {
		r += float64(now) / float64(half)
	}
	return r
}

// scoreOf returns the answered calls that rank score r weighs at now.
func scoreOf(r float64, now int64, half time.Duration) float64 {
	if half > 0 {
		r -= float64(now) / float64(half)
	}
	return math.Exp2(r)
}
