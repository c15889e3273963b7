package lb

import (
	"slices"
	"strings"
)

// What a Memory keeps of each destination, and the bookkeeping every
// operation shares: the idle list that bounds memory, expiry by maximum
// age, holds and their ends (mirrored in the scope, which counts the
// load), and what ranking needs of a destination. All of it requires m.mu
// held.

// destState is what Memory knows of one destination (one member key).
type destState struct {
	name     string          // its key in Memory.dests
	holds    map[string]hold // call id -> this balancer's hold
	oldest   int64           // no hold started before this (unix ns)
	lastSeq  uint64          // seq of the last hold start; 0 = never
	lastHold int64           // unix ns of the last hold start
	started  int64
	answered int64 // answered calls
	// rankScore is the tie score (answered calls for fewest, talk seconds
	// for talk), faded, in a form that ranks alike at any time: log2(score)
	// + t/half for a score as of time t (see rankOf), so ranking needs no
	// exponential per member.
	rankScore float64
	scored    bool // the score is known
	lift      int  // liftNone, liftPending or liftAway (order.go)
	// missed counts the offers in a row that rang out unanswered;
	// backUntil is when the no-answer back-off they earned ends (unix ns).
	missed    int
	backUntil int64
	drained   bool
	// sh is its member's state in the scope, as last looked up (see
	// Memory.shared).
	sh *sharedMember
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

// shared returns the scope's state of member key (whose state here is d,
// or nil), or nil when no call holds it and it is in no wrap-up. Requires
// m.mu held.
func (m *Memory) shared(key string, d *destState) *sharedMember {
	if d == nil {
		return m.scope.members[key]
	}
	sm := d.sh
	if sm == nil || sm.gone {
		// A forgotten state stays in d.sh until another replaces it: the
		// scope takes it again at the next hold (Scope.hold).
		if sm = m.scope.members[key]; sm != nil {
			d.sh = sm
		}
	}
	return sm
}

// load returns the calls holding member key (whose state here is d, or
// nil) in any balancer of the scope at now, first dropping this
// balancer's holds older than MaxHoldAge. Requires m.mu held.
func (m *Memory) load(key string, d *destState, now int64) int {
	m.expire(d, now)
	return m.scope.load(m.shared(key, d), now)
}

// expire drops the holds of d older than MaxHoldAge. Requires m.mu held.
func (m *Memory) expire(d *destState, now int64) {
	if d == nil {
		return
	}
	if age := m.opts.MaxHoldAge; age > 0 && len(d.holds) > 0 {
		cutoff := now - int64(age)
		if d.oldest <= cutoff {
			oldest := now
			for id, h := range d.holds {
				if h.start <= cutoff {
					m.drop(d, id, h, false, now)
				} else if h.start < oldest {
					oldest = h.start
				}
			}
			d.oldest = oldest
			m.settle(d)
		}
	}
}

// hasRoom reports whether d may take one more hold. Requires m.mu held.
func (m *Memory) hasRoom(dest string, load int) bool {
	c := m.opts.CapacityOf(dest)
	return c == 0 || load < c
}

// hold records a hold of callID on d at now, in the scope too. Requires
// m.mu held.
func (m *Memory) hold(d *destState, callID string, now int64) {
	if d.holds == nil {
		d.holds = make(map[string]hold, 1)
	}
	if len(d.holds) == 0 || now < d.oldest {
		d.oldest = now
	}
	id := strings.Clone(callID) // callID may be a view of C memory
	d.holds[id] = hold{start: now}
	d.sh = m.scope.hold(d.name, id, m, d, d.sh)
	m.settle(d)
	m.seq++
	d.lastSeq = m.seq
	d.lastHold = now
	d.started++
}

// expiresOf returns when hold h lapses by MaxHoldAge (unix ns; 0 never).
func (m *Memory) expiresOf(h hold) int64 {
	if age := m.opts.MaxHoldAge; age > 0 {
		return h.start + int64(age)
	}
	return 0
}

// drop removes hold h of callID from d, and from the scope. ended says
// the call ended (a release): if it was answered and no other balancer
// holds it, its member's wrap-up starts. The caller settles d. Requires
// m.mu held.
func (m *Memory) drop(d *destState, callID string, h hold, ended bool, now int64) {
	delete(d.holds, callID)
	if sm := m.shared(d.name, d); sm != nil {
		m.scope.drop(sm, callID, m, h.answered, ended, now)
	}
}

// score returns d's tie score at now, and whether d has a score yet.
// Requires m.mu held.
func (m *Memory) score(d *destState, now int64) (float64, bool) {
	if d == nil || !d.scored {
		return 0, false
	}
	return scoreOf(d.rankScore, now, m.opts.HalfLife), true
}

// addScore adds x to d's tie score at now; an x below zero (talk time
// across a clock stepped back) adds nothing. It refuses a total below zero
// (or not a number), which has no rank score: d keeps the score it had.
// Requires m.mu held.
func (m *Memory) addScore(d *destState, x float64, now int64) {
	x = max(x, 0)
	s, _ := m.score(d, now)
	if !(s+x >= 0) {
		return
	}
	d.rankScore, d.scored = rankOf(s+x, now, m.opts.HalfLife), true
}

// back notes that d is back, having answered a call: the end of an
// absence marked by Away and of its no-answer back-off. A call that rang
// out ends neither: a member on a break may still be offered calls.
// Requires m.mu held.
func (d *destState) back() {
	if d.lift == liftAway {
		d.lift = liftPending
	}
	d.missed, d.backUntil = 0, 0
}

// rejoin notes that d is back from an absence an operator or dialplan
// ended (Rejoin, Undrain): lifted at its next ranking, its no-answer
// back-off over. Requires m.mu held.
func (d *destState) rejoin() {
	d.lift = liftPending
	d.missed, d.backUntil = 0, 0
}

// missedOffer counts an offer to d that rang out unanswered at now and
// starts its back-off. Requires m.mu held.
func (m *Memory) missedOffer(d *destState, now int64) {
	d.missed++
	if b := m.opts.NoAnswerBackoff; b > 0 {
		d.backUntil = now + int64(b)<<min(d.missed-1, MaxNoAnswerBackoffDoublings)
	}
}

// candidate fills c with what ranking needs of member key (whose state
// here is d, or nil) at now, and reports whether it may be offered to
// callID: not drained, not in wrap-up, not left out for missing
// Options.MaxNoAnswer offers, with room. A member that callID holds in
// another balancer has room, and is not left out: the call is in its load
// already. Requires m.mu held.
func (m *Memory) candidate(c *candidate, key string, d *destState, callID string, now int64) bool {
	c.state = d
	m.expire(d, now)
	sm := m.shared(key, d)
	load := m.scope.load(sm, now)
	if sm != nil && sm.ended != 0 && now < sm.wrapEnd(m.opts.WrapupOf(key)) {
		return false
	}
	back := false
	if d != nil {
		if d.drained {
			return false
		}
		c.lastSeq, c.score = d.lastSeq, d.rankScore
		back = now < d.backUntil
		if m.opts.LeftOut(d.missed, back) && !sm.holds(callID) {
			return false
		}
	}
	c.tier = tierOf(load, back) // another balancer's calls load it too
	return m.hasRoom(key, load) || sm.holds(callID)
}

// unscored reports whether c is to be scored at this ranking: never
// scored yet, or returning.
func unscored(c candidate) bool {
	return c.state == nil || !c.state.scored || c.state.lift == liftPending
}

// scoreCandidates gives the candidates their tie scores at now, for a
// scored tie policy: a member never scored is scored here, the first time
// it is ranked, and a returning one is lifted (order.go says how). Members
// never seen get their state here. Requires m.mu held.
func (m *Memory) scoreCandidates(cands []candidate, now int64) {
	if !m.opts.Tie.scored() {
		return
	}
	if m.first == 0 {
		m.first = now
	}
	if !slices.ContainsFunc(cands, unscored) {
		return // candidate gave every one its score
	}
	// The peers' mean takes an exponential per member: only a ranking that
	// starts or lifts a member pays for it.
	p := peers{now: now, half: m.opts.HalfLife}
	for i := range cands {
		if d := cands[i].state; d != nil && d.scored && d.lift != liftPending {
			p.add(d.rankScore)
		}
	}
	inWindow := m.opts.StartWindow > 0 && now-m.first < int64(m.opts.StartWindow)
	for i := range cands {
		c := &cands[i]
		if c.state == nil {
			c.state = m.state(m.key(c.dest))
		}
		switch d := c.state; {
		case !d.scored:
			d.rankScore, d.scored = p.start(inWindow), true
			if d.lift == liftPending {
				d.lift = liftNone
			}
		case d.lift == liftPending:
			d.rankScore, d.lift = p.lifted(d.rankScore), liftNone
		}
		c.score = c.state.rankScore
	}
}

// ranked returns the usable members of keys (each once, named[i] the
// destination that named keys[i]), ranked. The result aliases m.cands.
// Requires m.mu held.
func (m *Memory) ranked(keys, named []string, now int64) []candidate {
	m.cands = m.cands[:0]
	for i, key := range keys {
		c := candidate{dest: named[i], pos: i}
		if m.candidate(&c, key, m.dests[key], "", now) {
			m.cands = append(m.cands, c)
		}
	}
	m.scoreCandidates(m.cands, now)
	rank(m.cands, m.opts.Tie, m.rnd)
	return m.cands
}
