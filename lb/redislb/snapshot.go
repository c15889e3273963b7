package redislb

import (
	"context"
	"time"

	"github.com/ringlb/ringlb/lb"
)

// snapshotPage is about how many entries one snapshot script call reads.
const snapshotPage = 250

// Snapshot implements lb.Balancer. Hold times come from the Redis clock.
// It reads the state in pages of about snapshotPage entries, one script
// call each, so that however large the balancer, no call holds Redis
// (shared by every switch) up for long: each page is bounded by
// Options.Timeout, the whole by ctx. The pages are not one instant.
func (r *Redis) Snapshot(ctx context.Context) (lb.Snapshot, error) {
	if r.closed.Load() {
		return lb.Snapshot{}, errClosed
	}
	mem, now, off, err := r.scanPart(ctx, "mem")
	if err != nil {
		return lb.Snapshot{}, err
	}
	holds, _, _, err := r.scanPart(ctx, "holds")
	if err != nil {
		return lb.Snapshot{}, err
	}
	return r.parseSnapshot(mem, holds, now, off)
}

// scanPart reads every page of one part of the state (see
// scripts/snapshot.lua): its entries, and the balancer's time of its first
// page with its offset from the server's clock.
func (r *Redis) scanPart(ctx context.Context, part string) (out []string, now, off int64, err error) {
	cursor := "0"
	for {
		if err := ctx.Err(); err != nil {
			return nil, 0, 0, &backendError{op: "snapshot", err: err}
		}
		v, err := r.run(ctx, "snapshot", scriptSnapshot,
			scriptArgs(reapLimit, []any{part, cursor, snapshotPage, r.half}, nil))
		if err != nil {
			return nil, 0, 0, err
		}
		vals, ok := v.([]any)
		if !ok || len(vals) != 4 {
			return nil, 0, 0, replyErr("snapshot", "%T of %d", v, lenOf(v))
		}
		next, ok1 := vals[0].(string)
		entries, ok2 := stringsOf(vals[1])
		t, ok3 := vals[2].(int64)
		o, ok4 := vals[3].(int64)
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return nil, 0, 0, replyErr("snapshot", "page %v", vals)
		}
		out = append(out, entries...)
		if now == 0 {
			now, off = t, o
		}
		if next == "0" {
			return out, now, off, nil
		}
		cursor = next
	}
}

// parseSnapshot builds a snapshot from the pages of snapshot.lua: the
// records of mem, the holds, the balancer's time now (ms), which is off ms
// ahead of the server's clock (see begin in scripts/prelude.lua). Times
// are shown by the server's clock. A hold seen on two pages is kept once.
func (r *Redis) parseSnapshot(mem, holds []string, now, off int64) (lb.Snapshot, error) {
	const op = "snapshot"
	dests := make(map[string]*lb.DestStatus)
	get := func(d string) *lb.DestStatus {
		st := dests[d]
		if st == nil {
			st = &lb.DestStatus{Dest: d, Capacity: r.opts.CapacityOf(d)}
			dests[d] = st
		}
		return st
	}
	for d := range r.opts.Capacity {
		get(d)
	}
	for _, text := range mem {
		rec, ok := recordFields.decode(text)
		if !ok {
			return lb.Snapshot{}, replyErr(op, "record %q", text)
		}
		st := get(rec.dest)
		st.Drained, st.Started, st.Answered, st.Score = rec.drained, rec.started, rec.answered, rec.score
		st.Active, st.Talking, st.Ringing = int(rec.cnt), int(rec.talking), int(rec.cnt-rec.talking)
		if rec.seq != 0 {
			st.LastHold = time.UnixMilli(rec.last - off)
		}
		if w := r.opts.WrapupOf(rec.dest).Milliseconds(); rec.ended > 0 && w > 0 && rec.ended+w > now {
			st.WrapupUntil = time.UnixMilli(rec.ended + w - off)
		}
		st.Unanswered = int(rec.missed)
		if rec.back > now {
			st.BackoffUntil = time.UnixMilli(rec.back - off)
		}
		st.Out = r.opts.LeftOut(int(rec.missed), rec.back > now)
	}
	s := lb.Snapshot{Name: r.name, Backend: "redis", Destinations: []lb.DestStatus{}, Holds: []lb.HoldInfo{}}
	seen := make(map[[2]string]bool, len(holds))
	for _, text := range holds {
		h, ok := holdFields.decode(text)
		if !ok {
			return lb.Snapshot{}, replyErr(op, "hold %q", text)
		}
		if seen[[2]string{h.dest, h.call}] {
			continue
		}
		seen[[2]string{h.dest, h.call}] = true
		info := lb.HoldInfo{Dest: h.dest, CallID: h.call, Node: h.node, Start: time.UnixMilli(h.start - off), State: h.state}
		get(h.dest)
		if h.expires > 0 {
			info.Expires = time.UnixMilli(h.expires - off)
		}
		s.Holds = append(s.Holds, info)
	}
	for _, st := range dests {
		s.Destinations = append(s.Destinations, *st)
	}
	s.Sort()
	return s, nil
}
