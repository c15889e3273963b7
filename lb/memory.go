package lb

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Memory is the in-process balancer: one switch, state in the Go runtime.
// One mutex guards all state, so choosing and holding are one atomic step.
//
// Memory is bounded by design: a destination with holds or drained is
// kept, and of the idle ones only the Options.MaxIdle used most recently.
// A snapshot copies state in slices, letting calls in between, so however
// much state there is no call waits long behind it.
//
// Its zero value is not usable; create it with NewMemory. It is safe for
// simultaneous use by multiple goroutines.
type Memory struct {
	name string
	opts Options
	now  func() time.Time // the clock; tests replace it

	mu     sync.Mutex
	dests  map[string]*destState
	seq    uint64 // counts hold starts, for lru ties
	rnd    *rand.Rand
	closed bool
	// cands is scratch space for ranking, reused under mu.
	cands []candidate
	// idle lists the destinations with no hold and not drained, most
	// recently idle first; idle.prev is the one idle longest.
	idle    destState
	idleLen int
}

// destState is what Memory knows of one destination (one member key).
type destState struct {
	name     string          // its key in Memory.dests
	holds    map[string]hold // call id -> hold
	talking  int             // holds answered
	oldest   int64           // no hold started before this (unix ns)
	lastSeq  uint64          // seq of the last hold start; 0 = never
	lastHold int64           // unix ns of the last hold start
	started  int64
	answered int64 // answered calls
	// rankScore is the answered calls, faded, in a form that ranks alike
	// at any time: log2(score) + t/half for a score as of time t (see
	// rankOf), so ranking needs no exponential per member.
	rankScore float64
	scored    bool // the score is known
	// wrapUntil is when the wrap-up after its last answered call ends
	// (unix ns).
	wrapUntil int64
	drained   bool
	// prev and next link it into Memory.idle while it is idle.
	prev, next *destState
}

// hold is one live hold.
type hold struct {
	start    int64 // unix ns
	answered bool
}

// state names h's state as HoldInfo.State shows it.
func (h hold) state() string {
	if h.answered {
		return StateTalking
	}
	return StateRinging
}

// snapshotSlice is how many destinations and holds a snapshot copies per
// turn of the lock: well under a millisecond of work.
const snapshotSlice = 1024

// NewMemory returns an in-memory balancer named name (the name only shows in
// snapshots). It rejects options that need Redis.
func NewMemory(name string, opts Options) (*Memory, error) {
	if err := checkBalancerName(name); err != nil {
		return nil, fmt.Errorf("ringlb: open: %w", err)
	}
	opts = opts.withDefaults().keyed()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("ringlb: open %q: %w", name, err)
	}
	if opts.URL != "" {
		return nil, fmt.Errorf("ringlb: open %q: %w: a url needs the Redis backend", name, ErrInvalidArgument)
	}
	m := &Memory{
		name:  name,
		opts:  opts,
		now:   time.Now,
		dests: make(map[string]*destState),
		rnd:   rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
	m.idle.prev, m.idle.next = &m.idle, &m.idle
	return m, nil
}

// SetClock makes m read the time from now instead of the wall clock: for
// simulations and tests that run on virtual time. Set it before m is used.
func (m *Memory) SetClock(now func() time.Time) {
	m.mu.Lock()
	m.now = now
	m.mu.Unlock()
}

// key returns the member key under which dest counts.
func (m *Memory) key(dest string) string { return m.opts.UserDomains.MemberKey(dest) }

// state returns the state of member key dest, creating it. Requires m.mu
// held.
func (m *Memory) state(dest string) *destState {
	d := m.dests[dest]
	if d == nil {
		d = &destState{name: strings.Clone(dest)} // dest may be a view of C memory
		m.dests[d.name] = d
		m.settle(d)
	}
	return d
}

// settle puts d on the idle list, most recent first, when it has no hold
// and is not drained, and takes it off otherwise. Requires m.mu held.
func (m *Memory) settle(d *destState) {
	idle := len(d.holds) == 0 && !d.drained
	switch {
	case idle && d.next == nil:
		d.prev, d.next = &m.idle, m.idle.next
		d.next.prev = d
		m.idle.next = d
		m.idleLen++
	case !idle && d.next != nil:
		d.prev.next, d.next.prev = d.next, d.prev
		d.prev, d.next = nil, nil
		m.idleLen--
	}
}

