package lb

import (
	"math/rand/v2"
	"slices"
)

// candidate is one destination being ranked, with the facts the tie policy
// needs. The memory backend ranks with these; the Redis scripts implement the
// same rule, and the conformance suite holds them to it.
type candidate struct {
	dest    string
	load    int
	lastSeq uint64 // order of the destination's last hold start; 0 = never
	pos     int    // position in the input list
	key     uint64 // random tie key, for TieRandom
}

// compare orders a before b (negative) when a is less loaded, then by tie
// policy, then by list position.
func compare(a, b *candidate, tie TiePolicy) int {
	if a.load != b.load {
		return a.load - b.load
	}
	switch tie {
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
	if tie == TieRandom {
		for i := range cands {
			cands[i].key = rnd.Uint64()
		}
	}
	slices.SortFunc(cands, func(a, b candidate) int { return compare(&a, &b, tie) })
}
