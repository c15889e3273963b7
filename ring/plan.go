package ring

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxMembers is the most members one ring may have, and the most legs one
// attempt may ring (MaxLegs: the switch's limit on a dial string).
const MaxMembers = MaxLegs

// MaxDeadline is the longest overall deadline a ring accepts: one day.
const MaxDeadline = 24 * time.Hour

// HookSeparator joins the member keys in the hangup hook that releases a
// ring's holds ("lua ringlb_release.lua <balancer> <uuid> <key>,<key>..."):
// one word whatever the number of members, since mod_lua passes a script
// at most 128 words. A member key cannot hold it.
const HookSeparator = ","

// DestVar is the channel variable each leg of a ring carries, set to the key
// of the member it belongs to, so the leg that answers tells which member
// answered and the call tracker leaves the leg to the ring.
const DestVar = "ringlb_dest"

// Spec is a ring as a script asks for it; Check turns it into a Plan. The
// zero value of each field means its default.
type Spec struct {
	// Mode is "parallel", "sequential" or "balancing", in any case, with
	// surrounding spaces ignored.
	Mode string
	// Balancer names the balancer that holds the members for the call, ""
	// for none. Balancing needs one.
	Balancer string
	// NoHolds rings a parallel or sequential ring without holds even when
	// Balancer is set (the dialplan's ringlb_nobalancer); balancing always
	// holds.
	NoHolds bool
	// Timeout is how long a member's turn rings, in seconds: 0 means
	// DefaultTimeout, else 1 to 3600, the fraction dropped (the switch
	// counts originate_timeout in whole seconds).
	Timeout float64
	// Deadline bounds the whole ring by the time elapsed since its first
	// ring, in seconds: 0 means none, else 1 to 86400. The turn running when
	// it comes is cut short, and no turn starts with less than a second left.
	Deadline float64
	// OnBackendError is what the ring does when the balancer's store fails:
	// "fallback" (also "") or "fail".
	OnBackendError string
	// Vars are channel variables of every leg. originate_timeout and
	// ringlb_dest are the ring's own and refused here.
	Vars [][2]string
	// Members are rung in this order (balancing: this order breaks ties
	// with tie = "list", and is the order when the backend fails). A later
	// member with the key of an earlier one is left out.
	Members []MemberSpec
}

// MemberSpec is one member of a Spec.
type MemberSpec struct {
	// Key is what the balancer counts the member as, e.g. user/1001. With no
	// Legs it is also the endpoint its turn rings.
	Key string
	// Timeout is how long this member's turn rings, in seconds; 0 means the
	// ring's Timeout.
	Timeout float64
	// Legs are what the member's turn dials, all at once: its phone, its
	// follow-me destinations, a forward. None means the Key itself.
	Legs []Leg
	// DND marks a member known to be on do-not-disturb: it is not rung, and
	// Plan.DND lists it.
	DND bool
}

// Plan is a checked ring in canonical form: what the ring helper dispatches
// on, and all it needs to ring.
type Plan struct {
	Mode   Mode
	Policy BackendPolicy
	// Balancer is the name of the balancer that holds the members, "" when
	// the ring holds nothing.
	Balancer string
	// Timeout is how long a turn rings by default; for a parallel ring, its
	// one attempt's length: the longest member timeout, cut to the deadline.
	Timeout time.Duration
	// Deadline is the overall limit by elapsed time; 0 means none.
	Deadline time.Duration
	// Vars are the channel variables of every leg: the Spec's, and
	// ignore_early_media=true unless given.
	Vars [][2]string
	// Members are the members to ring, in order.
	Members []Member
	// DND are the keys of the members left out for do-not-disturb.
	DND []string
}

// Member is a member of a Plan: its key, its turn's length and its legs,
// each carrying DestVar=Key (and, in a parallel ring, leg_timeout when the
// member's timeout is shorter than the attempt).
type Member struct {
	Key     string
	Timeout time.Duration
	Legs    []Leg
}

