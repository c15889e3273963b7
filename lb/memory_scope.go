package lb

import (
	"fmt"
	"sync"
	"time"
)

// Scope is a set of memory balancers whose members' loads are one: a
// member's load is the number of distinct calls that hold it in any
// balancer of the scope, whichever placed the call, so two ring groups
// sharing an agent never both offer it a call, and a call held by a ring
// group on one balancer and counted by the call tracker on another counts
// once. The end of a member's last answered call is shared too: each
// balancer applies its own wrap-up time to it. Capacity, drains, tie
// scores (their start, lift on return and no-answer back-off), the idle
// list and snapshots' holds stay each balancer's own.
//
// Every memory balancer of the process (Open, NewMemory, Registry.Open)
// is in one scope, the process's; only a balancer on a clock of its own
// (SetClock, a simulation) or one a test opens with NewScope is not.
//
// One mutex guards the scope and every balancer in it, so choosing and
// holding stay one atomic step across balancers. It is safe for
// simultaneous use by multiple goroutines.
type Scope struct {
	mu      sync.Mutex
	now     func() time.Time
	members map[string]*sharedMember
	// idle lists the members no call holds, in the order they became
	// idle; idle.next is the one idle longest. Past maxIdleMembers it is
	// forgotten.
	idle    sharedMember
	idleLen int
}

// processScope is the scope of every memory balancer on the wall clock.
var processScope = NewScope(time.Now)

// NewScope returns an empty scope whose balancers read the time from now
// (nil: the wall clock): for simulations and tests that want balancers
// sharing loads among themselves only.
func NewScope(now func() time.Time) *Scope {
	if now == nil {
		now = time.Now
	}
	s := &Scope{now: now, members: make(map[string]*sharedMember)}
	s.idle.prev, s.idle.next = &s.idle, &s.idle
	return s
}

// Open returns a new memory balancer named name in s (outside any
// registry). Settings with a URL are an error: they select a store, whose
// scope is the store.
func (s *Scope) Open(name string, opts Settings) (*Memory, error) {
	c, err := openConfig(name, opts)
	if err != nil {
		return nil, err
	}
	if c.backend != nil {
		return nil, fmt.Errorf("ringlb: open %q: %w: a url selects another backend than memory", name, ErrInvalidArgument)
	}
	return s.newMemory(name, c), nil
}

// maxIdleMembers bounds the members no call holds that a scope keeps (for
// the end of their last answered call, and so that a member that goes
// idle and busy in turn costs no allocation): past it the one idle longest
// is forgotten (a wrap-up it was in ends early), so memory stays bounded
// whatever names arrive.
const maxIdleMembers = DefaultMaxIdle

// sharedMember is what a scope knows of one member: the calls holding it.
// It exists while a call holds it, and idle while it is among the
// maxIdleMembers idle most recently.
//
// While one balancer alone holds its calls (nearly always), that
// balancer's holds are the calls: solo is that balancer and soloD its
// state of the member, and calls is empty, so sharing costs the common
// case no bookkeeping of its own. When a second balancer holds a call of
// the member, the solo's holds are copied into calls, which counts
// distinct calls from then on, until none is left.
type sharedMember struct {
	name  string
	solo  *Memory
	soloD *destState
	calls map[string]sharedCall // call id -> its holders, without a solo
	// talking counts the calls answered.
	talking int
	// ended is when its last answered call ended (unix ns); 0 never.
	ended int64
	// expNext is the earliest expiry of any holder in calls; 0 when none
	// expires.
	expNext int64
	// gone is set once the scope forgot it, so a balancer that kept a
	// pointer looks it up again.
	gone bool
	// prev and next link it into Scope.idle while it has no call.
	prev, next *sharedMember
}

// sharedCall is one call holding a member: the balancers that hold it
// (nearly always one, so the first is kept inline) and whether it was
// answered.
type sharedCall struct {
	first    holder
	more     []holder
	answered bool
}

