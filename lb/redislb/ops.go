package redislb

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ringlb/ringlb/lb"
)

// The operations of lb.Balancer: each checks its input, packs the
// arguments of its script (ops.lua for all but Drain and Reset) and
// checks the reply.

// Order implements lb.Balancer: one operation of ops.lua, which ranks.
func (r *Redis) Order(ctx context.Context, dests []string) ([]string, error) {
	keys, named, err := lb.UniqueMembers(dests, r.opts.UserDomains)
	if err != nil {
		return nil, fmt.Errorf("ringlb: order: %w", err)
	}
	if r.closed.Load() {
		return nil, errClosed
	}
	if len(keys) == 0 {
		return []string{}, nil
	}
	v, err := r.runOps(ctx, "order", redisOp{kind: opOrder, args: r.rankArgs(make([]any, 0, 2+len(keys)), keys)})
	if err != nil {
		return nil, err
	}
	ranked, err := int64s("order", v[0], -1)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ranked))
	seen := make([]bool, len(keys))
	for i, x := range ranked {
		if x < 1 || x > int64(len(keys)) || seen[x-1] {
			return nil, replyErr("order", "%v", ranked)
		}
		seen[x-1] = true
		out[i] = named[x-1]
	}
	return out, nil
}

// Next implements lb.Balancer.
func (r *Redis) Next(ctx context.Context, dests []string, callID string) (string, error) {
	if err := lb.CheckCallID(callID); err != nil {
		return "", fmt.Errorf("ringlb: next: %w", err)
	}
	keys, named, err := lb.UniqueMembers(dests, r.opts.UserDomains)
	if err != nil {
		return "", fmt.Errorf("ringlb: next: %w", err)
	}
	if len(keys) == 0 {
		return "", fmt.Errorf("ringlb: next: %w", lb.ErrNoDestinations)
	}
	if r.closed.Load() {
		return "", errClosed
	}
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	if err := r.settleRetries(ctx, "next", keys, callID); err != nil {
		return "", err
	}
	// The operation may be written out after this call returns: it keeps
	// copies, never views of the caller's memory.
	callID, keys = owned(callID, keys)
	args := make([]any, 1, 3+len(keys))
	args[0] = callID
	v, sent, err := r.ops.run(ctx, "next", redisOp{kind: opNext, args: r.rankArgs(args, keys)})
	var vals []int64
	if err == nil {
		vals, err = int64s("next", v, 3)
	}
	if err == nil && (vals[0] < 0 || vals[0] > 2 || vals[0] != 0 && (vals[1] < 1 || vals[1] > int64(len(keys)))) {
		err = replyErr("next", "%v", vals)
	}
	if err != nil {
		if sent {
			r.doubt(callID, keys)
		}
		return "", err
	}
	code, i, mine := vals[0], vals[1]-1, vals[2]
	if code == 0 {
		return "", fmt.Errorf("ringlb: next: %w (%d offered)", lb.ErrAtCapacity, len(keys))
	}
	if mine == 1 {
		r.track(holdMember(keys[i], callID))
	}
	return strings.Clone(named[i]), nil // named may be a view of C memory
}

// owned returns copies of s and of each of list, in one allocation, for
// an operation to keep.
func owned(s string, list []string) (string, []string) {
	n := len(s)
	for _, x := range list {
		n += len(x)
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(s)
	for _, x := range list {
		b.WriteString(x)
	}
	all := b.String()
	out := make([]string, len(list))
	at := len(s)
	for i, x := range list {
		out[i] = all[at : at+len(x)]
		at += len(x)
	}
	return all[:len(s)], out
}

// rankArgs appends to args the arguments with which op_next and
// op_order (ops.lua) rank keys: their capacities, their wrap-ups, their
// random keys, and the keys themselves.
func (r *Redis) rankArgs(args []any, keys []string) []any {
	args = append(args, r.capacitiesArg(keys), r.wrapupsArg(keys), r.randomKeysArg(len(keys)))
	for _, k := range keys {
		args = append(args, k)
	}
	return args
}

// capacitiesArg is the ranking's capacities argument: "" when no member of
// keys has a capacity (the common case costs the server nothing), else
// each one's (0 = none) separated by commas.
func (r *Redis) capacitiesArg(keys []string) string {
	return perMemberArg(keys, r.opts.DefaultCapacity == 0 && len(r.opts.Capacity) == 0,
		func(k string) int64 { return int64(r.opts.CapacityOf(k)) })
}

// wrapupsArg is the ranking's wrap-ups argument, as capacitiesArg's (ms).
func (r *Redis) wrapupsArg(keys []string) string {
	return perMemberArg(keys, r.opts.DefaultWrapup == 0 && len(r.opts.Wrapup) == 0,
		func(k string) int64 { return r.opts.WrapupOf(k).Milliseconds() })
}

// perMemberArg is "" when none is set or no member of keys has a value
// other than 0, else each one's value separated by commas.
func perMemberArg(keys []string, none bool, value func(string) int64) string {
	if none || !slices.ContainsFunc(keys, func(k string) bool { return value(k) > 0 }) {
		return ""
	}
	b := make([]byte, 0, 4*len(keys))
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, value(k), 10)
	}
	return string(b)
}

