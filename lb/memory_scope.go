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
// scores, the idle list and snapshots' holds stay each balancer's own.
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
	// maxWrap is the longest wrap-up of any balancer that joined (unix
	// ns): a member with no call is kept no longer than this after its
	// last answered call ended.
	maxWrap int64
	// cool lists the members with no call still kept for wrap-up, in the
	// order their last answered call ended; cool.next is the oldest.
	cool    sharedMember
	coolLen int
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
	s.cool.prev, s.cool.next = &s.cool, &s.cool
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

// maxCooling bounds the members a scope keeps for wrap-up alone: past it
// the one whose call ended longest ago is forgotten (and is out of
// wrap-up early), so memory stays bounded whatever names arrive.
const maxCooling = DefaultMaxIdle

// sharedMember is what a scope knows of one member: the calls holding it.
// It exists while a call holds it or it may be in wrap-up.
type sharedMember struct {
	name  string
	calls map[string]sharedCall // call id -> its holders
	// talking counts the calls answered.
	talking int
	// ended is when its last answered call ended (unix ns); 0 never.
	ended int64
	// expNext is the earliest expiry of any holder; 0 when none expires.
	expNext int64
	// gone is set once the scope forgot it, so a balancer that kept a
	// pointer looks it up again.
	gone bool
	// prev and next link it into Scope.cool while it has no call.
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

// load returns the calls holding sm at now, first dropping holders past
// their maximum age: a hold that lapsed stops counting in every balancer,
// even one never called again. Requires s.mu held.
func (s *Scope) load(sm *sharedMember, now int64) int {
	if sm == nil {
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
		s.settle(sm, now)
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
	if sm == nil || len(sm.calls) == 0 {
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

// hold records that b holds member key for call, until expires (0 never);
// call is b's own copy. It returns the member. old is b's last state of
// the member, if any: when the scope has forgotten it, it is taken again
// rather than made anew, so a member that goes idle and busy in turn
// allocates nothing. Requires s.mu held.
func (s *Scope) hold(key, call string, b *Memory, expires int64, old *sharedMember) *sharedMember {
	sm := s.members[key]
	if sm == nil {
		if old != nil && old.gone && old.name == key {
			sm, old.gone = old, false
			sm.talking, sm.ended, sm.expNext = 0, 0, 0
		} else {
			sm = &sharedMember{name: key}
		}
		s.members[key] = sm
	}
	if sm.calls == nil {
		sm.calls = make(map[string]sharedCall, 1)
	}
	c, ok := sm.calls[call]
	h := holder{b: b, expires: expires}
	if !ok {
		c.first = h
	} else {
		c.more = append(c.more, h)
	}
	sm.calls[call] = c
	sm.expNext = earliest(sm.expNext, expires)
	if sm.next != nil { // it has a call again: out of the cooling list
		sm.prev.next, sm.next.prev = sm.next, sm.prev
		sm.prev, sm.next = nil, nil
		s.coolLen--
	}
	return sm
}

// answered marks call's hold of sm answered: the member's talking calls
// count it once, whichever balancers mark it. Requires s.mu held.
func (s *Scope) answered(sm *sharedMember, call string) {
	if c, ok := sm.calls[call]; ok && !c.answered {
		c.answered = true
		sm.calls[call] = c
		sm.talking++
	}
}

// drop removes b's hold of call on member key, if the scope still has it
// (a holder that lapsed was dropped already: it is never counted out
// twice). When it was the call's last holder the call ends; ended, when
// set, starts the member's wrap-up if the call was answered. Requires s.mu
// held.
func (s *Scope) drop(key, call string, b *Memory, ended bool, now int64) {
	sm := s.members[key]
	if sm == nil {
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
			s.settle(sm, now)
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

// settle forgets sm when no call holds it and it cannot be in wrap-up, or
// puts it on the cooling list when it may be; then forgets the members
// past their longest wrap-up. Requires s.mu held.
func (s *Scope) settle(sm *sharedMember, now int64) {
	if len(sm.calls) == 0 {
		switch {
		case sm.ended == 0 || sm.ended+s.maxWrap <= now:
			s.forget(sm)
		case sm.next == nil:
			sm.prev, sm.next = s.cool.prev, &s.cool
			sm.prev.next = sm
			s.cool.prev = sm
			s.coolLen++
		}
	}
	for s.coolLen > 0 {
		old := s.cool.next
		if s.coolLen <= maxCooling && old.ended+s.maxWrap > now {
			break
		}
		s.forget(old)
	}
}

// forget drops sm, which no call holds. Requires s.mu held.
func (s *Scope) forget(sm *sharedMember) {
	if sm.next != nil {
		sm.prev.next, sm.next.prev = sm.next, sm.prev
		sm.prev, sm.next = nil, nil
		s.coolLen--
	}
	if s.members[sm.name] == sm {
		delete(s.members, sm.name)
	}
	clear(sm.calls) // empty already, unless forgotten over the bound
	sm.gone = true
}

// join notes a balancer's options: its longest wrap-up bounds how long a
// member with no call is kept. Requires s.mu held.
func (s *Scope) join(o *Options) {
	w := o.DefaultWrapup
	for _, d := range o.Wrapup {
		w = max(w, d)
	}
	s.maxWrap = max(s.maxWrap, int64(w))
}

// leave drops every hold b has in s, as b closes. Requires s.mu held.
func (s *Scope) leave(b *Memory, now int64) {
	for key, d := range b.dests {
		for call := range d.holds {
			s.drop(key, call, b, false, now)
		}
	}
}
