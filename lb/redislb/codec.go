package redislb

import (
	"strconv"
	"strings"

	"github.com/ringlb/ringlb/lb"
)

// The texts in which snapshot.lua shows Go a destination's record and a
// hold: one "name=value" line per field (rec_wire and hold_wire in
// scripts/prelude.lua write them). Destinations, call ids and node names
// hold no control character (lb.TextFault), so no value holds a newline;
// a name holds no '='. Each text is decoded by one table of its fields,
// by name: every field must be there once, and nothing else.

// memberRecord is a destination's record as snapshot.lua shows it. Times
// are ms on the balancer's clock (see begin in scripts/prelude.lua).
type memberRecord struct {
	dest              string
	cnt, talking      int64 // calls holding it in the deployment, of which answered
	drained           bool
	ended             int64  // when its last answered call ended; 0 never
	seq               uint64 // lru order of the last hold start; 0 = never
	last              int64  // last hold start
	started, answered int64
	score             float64 // the tie score as it weighs at the page's time
	missed            int64   // unanswered offers in a row
	back              int64   // end of the no-answer back-off
}

var recordFields = fieldTable[memberRecord]{
	"dest":    func(r *memberRecord, v string) bool { r.dest = v; return v != "" },
	"cnt":     func(r *memberRecord, v string) bool { return count(v, &r.cnt) },
	"talking": func(r *memberRecord, v string) bool { return count(v, &r.talking) },
	"drained": func(r *memberRecord, v string) bool { r.drained = v == "1"; return v == "0" || v == "1" },
	"ended":   func(r *memberRecord, v string) bool { return count(v, &r.ended) },
	"seq": func(r *memberRecord, v string) bool {
		n, err := strconv.ParseUint(v, 10, 64)
		r.seq = n
		return err == nil
	},
	"last":     func(r *memberRecord, v string) bool { return count(v, &r.last) },
	"started":  func(r *memberRecord, v string) bool { return count(v, &r.started) },
	"answered": func(r *memberRecord, v string) bool { return count(v, &r.answered) },
	"score": func(r *memberRecord, v string) bool {
		f, err := strconv.ParseFloat(v, 64)
		r.score = f
		return err == nil && f >= 0
	},
	"missed": func(r *memberRecord, v string) bool { return count(v, &r.missed) },
	"back":   func(r *memberRecord, v string) bool { return count(v, &r.back) },
}

// holdRecord is a hold as snapshot.lua shows it. Times are ms on the
// balancer's clock; expires is 0 when the hold has no lease entry.
type holdRecord struct {
	dest, call, state, node string
	start, expires          int64
}

var holdFields = fieldTable[holdRecord]{
	"dest":  func(h *holdRecord, v string) bool { h.dest = v; return v != "" },
	"call":  func(h *holdRecord, v string) bool { h.call = v; return v != "" },
	"state": func(h *holdRecord, v string) bool { h.state = v; return v == lb.StateRinging || v == lb.StateTalking },
	"node":  func(h *holdRecord, v string) bool { h.node = v; return true },
	"start": func(h *holdRecord, v string) bool { return count(v, &h.start) },
	"expires": func(h *holdRecord, v string) bool {
		f, err := strconv.ParseFloat(v, 64) // a zset score
		h.expires = int64(f)
		return err == nil && f >= 0
	},
}

// fieldTable fills a T from a text's fields: each name's function reads
// its value into the T and reports whether the value is well formed.
type fieldTable[T any] map[string]func(*T, string) bool

// decode reads text into a T, and reports whether it holds every field
// of the table once and no other.
func (ft fieldTable[T]) decode(text string) (T, bool) {
	var out T
	seen := make(map[string]bool, len(ft))
	for line := range strings.SplitSeq(text, "\n") {
		name, value, ok := strings.Cut(line, "=")
		set := ft[name]
		if !ok || set == nil || seen[name] || !set(&out, value) {
			return out, false
		}
		seen[name] = true
	}
	return out, len(seen) == len(ft)
}

// count reads a whole number >= 0 into *n.
func count(v string, n *int64) bool {
	x, err := strconv.ParseInt(v, 10, 64)
	*n = x
	return err == nil && x >= 0
}
