package lb

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// Memory is the in-process balancer: one switch, state in the Go runtime.
// A member's load is shared by every memory balancer of the process (see
// Scope): the calls that hold it in any of them. One mutex, the scope's,
// guards all state, so choosing and holding are one atomic step across
// balancers.
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
	now  func() time.Time // the scope's clock

	scope *Scope
	mu    *sync.Mutex // the scope's
	dests map[string]*destState
	seq   uint64 // counts hold starts, for lru ties
	// first is when the balancer first ranked a scored tie (unix ns; 0 =
	// not yet): its start window runs from there.
	first  int64
	rnd    *rand.Rand
	closed bool
	// cands is scratch space for ranking, reused under mu.
	cands []candidate
	// idle lists the destinations with no hold and not drained, most
	// recently idle first; idle.prev is the one idle longest.
	idle    destState
	idleLen int
}

// NewMemory returns an in-memory balancer named name (the name only shows in
// snapshots). It refuses options with a URL, which selects another
// backend (see Open).
func NewMemory(name string, opts Options) (*Memory, error) {
	if opts.URL != "" {
		return nil, fmt.Errorf("ringlb: open %q: %w: a url selects another backend than memory", name, ErrInvalidArgument)
	}
	b, err := Open(name, opts)
	if err != nil {
		return nil, err
	}
	return b.(*Memory), nil
}

// newMemory returns an in-memory balancer named name (checked) with c's
// options, which have no URL, in the process's scope.
func newMemory(name string, c *Config) *Memory { return processScope.newMemory(name, c) }

// newMemory returns an in-memory balancer in s named name (checked) with
// c's options, which have no URL.
func (s *Scope) newMemory(name string, c *Config) *Memory {
	m := &Memory{
		name:  strings.Clone(name),
		opts:  c.Options(),
		now:   s.now,
		scope: s,
		mu:    &s.mu,
		dests: make(map[string]*destState),
		rnd:   rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
	m.idle.prev, m.idle.next = &m.idle, &m.idle
	return m
}

// SetClock makes m read the time from now instead of the wall clock: for
// simulations and tests that run on virtual time. As times of two clocks
// do not compare, m leaves its scope for one of its own (NewScope): it
// shares loads with no other balancer. Set it before m is used.
func (m *Memory) SetClock(now func() time.Time) {
	s := NewScope(now)
	m.mu.Lock()
	m.scope.leave(m, m.now().UnixNano())
	for _, d := range m.dests {
		d.sh = nil // the old scope's
	}
	old := m.mu
	m.scope, m.mu, m.now = s, &s.mu, now
	old.Unlock()
}

// Order implements Balancer.
func (m *Memory) Order(ctx context.Context, dests []string) ([]string, error) {
	return m.order(m.now(), dests)
}

func (m *Memory) order(now time.Time, dests []string) ([]string, error) {
	keys, named, err := UniqueMembers(dests, m.opts.UserDomains)
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
	if err := CheckCallID(callID); err != nil {
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
			if err := CheckDest(dest); err != nil {
				return "", fmt.Errorf("ringlb: next: %w", err)
			}
		} else if len(d.holds) > 0 {
			m.expire(d, ns)
			if _, ok := d.holds[callID]; ok {
				return dest, nil
			}
		}
		c := candidate{dest: dest, pos: i}
		if m.candidate(&c, key, d, callID, ns) {
			m.cands = append(m.cands, c)
		}
	}
	defer m.forgetIdle()
	if len(m.cands) == 0 {
		return "", fmt.Errorf("ringlb: next: %w (%d offered)", ErrAtCapacity, len(dests))
	}
	m.scoreCandidates(m.cands, ns)
	tieKeys(m.cands, m.opts.Tie, m.rnd)
	best := &m.cands[0]
	for i := 1; i < len(m.cands); i++ {
		if c := &m.cands[i]; compare(c, best, m.opts.Tie) < 0 {
			best = c
		}
	}
	d := best.state
	if d == nil {
		d = m.state(m.key(best.dest))
	}
	m.hold(d, callID, ns)
	return best.dest, nil
}

// Acquire implements Balancer.
func (m *Memory) Acquire(ctx context.Context, dest, callID string) (bool, error) {
	return m.acquire(m.now(), dest, callID, Checked)
}

// Count implements Balancer.
func (m *Memory) Count(ctx context.Context, dest, callID string) (bool, error) {
	return m.acquire(m.now(), dest, callID, Counted)
}