// holder is one balancer's hold of a call: expires is when it lapses by
// the balancer's maximum hold age (unix ns; 0 never).
type holder struct {
	b       *Memory
	expires int64
}

// busy reports whether a call holds sm. Requires s.mu held.
func (sm *sharedMember) busy() bool { return sm.solo != nil || len(sm.calls) > 0 }

// load returns the calls holding sm at now, first dropping holds past
// their maximum age: a hold that lapsed stops counting in every balancer,
// even one never called again. Requires s.mu held.
func (s *Scope) load(sm *sharedMember, now int64) int {
	if sm == nil {
		return 0
	}
	if sm.solo != nil {
		sm.solo.expire(sm.soloD, now) // it may leave sm idle
		if sm.solo != nil {
			return len(sm.soloD.holds)
		}
		return 0
	}
	if sm.expNext != 0 && sm.expNext <= now {
		sm.expNext = 0
		alive := func(h holder) bool { return h.expires == 0 || h.expires > now }
		for id, c := range sm.calls {
			n := 0
			for _, h := range c.more {
				if alive(h) {
					c.more[n] = h
					n++
				}
			}
			c.more = c.more[:n]
			if !alive(c.first) {
				if n == 0 {
					s.endCall(sm, id, c, false, now)
					continue
				}
				c.first, c.more = c.more[n-1], c.more[:n-1]
			}
			sm.calls[id] = c
			sm.expNext = earliest(sm.expNext, c.first.expires)
			for _, h := range c.more {
				sm.expNext = earliest(sm.expNext, h.expires)
			}
		}
		s.settle(sm)
	}
	return len(sm.calls)
}

// earliest returns the earlier of two expiries, where 0 is never.
func earliest(a, b int64) int64 {
	if a == 0 || b != 0 && b < a {
		return b
	}
	return a
}

// holds reports whether call holds member sm in any balancer. Requires
// s.mu held.
func (sm *sharedMember) holds(call string) bool {
	if sm == nil {
		return false
	}
	if sm.solo != nil {
		_, ok := sm.soloD.holds[call]
		return ok
	}
	if len(sm.calls) == 0 {
		return false
	}
	_, ok := sm.calls[call]
	return ok
}

// wrapEnd returns when sm's wrap-up of wrap after its last answered call
// ends (unix ns; 0: none). Requires s.mu held.
func (sm *sharedMember) wrapEnd(wrap time.Duration) int64 {
	if sm == nil || sm.ended == 0 || wrap <= 0 {
		return 0
	}
	return sm.ended + int64(wrap)
}

// hold records that b, whose state of member key is d, holds it for call
// (in d.holds already). It returns the member. old is b's last state of
// the member, if any: when the scope has forgotten it, it is taken again
// rather than made anew, so a member that goes idle and busy in turn
// allocates nothing. Requires s.mu held.
func (s *Scope) hold(key, call string, b *Memory, d *destState, old *sharedMember) *sharedMember {
	sm := old
	if sm == nil || sm.gone {
		if sm = s.members[key]; sm == nil {
			if old != nil && old.gone && old.name == key {
				sm, old.gone = old, false
				sm.talking, sm.ended, sm.expNext = 0, 0, 0
			} else {
				sm = &sharedMember{name: key}
			}
			s.members[key] = sm
		}
	}
	if sm.next != nil { // it has a call again: out of the idle list
		sm.prev.next, sm.next.prev = sm.next, sm.prev
		sm.prev, sm.next = nil, nil
		s.idleLen--
	}
	if len(sm.calls) == 0 && (sm.solo == nil || sm.solo == b) {
		sm.solo, sm.soloD = b, d
		return sm
	}
	if sm.solo != nil { // a second balancer: the solo's holds become calls
		s.spread(sm)
	}
	if sm.calls == nil {
		sm.calls = make(map[string]sharedCall, 2)
	}
	c, ok := sm.calls[call]
	h := holder{b: b, expires: b.expiresOf(d.holds[call])}
	if !ok {
		c.first = h
	} else {
		c.more = append(c.more, h)
	}
	sm.calls[call] = c
	sm.expNext = earliest(sm.expNext, h.expires)
	return sm
}

