package main

/*
#include <stdlib.h>
#include "ringlb_call.h"
*/
import "C"

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/ringlb/ringlb/internal/hostlog"
	"github.com/ringlb/ringlb/lb"
	"github.com/ringlb/ringlb/ring"
)

// The handlers of the ring helper's rules (ringlb_lua.h): thin translators
// between C's structs and arrays and the Go package ring, which holds every
// rule.

func opDialstring(d *C.struct_ringlb_dial, out **C.char) error {
	vars, err := cVars(d.vars, d.nvars, "dial.vars")
	if err != nil {
		return err
	}
	legs, err := cLegs(d.legs, d.nlegs, ring.MaxLegs, "dial.legs")
	if err != nil {
		return err
	}
	s, err := ring.TaggedLegsDialString(legs, ring.Separator(d.sep), vars, int(d.leg_timeout), goStr(d.tag))
	if err == nil {
		putText(out, s)
	}
	return err
}

func opRingPlan(s *C.struct_ringlb_ring_spec, out **C.struct_ringlb_plan) error {
	spec, err := cSpec(s)
	if err != nil {
		return err
	}
	p, err := spec.Check()
	if err != nil {
		return err
	}
	noteGroup(&ringGroups, p)
	*out = planBlock(p, spec)
	return nil
}

// ringGroups are the members the rings of each balancer of this process
// listed.
var ringGroups ring.Groups

// noteGroup tells the switch's log, once per pair, when the members of
// plan p's group (with those left out for do-not-disturb) and those of
// another balancer's rings overlap but differ.
func noteGroup(g *ring.Groups, p ring.Plan) {
	mixed, full := g.NotePlan(p)
	if full != nil {
		hostlog.Printf(hostlog.Warning, "ring groups on more than %d balancers: the rings of %q and any later balancer "+
			"are not checked for members shared with other balancers' groups", ring.MaxGroups, full.Balancer)
	}
	for _, m := range mixed {
		shared := strings.Join(m.Shared, ", ")
		if m.NShared > len(m.Shared) {
			shared += fmt.Sprintf(" and %d more", m.NShared-len(m.Shared))
		}
		var differ string
		switch {
		case m.OnlyA == 0:
			differ = fmt.Sprintf("every member of %q is in %q, which has %d more", m.A, m.B, m.OnlyB)
		case m.OnlyB == 0:
			differ = fmt.Sprintf("every member of %q is in %q, which has %d more", m.B, m.A, m.OnlyA)
		default:
			differ = fmt.Sprintf("%d only in %q, %d only in %q", m.OnlyA, m.A, m.OnlyB, m.B)
		}
		hostlog.Printf(hostlog.Warning, "ring groups on balancers %q and %q have members in common (%s) but not all (%s): "+
			"each balancer evens out only the calls it places, so the members in both get more calls than the others; "+
			"for an even spread give the groups one balancer name (the group argument of ringlb_ring.lua, or "+
			"ringlb_group), whose options (capacity, wrap-up, tie) they then share (README, \"Groups that share agents "+
			"share a balancer\")", m.A, m.B, shared, differ)
	}
}

func opRingTurn(ctx context.Context, b *lb.Named, mode string, keys []string, timeouts []int, callID string,
	left float64, chosen, seconds, full *C.int, skipped []C.int, stop []byte) error {
	m, err := ring.ParseMode(mode)
	if err != nil {
		return err
	}
	l := ring.NoDeadline
	switch {
	case math.IsNaN(left):
		return cErr("ring_turn", "left is NaN")
	case !math.IsInf(left, 1) && left < ring.NoDeadline.Seconds():
		l = time.Duration(left * float64(time.Second))
	}
	cands := make([]ring.Candidate, len(keys))
	for i, k := range keys {
		t, err := ring.ParseTimeout(float64(timeouts[i]))
		if err != nil || timeouts[i] == 0 {
			return cErr("ring_turn", "timeouts[%d] is %d (want a plan member's, 1 to %d seconds)", i, timeouts[i],
				int(ring.MaxTimeout/time.Second))
		}
		cands[i] = ring.Candidate{Key: k, Timeout: t}
	}
	var h ring.Holder
	if b != nil {
		h = b
	}
	t, err := ring.NextTurn(ctx, h, m, cands, callID, l)
	for i := range skipped {
		skipped[i] = boolInt(slices.Contains(t.Skipped, i))
	}
	if err != nil {
		return err
	}
	*chosen, *seconds, *full = C.int(t.Member), C.int(t.Seconds), boolInt(t.Full)
	putBuf(stop, t.Stop.String())
	return nil
}