// randomKeysArg is the ranking's random keys argument: "" unless ties are
// random, else n random numbers of 53 bits (exact as Lua numbers)
// separated by commas.
func (r *Redis) randomKeysArg(n int) string {
	if r.opts.Tie != lb.TieRandom {
		return ""
	}
	b := make([]byte, 0, 17*n)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, rand.Uint64()>>11, 10)
	}
	return string(b)
}

// Acquire implements lb.Balancer.
func (r *Redis) Acquire(ctx context.Context, dest, callID string) (bool, error) {
	return r.acquire(ctx, dest, callID, lb.Checked)
}

// Count implements lb.Balancer.
func (r *Redis) Count(ctx context.Context, dest, callID string) (bool, error) {
	return r.acquire(ctx, dest, callID, lb.Counted)
}

// acquire holds dest for callID under admission a.
func (r *Redis) acquire(ctx context.Context, dest, callID string, a lb.Admission) (bool, error) {
	op := a.Op()
	key, err := r.holdKey(op, dest, callID)
	if err != nil {
		return false, err
	}
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	if err := r.settleRetries(ctx, op, []string{key}, callID); err != nil {
		return false, err
	}
	c := r.opts.CapacityOf(key)
	// The operation may be written out after this call returns: it keeps
	// copies (of m), never views of the caller's memory.
	m := holdMember(key, callID)
	key, callID = m[:len(key)], m[len(key)+1:]
	v, sent, err := r.ops.run(ctx, op, acquireOp(callID, c, key, a, lb.StateRinging, r.maxAge))
	var vals []int64
	if err == nil {
		vals, err = acquireReply(op, v)
	}
	if err != nil {
		if sent {
			r.doubt(callID, []string{key})
		}
		return false, err
	}
	code, load, mine := vals[0], vals[1], vals[2]
	switch code {
	case 1:
		r.track(m)
		return true, nil
	case 0:
		// A retry after a lost reply lands here: keep renewing our hold.
		if mine == 1 {
			r.track(m)
		}
		return false, nil
	case -1:
		return false, fmt.Errorf("ringlb: %s %q: %w", op, dest, lb.ErrDrained)
	}
	return false, fmt.Errorf("ringlb: %s %q: %w (%d of %d)", op, dest, lb.ErrAtCapacity, load, c)
}

// acquireOp is ops.lua's acquire of dest for callID, with capacity c,
// admission a, the state the hold starts in and maximum age maxAge (ms).
func acquireOp(callID string, c int, dest string, a lb.Admission, state, maxAge string) redisOp {
	return redisOp{kind: opAcquire, args: []any{callID, c, dest, a.String(), state, maxAge}}
}

// acquireReply checks op_acquire's reply: {code, load, mine}, code 1
// (held), 0 (held already), -1 (drained) or -2 (full).
func acquireReply(op string, v any) ([]int64, error) {
	vals, err := int64s(op, v, 3)
	if err == nil && (vals[0] < -2 || vals[0] > 1) {
		err = replyErr(op, "%v", vals)
	}
	return vals, err
}

// releaseOp is ops.lua's release of members.
func (r *Redis) releaseOp(members []string) redisOp {
	args := make([]any, len(members))
	for i, m := range members {
		args[i] = m
	}
	return redisOp{kind: opRelease, args: args}
}

// Release implements lb.Balancer. When Redis cannot be reached, Release
// returns an error wrapping ErrBackend and keeps retrying in the
// background until it succeeds or the hold's lease has surely lapsed; in
// both cases the hold stops counting within one lease period.
func (r *Redis) Release(ctx context.Context, dest, callID string) (bool, error) {
	return r.release(ctx, "release", dest, callID)
}

// Unanswered implements lb.Balancer. When Redis cannot be reached, the
// hold is released as Release does it, and the unanswered offer is not
// counted.
func (r *Redis) Unanswered(ctx context.Context, dest, callID string) (bool, error) {
	return r.release(ctx, "unanswered", dest, callID)
}