// forgetIdle drops the destinations idle longest beyond MaxIdle. It runs at
// the end of an operation, never while a destState found earlier in it may
// still be used. Requires m.mu held.
func (m *Memory) forgetIdle() {
	for m.idleLen > m.opts.MaxIdle {
		d := m.idle.prev
		d.prev.next, m.idle.prev = &m.idle, d.prev
		d.prev, d.next = nil, nil
		m.idleLen--
		delete(m.dests, d.name)
	}
}

// load returns the live holds of d at now, first dropping holds older than
// MaxHoldAge. Requires m.mu held.
func (m *Memory) load(d *destState, now int64) int {
	if d == nil {
		return 0
	}
	if age := m.opts.MaxHoldAge; age > 0 && len(d.holds) > 0 {
		cutoff := now - int64(age)
		if d.oldest <= cutoff {
			oldest := now
			for id, h := range d.holds {
				if h.start <= cutoff {
					m.drop(d, id, h, 0)
				} else if h.start < oldest {
					oldest = h.start
				}
			}
			d.oldest = oldest
			m.settle(d)
		}
	}
	return len(d.holds)
}

// hasRoom reports whether d may take one more hold. Requires m.mu held.
func (m *Memory) hasRoom(dest string, load int) bool {
	c := m.opts.capacityOf(dest)
	return c == 0 || load < c
}

// hold records a hold of callID on d at now. Requires m.mu held.
func (m *Memory) hold(d *destState, callID string, now int64) {
	if d.holds == nil {
		d.holds = make(map[string]hold, 1)
	}
	if len(d.holds) == 0 || now < d.oldest {
		d.oldest = now
	}
	d.holds[strings.Clone(callID)] = hold{start: now} // callID may be a view of C memory
	m.settle(d)
	m.seq++
	d.lastSeq = m.seq
	d.lastHold = now
	d.started++
}

// drop removes hold h of callID from d. wrapUntil, when after now, starts
// the member's wrap-up if the hold was answered. The caller settles d.
// Requires m.mu held.
func (m *Memory) drop(d *destState, callID string, h hold, wrapUntil int64) {
	delete(d.holds, callID)
	if h.answered {
		d.talking--
		if wrapUntil > d.wrapUntil {
			d.wrapUntil = wrapUntil
		}
	}
}

// Answered scores fade by half every half-life: a score s as of time t
// weighs s·2^(-(now-t)/half) at now. Two members compare the same at any
// now by log2(s) + t/half, their rank score, which never needs updating.

// rankOf returns the rank score of score s as of now (ns).
func (m *Memory) rankOf(s float64, now int64) float64 {
	r := math.Log2(s) // -Inf for 0: below every answered call
	if h := m.opts.HalfLife; h > 0 {
		r += float64(now) / float64(h)
	}
	return r
}

// scoreOf returns the answered calls that rank score r weighs at now.
func (m *Memory) scoreOf(r float64, now int64) float64 {
	if h := m.opts.HalfLife; h > 0 {
		r -= float64(now) / float64(h)
	}
	return math.Exp2(r)
}

// score returns d's answered calls as fewest ties weigh them at now, and
// whether d has a score yet. Requires m.mu held.
func (m *Memory) score(d *destState, now int64) (float64, bool) {
	if d == nil || !d.scored {
		return 0, false
	}
	return m.scoreOf(d.rankScore, now), true
}

// candidate fills c with what ranking needs of d at now, and reports
// whether d may be offered: not drained, not in wrap-up, with room.
// Requires m.mu held.
func (m *Memory) candidate(c *candidate, key string, d *destState, now int64) bool {
	c.load, c.lastSeq, c.score, c.scored = 0, 0, 0, false
	if d != nil {
		c.load = m.load(d, now)
		if d.drained || now < d.wrapUntil {
			return false
		}
		c.lastSeq = d.lastSeq
		c.score, c.scored = d.rankScore, d.scored
	}
	return m.hasRoom(key, c.load)
}

// ranked returns the usable members of keys (each once, named[i] the
// destination that named keys[i]), ranked. The result aliases m.cands.
// Requires m.mu held.
func (m *Memory) ranked(keys, named []string, now int64) []candidate {
	m.cands = m.cands[:0]
	for i, key := range keys {
		c := candidate{dest: named[i], pos: i}
		if m.candidate(&c, key, m.dests[key], now) {
			m.cands = append(m.cands, c)
		}
	}
	rank(m.cands, m.opts.Tie, m.rnd, math.Inf(-1))
	return m.cands
}

// Order implements Balancer.
func (m *Memory) Order(ctx context.Context, dests []string) ([]string, error) {
	return m.order(m.now(), dests)
}