// seconds returns t in whole seconds.
func seconds(t time.Duration) int { return int(t / time.Second) }

// Check validates s and returns its plan: a known mode and policy, whole
// second timeouts in range, a balancer for balancing, 1 to MaxMembers
// members (later duplicates left out), each with a key that can go into the
// release hook (see hookFault; no HookSeparator either), and legs that are
// valid dial-string legs with variables the switch can carry.
func (s Spec) Check() (Plan, error) {
	var p Plan
	var err error
	if p.Mode, err = ParseMode(s.Mode); err != nil {
		return Plan{}, err
	}
	if p.Policy, err = ParseBackendPolicy(s.OnBackendError); err != nil {
		return Plan{}, err
	}
	if p.Timeout, err = ParseTimeout(s.Timeout); err != nil {
		return Plan{}, err
	}
	if p.Deadline, err = ParseDeadline(s.Deadline); err != nil {
		return Plan{}, err
	}
	if s.Balancer != "" {
		if f := hookFault(s.Balancer); f != "" {
			return Plan{}, invalid("balancer name %q cannot go into a hangup hook: it %s", s.Balancer, f)
		}
		if !s.NoHolds || p.Mode == ModeBalancing {
			p.Balancer = s.Balancer
		}
	}
	if p.Mode == ModeBalancing && p.Balancer == "" {
		return Plan{}, invalid("balancing needs a balancer")
	}
	if p.Vars, err = ringVars(s.Vars); err != nil {
		return Plan{}, err
	}
	if len(s.Members) == 0 {
		return Plan{}, invalid("members must be a non-empty array")
	}
	if len(s.Members) > MaxMembers {
		return Plan{}, invalid("%d members (at most %d)", len(s.Members), MaxMembers)
	}
	seen := make(map[string]bool, len(s.Members))
	legs := 0
	for i, ms := range s.Members {
		m, err := member(i+1, ms, p.Timeout)
		if err != nil {
			return Plan{}, err
		}
		if seen[m.Key] {
			continue
		}
		seen[m.Key] = true
		if ms.DND {
			p.DND = append(p.DND, m.Key)
			continue
		}
		legs += len(m.Legs)
		p.Members = append(p.Members, m)
	}
	if p.Mode == ModeParallel {
		if legs > MaxLegs {
			return Plan{}, invalid("a parallel ring of %d legs (at most %d at once)", legs, MaxLegs)
		}
		p.parallelTurn()
	}
	return p, nil
}

// parallelTurn sets a parallel ring's one attempt: as long as its longest
// member timeout, cut to the deadline, with leg_timeout on the legs of
// members whose own timeout is shorter.
func (p *Plan) parallelTurn() {
	var turn time.Duration
	for _, m := range p.Members {
		turn = max(turn, m.Timeout)
	}
	if turn == 0 {
		turn = p.Timeout
	}
	if p.Deadline > 0 && p.Deadline < turn {
		turn = p.Deadline.Truncate(time.Second)
	}
	p.Timeout = turn
	for _, m := range p.Members {
		if m.Timeout >= turn {
			continue
		}
		for j := range m.Legs {
			if !hasVar(m.Legs[j].Vars, "leg_timeout") {
				m.Legs[j].Vars = append(m.Legs[j].Vars, [2]string{"leg_timeout", strconv.Itoa(seconds(m.Timeout))})
			}
		}
	}
}