// release drops the hold of callID on dest for operation op, release or
// unanswered.
func (r *Redis) release(ctx context.Context, op, dest, callID string) (bool, error) {
	key, err := r.holdKey(op, dest, callID)
	if err != nil {
		return false, err
	}
	m := holdMember(key, callID)
	r.untrack(m)
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	rop := r.releaseOp([]string{m})
	if op == "unanswered" {
		rop.kind = opUnanswered
	}
	v, err := r.ops.do(ctx, op, rop)
	if err != nil {
		r.mu.Lock()
		r.retry[m] = pendingRelease{until: time.Now().Add(r.opts.Lease)}
		r.mu.Unlock()
		return false, err
	}
	vals, err := int64s(op, v, 1)
	if err != nil {
		return false, err
	}
	return vals[0] == 1, nil
}

// Answered implements lb.Balancer.
func (r *Redis) Answered(ctx context.Context, dest, callID string) (bool, error) {
	key, err := r.holdKey("answered", dest, callID)
	if err != nil {
		return false, err
	}
	m := holdMember(key, callID)
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	v, err := r.ops.do(ctx, "answered", redisOp{kind: opAnswered, args: []any{m}})
	if err != nil {
		return false, err
	}
	n, ok := v.(int64)
	if !ok || n < 0 || n > 1 {
		return false, replyErr("answered", "%v", v)
	}
	r.mu.Lock()
	if h, ok := r.held[m]; ok {
		h.answered = true // a re-asserted hold comes back talking
		r.held[m] = h
	}
	r.mu.Unlock()
	return n == 1, nil
}

// Load implements lb.Balancer.
func (r *Redis) Load(ctx context.Context, dests []string) ([]int, error) {
	if err := lb.CheckDests(dests); err != nil {
		return nil, fmt.Errorf("ringlb: load: %w", err)
	}
	if r.closed.Load() {
		return nil, errClosed
	}
	if len(dests) == 0 {
		return []int{}, nil
	}
	args := make([]any, len(dests))
	for i, d := range dests {
		args[i] = r.opts.UserDomains.MemberKey(d)
	}
	v, err := r.runOps(ctx, "load", redisOp{kind: opLoad, args: args})
	if err != nil {
		return nil, err
	}
	vals, err := int64s("load", v[0], len(dests))
	if err != nil {
		return nil, err
	}
	out := make([]int, len(dests))
	for i, n := range vals {
		if n < 0 {
			return nil, replyErr("load", "%v", vals)
		}
		out[i] = int(n)
	}
	return out, nil
}

// Drain implements lb.Balancer. The drained set is stored in Redis, so a
// drain on one node applies on all.
func (r *Redis) Drain(ctx context.Context, dest string) error { return r.setDrained(ctx, dest, true) }

// Undrain implements lb.Balancer.
func (r *Redis) Undrain(ctx context.Context, dest string) error {
	return r.setDrained(ctx, dest, false)
}

func (r *Redis) setDrained(ctx context.Context, dest string, drained bool) error {
	if drained {
		return r.mark(ctx, "drain", "1", dest)
	}
	return r.mark(ctx, "undrain", "0", dest)
}

// Away implements lb.Balancer.
func (r *Redis) Away(ctx context.Context, dest string) error {
	return r.mark(ctx, "away", "away", dest)
}

// Rejoin implements lb.Balancer.
func (r *Redis) Rejoin(ctx context.Context, dest string) error {
	return r.mark(ctx, "rejoin", "rejoin", dest)
}

// mark runs drain.lua with flag on dest, for operation op.
func (r *Redis) mark(ctx context.Context, op, flag, dest string) error {
	if err := lb.CheckDest(dest); err != nil {
		return fmt.Errorf("ringlb: %s: %w", op, err)
	}
	if r.closed.Load() {
		return errClosed
	}
	key := r.opts.UserDomains.MemberKey(dest)
	_, err := r.run(ctx, op, scriptDrain, scriptArgs(reapLimit, []any{flag, key}, nil))
	return err
}

// Reset implements lb.Balancer. It drops the holds of every node.
func (r *Redis) Reset(ctx context.Context, dest string) (int, error) {
	if err := lb.CheckDest(dest); err != nil {
		return 0, fmt.Errorf("ringlb: reset: %w", err)
	}
	if r.closed.Load() {
		return 0, errClosed
	}
	key := r.opts.UserDomains.MemberKey(dest)
	v, err := r.run(ctx, "reset", scriptReset, scriptArgs(reapLimit, []any{key}, nil))
	if err != nil {
		return 0, err
	}
	n, ok := v.(int64)
	if !ok || n < 0 {
		return 0, replyErr("reset", "%T", v)
	}
	// Our renewals of these holds will report them lost and stop.
	return int(n), nil
}