func opRingResult(causes []string, full, dnd int, stop string, result []byte, detail, summary **C.char) error {
	s, err := ring.ParseStop(stop)
	if err != nil {
		return err
	}
	if full < 0 || dnd < 0 {
		return cErr("ring_result", "full %d, dnd %d (want counts)", full, dnd)
	}
	r, d, sum := ring.Tally{Causes: causes, Full: full, DND: dnd, Stop: s}.Result()
	putBuf(result, r)
	putText(detail, d)
	putText(summary, sum)
	return nil
}

func opAct(b *lb.Named, action string, dests []string, out **C.char) error {
	s, err := snapshotOf(b)
	if err != nil {
		return err
	}
	done, err := lb.Act(context.Background(), b, s, action, dests)
	var lines strings.Builder
	for _, r := range done {
		lines.WriteString(r.Text(b.Name))
		lines.WriteByte('\n')
	}
	putText(out, lines.String())
	return err
}

// opRingCheck is ring_plan for a ring of keys alone, for ringlb.ring_check.
func opRingCheck(mode string, dests []string, timeout float64, onBackendError, balancer string, members []C.int,
	count, timeoutS *C.int) error {
	spec := ring.Spec{Mode: mode, Balancer: balancer, Timeout: timeout, OnBackendError: onBackendError,
		Members: make([]ring.MemberSpec, len(dests))}
	for i, d := range dests {
		spec.Members[i].Key = d
	}
	p, err := spec.Check()
	if err != nil {
		return err
	}
	for i, m := range p.Members {
		members[i] = C.int(indexOf(dests, m.Key))
	}
	*count = C.int(len(p.Members))
	*timeoutS = C.int(p.Timeout / time.Second)
	return nil
}

func opRingPick(ctx context.Context, b *lb.Named, mode string, dests []string, callID string, chosen *C.int,
	skipped []C.int) error {
	m, err := ring.ParseMode(mode)
	if err != nil {
		return err
	}
	d, passed, err := ring.Pick(ctx, b, m, dests, callID)
	for i, x := range dests {
		skipped[i] = boolInt(slices.Contains(passed, x))
	}
	if err == nil && d != "" {
		*chosen = C.int(indexOf(dests, d))
	}
	return err
}

func opRingHoldAll(ctx context.Context, b *lb.Named, dests []string, callID string, states []C.int) error {
	got, err := ring.HoldAll(ctx, b, dests, callID)
	for i, s := range got {
		states[i] = C.int(s)
	}
	return err
}

// reasonLen is the room ring_reason's caller gives the reason: the longest
// one, "no_answer", and its NUL, with some to spare.
const reasonLen = 16

func opRingReason(causes []string, reason []byte, last *C.int) error {
	if len(reason) < reasonLen {
		return fmt.Errorf("ringlb: ring_reason: %w: reason buffer of %d bytes (at least %d)", lb.ErrInvalidArgument,
			len(reason), reasonLen)
	}
	r, _ := ring.Reason(causes) // the last cause is causes[n-1], told as an index
	putBuf(reason, r)
	*last = C.int(len(causes) - 1)
	return nil
}

