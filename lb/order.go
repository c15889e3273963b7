package lb

import (
	"math/rand/v2"
	"sort"
)

// candidate is one destination being ranked, with the facts the tie policy
// needs. Both backends rank with rank, so ordering cannot drift apart.
type candidate struct {
	dest    string
	load    int
	lastSeq uint64 // order of the destination's last hold start; 0 = never
	pos     int    // position in the (deduplicated) input list
	key     uint64 // random tie key, for TieRandom
}

// rank sorts cands from least to most loaded, breaking ties by policy. It
// sorts in place and uses rnd only for TieRandom.
func rank(cands []candidate, tie TiePolicy, rnd *rand.Rand) {
	if tie == TieRandom {
		for i := range cands {
			cands[i].key = rnd.Uint64()
		}
	}
	sort.Slice(cands, func(i, j int) bool {
		a, b := &cands[i], &cands[j]
		if a.load != b.load {
			return a.load < b.load
		}
		switch tie {
		case TieLRU:
			if a.lastSeq != b.lastSeq {
				return a.lastSeq < b.lastSeq
			}
		case TieRandom:
			if a.key != b.key {
				return a.key < b.key
			}
		}
		return a.pos < b.pos
	})
}