func (m *Memory) order(now time.Time, dests []string) ([]string, error) {
	keys, named, err := uniqueMembers(dests, m.opts.UserDomains)
	if err != nil {
		return nil, fmt.Errorf("ringlb: order: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errClosed
	}
	cands := m.ranked(keys, named, now.UnixNano())
	out := make([]string, len(cands))
	for i, c := range cands {
		out[i] = c.dest
	}
	m.forgetIdle()
	return out, nil
}

// Next implements Balancer.
func (m *Memory) Next(ctx context.Context, dests []string, callID string) (string, error) {
	return m.next(m.now(), dests, callID)
}

func (m *Memory) next(now time.Time, dests []string, callID string) (string, error) {
	if err := checkCallID(callID); err != nil {
		return "", fmt.Errorf("ringlb: next: %w", err)
	}
	if len(dests) == 0 {
		return "", fmt.Errorf("ringlb: next: %w", ErrNoDestinations)
	}
	if err := checkCount(len(dests)); err != nil {
		return "", fmt.Errorf("ringlb: next: %w", err)
	}
	ns := now.UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return "", errClosed
	}
	// A destination this call already holds wins outright; otherwise the
	// best one with room. Duplicates need no removal: a later copy ties
	// with its first and loses on position. Destinations the balancer
	// already knows were checked when first seen; only new ones are
	// checked here, before anything changes.
	m.cands = m.cands[:0]
	for i, dest := range dests {
		key := m.key(dest)
		d := m.dests[key]
		if d == nil {
			if err := checkDest(dest); err != nil {
				return "", fmt.Errorf("ringlb: next: %w", err)
			}
		} else if m.load(d, ns) > 0 {
			if _, ok := d.holds[callID]; ok {
				return dest, nil
			}
		}
		c := candidate{dest: dest, pos: i}
		if m.candidate(&c, key, d, ns) {
			m.cands = append(m.cands, c)
		}
	}
	defer m.forgetIdle()
	if len(m.cands) == 0 {
		return "", fmt.Errorf("ringlb: next: %w (%d offered)", ErrAtCapacity, len(dests))
	}
	low := tieKeys(m.cands, m.opts.Tie, m.rnd, math.Inf(-1))
	best := &m.cands[0]
	for i := 1; i < len(m.cands); i++ {
		if c := &m.cands[i]; compare(c, best, m.opts.Tie) < 0 {
			best = c
		}
	}
	d := m.state(m.key(best.dest))
	if !d.scored && m.opts.Tie == TieFewest {
		// First seen mid-shift: it starts level with the least busy (low
		// is a rank score: candidates carry those).
		d.rankScore, d.scored = low, true
	}
	m.hold(d, callID, ns)
	return best.dest, nil
}

// Acquire implements Balancer.
func (m *Memory) Acquire(ctx context.Context, dest, callID string) (bool, error) {
	return m.acquire(m.now(), dest, callID, false)
}

// Count implements Balancer.
func (m *Memory) Count(ctx context.Context, dest, callID string) (bool, error) {
	return m.acquire(m.now(), dest, callID, true)
}

// acquire holds dest for callID; force (Count) skips the drain and
// capacity checks.
func (m *Memory) acquire(now time.Time, dest, callID string, force bool) (bool, error) {
	op := "acquire"
	if force {
		op = "count"
	}
	if err := checkHold(op, dest, callID); err != nil {
		return false, err
	}
	ns := now.UnixNano()
	key := m.key(dest)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false, errClosed
	}
	defer m.forgetIdle()
	d := m.state(key)
	n := m.load(d, ns)
	if _, ok := d.holds[callID]; ok {
		return false, nil
	}
	if force {
		m.hold(d, callID, ns)
		return true, nil
	}
	if d.drained {
		return false, fmt.Errorf("ringlb: acquire %q: %w", dest, ErrDrained)
	}
	if !m.hasRoom(key, n) {
		return false, fmt.Errorf("ringlb: acquire %q: %w (%d of %d)", dest, ErrAtCapacity, n, m.opts.capacityOf(key))
	}
	m.hold(d, callID, ns)
	return true, nil
}

// Release implements Balancer.
func (m *Memory) Release(ctx context.Context, dest, callID string) (bool, error) {
	key := m.key(dest)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false, errClosed
	}
	if d := m.dests[key]; d != nil {
		if _, ok := d.holds[callID]; ok {
			now := m.now().UnixNano()
			m.load(d, now) // an expired hold is no longer there to release
			if h, ok := d.holds[callID]; ok {
				m.drop(d, callID, h, now+int64(m.opts.wrapupOf(key)))
				m.settle(d)
				m.forgetIdle()
				return true, nil
			}
		}
	}
	// Nothing to release. Held strings were checked when they were
	// acquired, so only now is bad input worth telling apart.
	if err := checkHold("release", dest, callID); err != nil {
		return false, err
	}
	return false, nil
}