func cErr(op, format string, args ...any) error {
	return fmt.Errorf("ringlb: %s: %w: %s", op, lb.ErrInvalidArgument, fmt.Sprintf(format, args...))
}

// cVars reads n variables at p: views of C strings, valid during the call.
func cVars(p *C.struct_ringlb_var, n C.int, what string) ([][2]string, error) {
	vs, err := view(p, n, what, what+" count", ring.MaxVars)
	if err != nil {
		return nil, fmt.Errorf("ringlb: ring: %w", err)
	}
	out := make([][2]string, len(vs))
	for i, v := range vs {
		out[i] = [2]string{goStr(v.key), goStr(v.value)}
	}
	return out, nil
}

// cLegs reads n legs at p.
func cLegs(p *C.struct_ringlb_leg, n C.int, max int, what string) ([]ring.Leg, error) {
	ls, err := view(p, n, what, what+" count", max)
	if err != nil {
		return nil, fmt.Errorf("ringlb: ring: %w", err)
	}
	out := make([]ring.Leg, len(ls))
	for i, l := range ls {
		vars, err := cVars(l.vars, l.nvars, fmt.Sprintf("%s[%d].vars", what, i))
		if err != nil {
			return nil, err
		}
		out[i] = ring.Leg{Endpoint: goStr(l.endpoint), Vars: vars}
	}
	return out, nil
}

// cSpec reads the ring a caller asked for; ring.Spec.Check checks it.
func cSpec(s *C.struct_ringlb_ring_spec) (ring.Spec, error) {
	spec := ring.Spec{Mode: goStr(s.mode), Balancer: goStr(s.balancer), NoHolds: s.no_holds != 0,
		Timeout: float64(s.timeout), Deadline: float64(s.deadline), OnBackendError: goStr(s.on_backend_error)}
	var err error
	if spec.Vars, err = cVars(s.vars, s.nvars, "spec.vars"); err != nil {
		return spec, err
	}
	// One past the limit is read so that Check names it.
	ms, err := view(s.members, s.nmembers, "spec.members", "spec.nmembers", ring.MaxMembers+1)
	if err != nil {
		return spec, fmt.Errorf("ringlb: ring: %w", err)
	}
	spec.Members = make([]ring.MemberSpec, len(ms))
	for i, m := range ms {
		legs, err := cLegs(m.legs, m.nlegs, ring.MaxLegs+1, fmt.Sprintf("spec.members[%d].legs", i))
		if err != nil {
			return spec, err
		}
		spec.Members[i] = ring.MemberSpec{Key: goStr(m.key), Timeout: float64(m.timeout), DND: m.dnd != 0, Legs: legs}
	}
	return spec, nil
}

// maxPlanDials bounds the bytes of the members' dial strings a plan
// carries (planBlock); the turns of the members past it build their own.
const maxPlanDials = 64 << 10

