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

func (r *Redis) parseSnapshot(v any) (Snapshot, error) {
	const op = "snapshot"
	vals, ok := v.([]any)
	if !ok || len(vals) != 6 {
		return Snapshot{}, replyErr(op, "%T of %d", v, lenOf(v))
	}
	known, ok1 := stringsOf(vals[1])
	drained, ok2 := stringsOf(vals[2])
	started, ok3 := stringsOf(vals[3])
	last, ok4 := stringsOf(vals[4])
	holds, ok5 := stringsOf(vals[5])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || len(started)%2 != 0 || len(last)%2 != 0 || len(holds)%3 != 0 {
		return Snapshot{}, replyErr(op, "shape")
	}
	dests := make(map[string]*DestStatus)
	get := func(d string) *DestStatus {
		st := dests[d]
		if st == nil {
			st = &DestStatus{Dest: d, Capacity: r.opts.capacityOf(d)}
			dests[d] = st
		}
		return st
	}
	for _, d := range known {
		get(d)
	}
	for d := range r.opts.Capacity {
		get(d)
	}
	for _, d := range drained {
		get(d).Drained = true
	}
	for i := 0; i < len(started); i += 2 {
		n, err := strconv.ParseInt(started[i+1], 10, 64)
		if err != nil {
			return Snapshot{}, replyErr(op, "started %q", started[i+1])
		}
		get(started[i]).Started = n
	}
	for i := 0; i < len(last); i += 2 {
		ms, err := strconv.ParseInt(last[i+1], 10, 64)
		if err != nil {
			return Snapshot{}, replyErr(op, "last %q", last[i+1])
		}
		get(last[i]).LastHold = time.UnixMilli(ms)
	}
	s := Snapshot{Name: r.name, Backend: "redis", Destinations: []DestStatus{}, Holds: []HoldInfo{}}
	for i := 0; i < len(holds); i += 3 {
		dest, call, ok := strings.Cut(holds[i], "\n")
		startS, rest, ok2 := strings.Cut(holds[i+1], "\n")
		_, node, ok3 := strings.Cut(rest, "\n")
		start, err1 := strconv.ParseInt(startS, 10, 64)
		exp, err2 := strconv.ParseFloat(holds[i+2], 64)
		if !ok || !ok2 || !ok3 || err1 != nil || err2 != nil {
			return Snapshot{}, replyErr(op, "hold %q %q", holds[i], holds[i+1])
		}
		h := HoldInfo{Dest: dest, CallID: call, Node: node, Start: time.UnixMilli(start)}
		if exp > 0 {
			h.Expires = time.UnixMilli(int64(exp))
		}
		s.Holds = append(s.Holds, h)
		get(dest).Active++
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