// acquire holds dest for callID under admission a.
func (m *Memory) acquire(now time.Time, dest, callID string, a Admission) (bool, error) {
	op := a.Op()
	if err := CheckHold(op, dest, callID); err != nil {
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
	n := m.load(key, d, ns)
	if _, ok := d.holds[callID]; ok {
		return false, nil
	}
	if a == Checked && d.drained {
		return false, fmt.Errorf("ringlb: %s %q: %w", op, dest, ErrDrained)
	}
	// A call another balancer holds on the member is in its load already.
	if a == Checked && !m.hasRoom(key, n) && !m.shared(key, d).holds(callID) {
		return false, fmt.Errorf("ringlb: %s %q: %w (%d of %d)", op, dest, ErrAtCapacity, n, m.opts.CapacityOf(key))
	}
	m.hold(d, callID, ns)
	return true, nil
}

// Release implements Balancer.
func (m *Memory) Release(ctx context.Context, dest, callID string) (bool, error) {
	return m.release(dest, callID, false)
}

// Unanswered implements Balancer.
func (m *Memory) Unanswered(ctx context.Context, dest, callID string) (bool, error) {
	return m.release(dest, callID, true)
}

// release drops the hold of callID on dest; unanswered says that it rang
// out unanswered.
func (m *Memory) release(dest, callID string, unanswered bool) (bool, error) {
	key := m.key(dest)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false, errClosed
	}
	if d := m.dests[key]; d != nil {
		if _, ok := d.holds[callID]; ok {
			now := m.now().UnixNano()
			m.expire(d, now) // an expired hold is no longer there to release
			if h, ok := d.holds[callID]; ok {
				m.drop(d, callID, h, true, now)
				switch {
				case h.answered && m.opts.Tie == TieTalk:
					m.addScore(d, float64(now-h.start)/float64(time.Second), now)
				case !h.answered && unanswered:
					m.missedOffer(d, now)
				}
				m.settle(d)
				m.forgetIdle()
				return true, nil
			}
		}
	}
	// Nothing to release. Held strings were checked when they were
	// acquired, so only now is bad input worth telling apart.
	op := "release"
	if unanswered {
		op = "unanswered"
	}
	if err := CheckHold(op, dest, callID); err != nil {
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
		m.expire(d, ns) // an expired hold is no longer there to mark
		if h, ok := d.holds[callID]; ok {
			if h.answered {
				return false, nil
			}
			h.answered = true
			// Assigning to a string key stores the key given: callID may be
			// a view of C memory, so store a copy.
			d.holds[strings.Clone(callID)] = h
			if sm := m.shared(key, d); sm != nil {
				m.scope.answered(sm, callID)
			}
			d.answered++
			d.back()
			if m.opts.Tie != TieTalk {
				m.addScore(d, 1, ns) // talk ties score at release
			}
			return true, nil
		}
	}
	if err := CheckHold("answered", dest, callID); err != nil {
		return false, err
	}
	return false, nil
}

// Load implements Balancer.
func (m *Memory) Load(ctx context.Context, dests []string) ([]int, error) {
	return m.loadAt(m.now(), dests)
}

func (m *Memory) loadAt(now time.Time, dests []string) ([]int, error) {
	if err := CheckDests(dests); err != nil {
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
		key := m.key(dest)
		out[i] = m.load(key, m.dests[key], ns)
	}
	m.forgetIdle()
	return out, nil
}

// Drain implements Balancer.
func (m *Memory) Drain(ctx context.Context, dest string) error { return m.setDrained(dest, true) }

// Undrain implements Balancer.
func (m *Memory) Undrain(ctx context.Context, dest string) error { return m.setDrained(dest, false) }

func (m *Memory) setDrained(dest string, drained bool) error {
	return m.mark("drain", dest, func(d *destState) {
		if d.drained && !drained {
			d.rejoin()
		}
		d.drained = drained
	})
}

// Away implements Balancer.
func (m *Memory) Away(ctx context.Context, dest string) error {
	return m.mark("away", dest, func(d *destState) { d.lift = liftAway })
}

// Rejoin implements Balancer.
func (m *Memory) Rejoin(ctx context.Context, dest string) error {
	return m.mark("rejoin", dest, (*destState).rejoin)
}

// mark applies set to dest's state, for operation op (drain, away,
// rejoin): a mark an operator or the ring helper puts on a member.
func (m *Memory) mark(op, dest string, set func(*destState)) error {
	if err := CheckDest(dest); err != nil {
		return fmt.Errorf("ringlb: %s: %w", op, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errClosed
	}
	d := m.state(m.key(dest))
	set(d)
	m.settle(d)
	m.forgetIdle()
	return nil
}

// Reset implements Balancer.
func (m *Memory) Reset(ctx context.Context, dest string) (int, error) {
	if err := CheckDest(dest); err != nil {
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
	now := m.now().UnixNano()
	m.expire(d, now) // expired holds do not count
	n := len(d.holds)
	for id, h := range d.holds {
		m.drop(d, id, h, false, now)
	}
	m.settle(d)
	m.forgetIdle()
	return n, nil
}

// Close implements Balancer: its holds stop counting in the scope. Later
// calls return errClosed.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.scope.leave(m, m.now().UnixNano())
		m.closed = true
	}
	return nil
}