// spread copies the solo's holds of sm into its calls. Requires s.mu held.
func (s *Scope) spread(sm *sharedMember) {
	if sm.calls == nil {
		sm.calls = make(map[string]sharedCall, len(sm.soloD.holds)+1)
	}
	for id, h := range sm.soloD.holds {
		e := sm.solo.expiresOf(h)
		sm.calls[id] = sharedCall{first: holder{b: sm.solo, expires: e}, answered: h.answered}
		sm.expNext = earliest(sm.expNext, e)
	}
	sm.solo, sm.soloD = nil, nil
}

// answered marks call's hold of sm answered: the member's talking calls
// count it once, whichever balancers mark it. Requires s.mu held.
func (s *Scope) answered(sm *sharedMember, call string) {
	if sm.solo != nil { // the solo's hold was not answered before
		sm.talking++
		return
	}
	if c, ok := sm.calls[call]; ok && !c.answered {
		c.answered = true
		sm.calls[call] = c
		sm.talking++
	}
}

// drop removes b's hold of call on sm (gone from b's holds already; it
// was answered if answered), if the scope still has it (a holder that
// lapsed was dropped already: it is never counted out twice). When it was
// the call's last holder the call ends; ended, when set, starts the
// member's wrap-up if the call was answered. Requires s.mu held.
func (s *Scope) drop(sm *sharedMember, call string, b *Memory, answered, ended bool, now int64) {
	if sm.solo != nil {
		if sm.solo != b {
			return
		}
		if answered {
			sm.talking--
			if ended && now > sm.ended {
				sm.ended = now
			}
		}
		if len(sm.soloD.holds) == 0 {
			sm.solo, sm.soloD = nil, nil
			s.settle(sm)
		}
		return
	}
	c, ok := sm.calls[call]
	if !ok {
		return
	}
	switch {
	case c.first.b == b:
		if len(c.more) == 0 {
			s.endCall(sm, call, c, ended, now)
			s.settle(sm)
			return
		}
		c.first, c.more = c.more[len(c.more)-1], c.more[:len(c.more)-1]
	default:
		found := false
		for i := range c.more {
			if c.more[i].b == b {
				c.more[i] = c.more[len(c.more)-1]
				c.more = c.more[:len(c.more)-1]
				found = true
				break
			}
		}
		if !found {
			return
		}
	}
	sm.calls[call] = c
}

// endCall removes call c from sm. Requires s.mu held; the caller settles
// sm.
func (s *Scope) endCall(sm *sharedMember, call string, c sharedCall, ended bool, now int64) {
	delete(sm.calls, call)
	if c.answered {
		sm.talking--
		if ended && now > sm.ended {
			sm.ended = now
		}
	}
}

// settle puts sm on the idle list when no call holds it, and forgets the
// members idle longest past maxIdleMembers. Requires s.mu held.
func (s *Scope) settle(sm *sharedMember) {
	if sm.busy() || sm.next != nil {
		return
	}
	sm.prev, sm.next = s.idle.prev, &s.idle
	sm.prev.next = sm
	s.idle.prev = sm
	s.idleLen++
	for s.idleLen > maxIdleMembers {
		s.forget(s.idle.next)
	}
}

// forget drops sm, which no call holds. Requires s.mu held.
func (s *Scope) forget(sm *sharedMember) {
	if sm.next != nil {
		sm.prev.next, sm.next.prev = sm.next, sm.prev
		sm.prev, sm.next = nil, nil
		s.idleLen--
	}
	if s.members[sm.name] == sm {
		delete(s.members, sm.name)
	}
	sm.gone = true
}

// leave drops every hold b has in s, as b closes. Requires s.mu held.
func (s *Scope) leave(b *Memory, now int64) {
	for _, d := range b.dests {
		for call, h := range d.holds {
			b.drop(d, call, h, false, now)
		}
		b.settle(d)
	}
}
