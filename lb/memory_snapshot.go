package lb

import (
	"context"
	"slices"
	"time"
)

// A snapshot of a Memory copies its state in slices, letting calls in
// between, so however much state there is no call waits long behind it.

// snapshotSlice is how many destinations and holds a snapshot copies per
// turn of the lock: well under a millisecond of work.
const snapshotSlice = 1024

// Snapshot implements Balancer.
func (m *Memory) Snapshot(ctx context.Context) (Snapshot, error) {
	return m.snapshot(m.now())
}

func (m *Memory) snapshot(now time.Time) (Snapshot, error) {
	ns := now.UnixNano()
	// In slices: the lock is let go every snapshotSlice items, so calls
	// get in. Go's map iteration allows changes between steps: a
	// destination added or dropped meanwhile may or may not show, so a
	// large snapshot is not one instant. What it copies goes into chunks,
	// never into one growing slice: copying a large slice to grow it, and
	// the garbage collector's assist charged for that allocation, would
	// hold the lock for hundreds of milliseconds.
	var dests chunks[DestStatus]
	var holds chunks[HoldInfo]
	// Room for a slice is made while the lock is free, so that nothing is
	// allocated (and no GC assist is charged) while it is held.
	reserve := func() {
		dests.reserve(snapshotSlice)
		holds.reserve(snapshotSlice)
	}
	work := 0
	pause := func() {
		if work++; work >= snapshotSlice {
			m.mu.Unlock()
			work = 0
			reserve()
			m.mu.Lock()
		}
	}
	reserve()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return Snapshot{}, errClosed
	}
	for dest, d := range m.dests {
		active := m.load(dest, d, ns)
		sm := m.shared(dest, d)
		talking := 0
		if sm != nil {
			talking = sm.talking
		}
		st := DestStatus{
			Dest:     dest,
			Active:   active,
			Ringing:  active - talking,
			Talking:  talking,
			Answered: d.answered,
			Capacity: m.opts.CapacityOf(dest),
			Drained:  d.drained,
			Started:  d.started,
		}
		st.Score, _ = m.score(d, ns)
		if d.lastSeq != 0 {
			st.LastHold = time.Unix(0, d.lastHold)
		}
		if end := sm.wrapEnd(m.opts.WrapupOf(dest)); end > ns {
			st.WrapupUntil = time.Unix(0, end)
		}
		st.Unanswered = d.missed
		if d.backUntil > ns {
			st.BackoffUntil = time.Unix(0, d.backUntil)
		}
		st.Out = m.opts.LeftOut(d.missed, d.backUntil > ns)
		dests.add(st)
		for id, hd := range d.holds {
			h := HoldInfo{Dest: dest, CallID: id, Node: "local", Start: time.Unix(0, hd.start), State: hd.state()}
			if m.opts.MaxHoldAge > 0 {
				h.Expires = time.Unix(0, hd.start+int64(m.opts.MaxHoldAge))
			}
			holds.add(h)
			pause()
		}
		pause()
	}
	// Destinations that only ever appeared in options are worth showing too.
	for dest := range m.opts.Capacity {
		if _, ok := m.dests[dest]; !ok {
			dests.add(DestStatus{Dest: dest, Capacity: m.opts.CapacityOf(dest)})
		}
	}
	m.mu.Unlock()
	s := Snapshot{Name: m.name, Backend: "memory", Destinations: dests.all(), Holds: holds.all()}
	s.Sort()
	// A destination forgotten and seen again during the iteration is
	// two map entries, and may show twice.
	s.Destinations = slices.CompactFunc(s.Destinations, func(a, b DestStatus) bool { return a.Dest == b.Dest })
	s.Holds = slices.CompactFunc(s.Holds, func(a, b HoldInfo) bool { return a.Dest == b.Dest && a.CallID == b.CallID })
	return s, nil
}

// chunks collects items in fixed-size blocks, so adding one never copies
// the ones before.
type chunks[T any] struct {
	full [][]T
	cur  []T
	n    int
}

// reserve makes room for n more items, so that as many adds allocate
// nothing.
func (c *chunks[T]) reserve(n int) {
	if cap(c.cur)-len(c.cur) >= n {
		return
	}
	if len(c.cur) > 0 {
		c.full = append(c.full, c.cur)
	}
	c.cur = make([]T, 0, max(n, snapshotSlice))
}

func (c *chunks[T]) add(v T) {
	c.reserve(1)
	c.cur = append(c.cur, v)
	c.n++
}

// all returns every item in one slice, never nil.
func (c *chunks[T]) all() []T {
	out := make([]T, 0, c.n)
	for _, b := range c.full {
		out = append(out, b...)
	}
	return append(out, c.cur...)
}
