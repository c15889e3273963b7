package lb

import (
	"math"
	"math/rand/v2"
	"slices"
)

// candidate is one destination being ranked, with the facts the tie policy
// needs. The memory backend ranks with these; the Redis scripts implement the
// same rule, and the conformance suite holds them to it.
type candidate struct {
	dest    string
	load    int
	lastSeq uint64  // order of the destination's last hold start; 0 = never
	score   float64 // answered calls for TieFewest, in any form that ranks alike
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
// sorts in place and uses rnd only for TieRandom. zero is the score of no
// answered call in the form the candidates' scores take.
func rank(cands []candidate, tie TiePolicy, rnd *rand.Rand, zero float64) {
	tieKeys(cands, tie, rnd, zero)
	slices.SortFunc(cands, func(a, b candidate) int { return compare(&a, &b, tie) })
}

// tieKeys sets what compare needs beyond the loads: random keys for
// TieRandom, and for TieFewest the base score of candidates never scored,
// which it returns (zero for other policies; see baseScores).
func tieKeys(cands []candidate, tie TiePolicy, rnd *rand.Rand, zero float64) float64 {
	switch tie {
	case TieRandom:
		for i := range cands {
			cands[i].key = rnd.Uint64()
		}
	case TieFewest:
		return baseScores(cands, zero)
	}
	return zero
}

// baseScores gives the candidates never scored the lowest score among the
// others (zero if none is scored): a member first seen mid-shift ties with
// the least busy, instead of taking every tie until it catches up.
func baseScores(cands []candidate, zero float64) float64 {
	low, any := zero, false
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

// faded returns score, last changed at (unix ns), as it weighs at now with
// half-life half (ns; <= 0 means no fading).
func faded(score float64, at, now, half int64) float64 {
	if half <= 0 || now <= at || score == 0 {
		return score
	}
	return score * math.Exp2(-float64(now-at)/float64(half))
}