// Answered implements Balancer.
func (m *Memory) Answered(ctx context.Context, dest, callID string) (bool, error) {
	return m.answered(m.now(), dest, callID)
}

func (m *Memory) answered(now time.Time, dest, callID string) (bool, error) {
	key := m.key(dest)
	ns := now.UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false, errClosed
	}
	if d := m.dests[key]; d != nil && len(d.holds) > 0 {
		m.load(d, ns) // an expired hold is no longer there to mark
		if h, ok := d.holds[callID]; ok {
			if h.answered {
				return false, nil
			}
			h.answered = true
			// Assigning to a string key stores the key given: callID may be
			// a view of C memory, so store a copy.
			d.holds[strings.Clone(callID)] = h
			d.talking++
			d.answered++
			score, _ := m.score(d, ns)
			d.rankScore, d.scored = m.rankOf(score+1, ns), true
			return true, nil
		}
	}
	if err := checkHold("answered", dest, callID); err != nil {
		return false, err
	}
	return false, nil
}

// Load implements Balancer.
func (m *Memory) Load(ctx context.Context, dests []string) ([]int, error) {
	return m.loadAt(m.now(), dests)
}

func (m *Memory) loadAt(now time.Time, dests []string) ([]int, error) {
	if err := checkDests(dests); err != nil {
		return nil, fmt.Errorf("ringlb: load: %w", err)
	}
	ns := now.UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errClosed
	}
	out := make([]int, len(dests))
	for i, dest := range dests {
		out[i] = m.load(m.dests[m.key(dest)], ns)
	}
	m.forgetIdle()
	return out, nil
}

// Drain implements Balancer.
func (m *Memory) Drain(ctx context.Context, dest string) error { return m.setDrained(dest, true) }

// Undrain implements Balancer.
func (m *Memory) Undrain(ctx context.Context, dest string) error { return m.setDrained(dest, false) }

func (m *Memory) setDrained(dest string, drained bool) error {
	if err := checkDest(dest); err != nil {
		return fmt.Errorf("ringlb: drain: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errClosed
	}
	d := m.state(m.key(dest))
	d.drained = drained
	m.settle(d)
	m.forgetIdle()
	return nil
}

// Reset implements Balancer.
func (m *Memory) Reset(ctx context.Context, dest string) (int, error) {
	if err := checkDest(dest); err != nil {
		return 0, fmt.Errorf("ringlb: reset: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, errClosed
	}
	d := m.dests[m.key(dest)]
	if d == nil {
		return 0, nil
	}
	n := m.load(d, m.now().UnixNano()) // expired holds do not count
	clear(d.holds)
	d.talking = 0
	m.settle(d)
	m.forgetIdle()
	return n, nil
}

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
		active := m.load(d, ns)
		st := DestStatus{
			Dest:     dest,
			Active:   active,
			Ringing:  active - d.talking,
			Talking:  d.talking,
			Answered: d.answered,
			Capacity: m.opts.capacityOf(dest),
			Drained:  d.drained,
			Started:  d.started,
		}
		st.Score, _ = m.score(d, ns)
		if d.lastSeq != 0 {
			st.LastHold = time.Unix(0, d.lastHold)
		}
		if d.wrapUntil > ns {
			st.WrapupUntil = time.Unix(0, d.wrapUntil)
		}
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
			dests.add(DestStatus{Dest: dest, Capacity: m.opts.capacityOf(dest)})
		}
	}
	m.mu.Unlock()
	s := Snapshot{Name: m.name, Backend: "memory", Destinations: dests.all(), Holds: holds.all()}
	sortSnapshot(&s)
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

// sortSnapshot orders a snapshot by destination, then hold start.
func sortSnapshot(s *Snapshot) {
	sort.Slice(s.Destinations, func(i, j int) bool { return s.Destinations[i].Dest < s.Destinations[j].Dest })
	sort.Slice(s.Holds, func(i, j int) bool {
		a, b := s.Holds[i], s.Holds[j]
		if a.Dest != b.Dest {
			return a.Dest < b.Dest
		}
		if !a.Start.Equal(b.Start) {
			return a.Start.Before(b.Start)
		}
		return a.CallID < b.CallID
	})
}

// Close implements Balancer. Later calls return errClosed.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}
