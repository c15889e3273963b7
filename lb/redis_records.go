package lb

import (
	"strconv"
	"strings"
)

// memberRecord is what the Redis backend stores of one destination, in one
// hash field: the format of rec_of and put in scripts/prelude.lua (live
// holds, drained, end of wrap-up, lru order, score time, score, talking,
// last hold start, holds started, calls answered).
type memberRecord struct {
	cnt, talking int64  // live holds, of which answered
	seq          uint64 // lru order of the last hold start; 0 = never
	last         int64  // last hold start (ms)
	started      int64  // holds started
	answered     int64  // calls answered
	score        float64
	scoreAt      int64 // when score last changed (ms); 0 = no score yet
	wrap         int64 // end of wrap-up (ms)
	drained      bool
}

// parseRecord reads a member record; a missing one (nil reply) is the zero
// record.
func parseRecord(v any) (memberRecord, bool) {
	var r memberRecord
	if v == nil {
		return r, true
	}
	s, ok := v.(string)
	if !ok {
		return r, false
	}
	f := strings.Split(s, " ")
	if len(f) != 10 {
		return r, false
	}
	var n [10]int64
	for i, x := range f {
		if i == 5 {
			continue
		}
		v, err := strconv.ParseInt(x, 10, 64)
		if err != nil || v < 0 {
			return r, false
		}
		n[i] = v
	}
	score, err := strconv.ParseFloat(f[5], 64)
	if err != nil || score < 0 || n[1] > 1 {
		return r, false
	}
	return memberRecord{cnt: n[0], drained: n[1] == 1, wrap: n[2], seq: uint64(n[3]), scoreAt: n[4], score: score,
		talking: min(n[6], n[0]), last: n[7], started: n[8], answered: n[9]}, true
}

// fadedScore is r's answered score as it weighs at now (ms), with
// half-life half (ms).
func (r *memberRecord) fadedScore(now, half int64) float64 {
	return faded(r.score, r.scoreAt, now, half)
}
