package lb

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Script replies come from outside the process: every value is checked
// before it is used, so a surprising reply is an error, never a panic.

func replyErr(op string, format string, args ...any) error {
	return &backendError{op: op, err: fmt.Errorf("unexpected script reply: "+format, args...)}
}

// parseSnapshot builds a snapshot from the pages of snapshot.lua: dest,
// record pairs of mem; member, record, expiry triples of holds; the
// balancer's time now (ms), which is off ms ahead of the server's clock
// (see begin in scripts/prelude.lua). Times are shown by the server's
// clock.
func (r *Redis) parseSnapshot(mem, holds []any, now, off int64) (Snapshot, error) {
	const op = "snapshot"
	if len(mem)%2 != 0 || len(holds)%3 != 0 {
		return Snapshot{}, replyErr(op, "shape")
	}
	half := max(r.opts.HalfLife.Milliseconds(), 0)
	dests := make(map[string]*DestStatus)
	get := func(d string) *DestStatus {
		st := dests[d]
		if st == nil {
			st = &DestStatus{Dest: d, Capacity: r.opts.capacityOf(d)}
			dests[d] = st
		}
		return st
	}
	for d := range r.opts.Capacity {
		get(d)
	}
	for i := 0; i < len(mem); i += 2 {
		d, ok := mem[i].(string)
		rec, ok2 := parseRecord(mem[i+1])
		if !ok || !ok2 {
			return Snapshot{}, replyErr(op, "record %v %v", mem[i], mem[i+1])
		}
		st := get(d)
		st.Drained, st.Started, st.Answered = rec.drained, rec.started, rec.answered
		st.Score = rec.fadedScore(now, half)
		if rec.seq != 0 {
			st.LastHold = time.UnixMilli(rec.last - off)
		}
		if rec.wrap > now {
			st.WrapupUntil = time.UnixMilli(rec.wrap - off)
		}
	}
	s := Snapshot{Name: r.name, Backend: "redis", Destinations: []DestStatus{}, Holds: []HoldInfo{}}
	for i := 0; i < len(holds); i += 3 {
		m, ok1 := holds[i].(string)
		rec, ok2 := holds[i+1].(string)
		e, ok3 := holds[i+2].(string)
		dest, call, ok4 := strings.Cut(m, "\n")
		f := strings.SplitN(rec, "\n", 4)
		if !ok1 || !ok2 || !ok3 || !ok4 || len(f) != 4 || (f[2] != "r" && f[2] != "t") {
			return Snapshot{}, replyErr(op, "hold %v %v", holds[i], holds[i+1])
		}
		start, err1 := strconv.ParseInt(f[0], 10, 64)
		exp, err2 := strconv.ParseFloat(e, 64)
		if err1 != nil || err2 != nil {
			return Snapshot{}, replyErr(op, "hold %q %q", m, rec)
		}
		h := HoldInfo{Dest: dest, CallID: call, Node: f[3], Start: time.UnixMilli(start - off), State: StateRinging}
		st := get(dest)
		st.Active++
		if f[2] == "t" {
			h.State = StateTalking
			st.Talking++
		} else {
			st.Ringing++
		}
		if exp > 0 {
			h.Expires = time.UnixMilli(int64(exp) - off)
		}
		s.Holds = append(s.Holds, h)
	}
	for _, st := range dests {
		s.Destinations = append(s.Destinations, *st)
	}
	sortSnapshot(&s)
	return s, nil
}

// int64s converts an array reply of exactly n integers.
func int64s(op string, v any, n int) ([]int64, error) {
	vals, ok := v.([]any)
	if !ok || len(vals) != n {
		return nil, replyErr(op, "%T of %d, want %d integers", v, lenOf(v), n)
	}
	out := make([]int64, n)
	for i, x := range vals {
		if out[i], ok = x.(int64); !ok {
			return nil, replyErr(op, "%v", vals)
		}
	}
	return out, nil
}

// stringsOf converts an array reply of strings.
func stringsOf(v any) ([]string, bool) {
	vals, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, len(vals))
	for i, x := range vals {
		s, ok := x.(string)
		if !ok {
			return nil, false
		}
		out[i] = s
	}
	return out, true
}

func lenOf(v any) int {
	if vals, ok := v.([]any); ok {
		return len(vals)
	}
	return -1
}