// member checks the i-th member spec and returns the member it rings.
func member(i int, ms MemberSpec, timeout time.Duration) (Member, error) {
	k := ms.Key
	switch {
	case k == "":
		return Member{}, invalid("members[%d] must have a non-empty key", i)
	case len(k) > MaxLegLen:
		return Member{}, invalid("member key of %d bytes (at most %d)", len(k), MaxLegLen)
	case strings.Contains(k, HookSeparator):
		return Member{}, invalid("member key %q has %q, which joins the keys in the hangup hook", k, HookSeparator)
	}
	if f := hookFault(k); f != "" {
		return Member{}, invalid("member key %q %s", k, f)
	}
	m := Member{Key: k, Timeout: timeout}
	if ms.Timeout != 0 {
		t, err := ParseTimeout(ms.Timeout)
		if err != nil {
			return Member{}, fmt.Errorf("ringlb: ring: member %q: %w", k, err)
		}
		m.Timeout = t
	}
	if ms.DND {
		return m, nil
	}
	legs := ms.Legs
	if len(legs) == 0 {
		legs = []Leg{{Endpoint: k}}
	}
	if len(legs) > MaxLegs {
		return Member{}, invalid("member %q has %d legs (at most %d)", k, len(legs), MaxLegs)
	}
	m.Legs = make([]Leg, len(legs))
	for j, l := range legs {
		if err := checkLeg(l.Endpoint); err != nil {
			return Member{}, err
		}
		if hasVar(l.Vars, DestVar) {
			return Member{}, invalid("member %q: a leg sets %s, which the ring sets to the member's key", k, DestVar)
		}
		vars := make([][2]string, 0, len(l.Vars)+1)
		vars = append(vars, l.Vars...)
		vars = append(vars, [2]string{DestVar, k})
		var b strings.Builder
		if err := writeVars(&b, vars, true); err != nil {
			return Member{}, err
		}
		m.Legs[j] = Leg{Endpoint: l.Endpoint, Vars: vars}
	}
	return m, nil
}

// ringVars checks the variables of every leg and adds the ring's defaults.
func ringVars(vars [][2]string) ([][2]string, error) {
	for _, own := range []string{"originate_timeout", DestVar} {
		if hasVar(vars, own) {
			return nil, invalid("vars set %s, which the ring sets itself", own)
		}
	}
	out := make([][2]string, 0, len(vars)+1)
	out = append(out, vars...)
	if !hasVar(out, "ignore_early_media") {
		out = append(out, [2]string{"ignore_early_media", "true"})
	}
	var b strings.Builder
	if err := writeVars(&b, out, false); err != nil {
		return nil, err
	}
	return out, nil
}

func hasVar(vars [][2]string, k string) bool {
	for _, kv := range vars {
		if kv[0] == k {
			return true
		}
	}
	return false
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("ringlb: ring: %s: %w", fmt.Sprintf(format, args...), ErrInvalid)
}

// ParseDeadline reads a ring's overall deadline in seconds: 0 means none;
// otherwise 1 to MaxDeadline.
func ParseDeadline(sec float64) (time.Duration, error) {
	if sec == 0 {
		return 0, nil
	}
	if math.IsNaN(sec) || sec < 1 || sec > MaxDeadline.Seconds() {
		return 0, invalid("deadline must be a number of seconds from 1 to %d", int(MaxDeadline.Seconds()))
	}
	return time.Duration(sec * float64(time.Second)), nil
}

// DialString returns the dial string of one attempt that rings members
// (all their legs at once) for secs seconds: the plan's variables and
// originate_timeout in the {} block, each leg's own in its [] block, every
// block sorted by name, as the Lua module writes a ring's (whose variables
// come from Lua tables, which have no order).
func (p Plan) DialString(members []Member, secs int) (string, error) {
	var legs []Leg
	for _, m := range members {
		for _, l := range m.Legs {
			legs = append(legs, Leg{Endpoint: l.Endpoint, Vars: byName(slices.Clone(l.Vars))})
		}
	}
	vars := append(slices.Clip(p.Vars), [2]string{"originate_timeout", strconv.Itoa(secs)})
	return LegsDialString(legs, Parallel, byName(vars))
}

// byName sorts vars by name in place and returns it.
func byName(vars [][2]string) [][2]string {
	slices.SortFunc(vars, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	return vars
}