// planBlock lays p out as struct ringlb_plan (ringlb_lua.h) in one block of
// C's heap: the struct, its members, their legs, the variables, the
// do-not-disturb keys, then the strings they point to. spec gives each
// member's index.
func planBlock(p ring.Plan, spec ring.Spec) *C.struct_ringlb_plan {
	var (
		head  = unsafe.Sizeof(C.struct_ringlb_plan{})
		msize = unsafe.Sizeof(C.struct_ringlb_plan_member{})
		lsize = unsafe.Sizeof(C.struct_ringlb_leg{})
		vsize = unsafe.Sizeof(C.struct_ringlb_var{})
		psize = unsafe.Sizeof((*C.char)(nil))
	)
	words := []string{p.Mode.String(), p.Policy.String(), p.Balancer}
	nl, nv := 0, len(p.Vars)
	for _, kv := range p.Vars {
		words = append(words, kv[0], kv[1])
	}
	for _, m := range p.Members {
		words = append(words, m.Key)
		nl += len(m.Legs)
		for _, l := range m.Legs {
			nv += len(l.Vars)
			words = append(words, l.Endpoint)
			for _, kv := range l.Vars {
				words = append(words, kv[0], kv[1])
			}
		}
	}
	words = append(words, p.DND...)
	// Each member's dial string for its whole turn, so that a turn that
	// rings it that long needs no call of its own to build one; as many as
	// fit in maxPlanDials, since each repeats the ring's variables.
	dials := make([]string, len(p.Members))
	if p.Mode != ring.ModeParallel {
		total := 0
		for i, m := range p.Members {
			d, err := p.DialString([]ring.Member{m}, int(m.Timeout/time.Second))
			if err != nil || total+len(d) > maxPlanDials {
				break
			}
			total += len(d)
			dials[i] = d
			words = append(words, d)
		}
	}
	text := 0
	for _, w := range words {
		text += len(w) + 1
	}
	fixed := head + uintptr(len(p.Members))*msize + uintptr(nl)*lsize + uintptr(nv)*vsize + uintptr(len(p.DND))*psize
	mem := C.malloc(C.size_t(fixed + uintptr(text)))
	at := head
	next := func(size uintptr, n int) unsafe.Pointer {
		ptr := unsafe.Add(mem, at)
		at += size * uintptr(n)
		return ptr
	}
	strs := unsafe.Slice((*byte)(mem), fixed+uintptr(text))[fixed:]
	str := func(v string) *C.char {
		ptr := (*C.char)(unsafe.Pointer(&strs[0]))
		strs[copy(strs, v)] = 0
		strs = strs[len(v)+1:]
		return ptr
	}
	vars := func(kvs [][2]string) (*C.struct_ringlb_var, C.int) {
		vs := unsafe.Slice((*C.struct_ringlb_var)(next(vsize, len(kvs))), len(kvs))
		for i, kv := range kvs {
			vs[i] = C.struct_ringlb_var{key: str(kv[0]), value: str(kv[1])}
		}
		if len(kvs) == 0 {
			return nil, 0
		}
		return &vs[0], C.int(len(kvs))
	}
	plan := (*C.struct_ringlb_plan)(mem)
	*plan = C.struct_ringlb_plan{mode: str(p.Mode.String()), on_backend_error: str(p.Policy.String()),
		timeout: C.int(p.Timeout / time.Second), deadline: C.double(p.Deadline.Seconds()),
		nmembers: C.int(len(p.Members)), ndnd: C.int(len(p.DND))}
	if p.Balancer != "" {
		plan.balancer = str(p.Balancer)
	}
	members := unsafe.Slice((*C.struct_ringlb_plan_member)(next(msize, len(p.Members))), len(p.Members))
	if len(members) > 0 {
		plan.members = &members[0]
	}
	for i, m := range p.Members {
		index := 0
		for j, ms := range spec.Members {
			if ms.Key == m.Key {
				index = j
				break
			}
		}
		legs := unsafe.Slice((*C.struct_ringlb_leg)(next(lsize, len(m.Legs))), len(m.Legs))
		members[i] = C.struct_ringlb_plan_member{index: C.int(index), key: str(m.Key),
			timeout: C.int(m.Timeout / time.Second), nlegs: C.int(len(legs))}
		if len(legs) > 0 {
			members[i].legs = &legs[0]
		}
		if dials[i] != "" {
			members[i].dial = str(dials[i])
		}
		for j, l := range m.Legs {
			legs[j].endpoint = str(l.Endpoint)
			legs[j].vars, legs[j].nvars = vars(l.Vars)
		}
	}
	plan.vars, plan.nvars = vars(p.Vars)
	dnd := unsafe.Slice((**C.char)(next(psize, len(p.DND))), len(p.DND))
	for i, k := range p.DND {
		dnd[i] = str(k)
	}
	if len(dnd) > 0 {
		plan.dnd = &dnd[0]
	}
	return plan
}
