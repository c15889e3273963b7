package lb

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a balancer whose state lives in Redis, shared by every process
// that opens the same name with the same key prefix. Each operation is one
// server-side script, so choosing and holding are atomic across processes;
// the operations of a call's path that simultaneous callers start share a
// script call (see redis_batch.go).
//
// Every hold is a lease stamped with this process's node name and an
// expiry taken from the Redis clock. A goroutine renews this process's
// live holds every Lease/3 in batches; holds whose lease lapsed are dropped
// by every script, so the load of a process that died is gone within one
// lease period. Balancers on the same Redis settings share one client and
// that one goroutine (see redis_shared.go). Drained destinations are stored
// in Redis and shared; capacities come from each process's Options.
//
// Create it with NewRedis. It is safe for simultaneous use by multiple
// goroutines.
type Redis struct {
	name   string
	opts   Options
	node   string
	keys   []string
	shared *redisShared  // the client and background goroutine it shares
	client redisClient   // shared.client
	tick   time.Duration // renewal period, Lease/3
	lease  string        // Lease in ms, as passed to scripts
	maxAge string        // MaxHoldAge in ms (0 = none), as passed to scripts
	half   string        // HalfLife in ms (0 = never fade), as passed to scripts

	rndMu sync.Mutex
	rnd   *rand.Rand // for TieRandom in Order; guarded by rndMu

	mu sync.Mutex
	// held are the members ("<dest>\n<call>") this process holds and
	// renews. Requires mu.
	held map[string]heldHold
	gen  uint64
	// lastRenew is when every hold was last renewed. Requires mu.
	lastRenew time.Time
	// overCapacity counts holds taken back after Redis lost them whose
	// member had filled up meanwhile: two calls were up on it at once.
	overCapacity atomic.Int64
	// takenBack counts holds Redis lost that this process took back.
	takenBack atomic.Int64
	// retry are members whose release is to be sent again: releases that
	// failed, and holds that an operation whose caller got an error may
	// have taken. Requires mu.
	retry map[string]pendingRelease
	// retryLock, a one-slot channel, is held while queued releases are
	// sent, by the background retry or by settleRetries, so that a hold
	// taken again by the same call cannot be dropped by a retry already in
	// flight. A channel, so that a caller waits for it only until its own
	// deadline.
	retryLock chan struct{}
	// ops gathers the operations of a call's path into batches.
	ops batcher

	// bgMu is held while the shared goroutine works for this balancer,
	// so that Close can wait for that work to end.
	bgMu      sync.Mutex
	closed    atomic.Bool
	closeOnce sync.Once
	stop      chan struct{} // closed by Close: background work stops early
}

var _ Balancer = (*Redis)(nil)

// NewRedis returns a balancer named name backed by the Redis that opts.URL
// names. Options.Lease, Timeout, KeyPrefix and Node apply; zero means
// default. Its keys are "<KeyPrefix>{<name>}:<suffix>": the hash tag keeps
// them in one Cluster slot.
//
// URLs:
//
//	redis://[user:pass@]host:port/db?<go-redis options>
//	rediss://...                                  (TLS)
//	unix://[user:pass@]/path/to/redis.sock?db=N
//	redis+sentinel://[user:pass@]host:port[,host:port...]/db?master_name=NAME
//	    [&sentinel_username=U&sentinel_password=P]
//	redis+cluster://[user:pass@]host:port[,host:port...]
//	rediss+cluster://...                          (TLS)
//
// Malformed URLs and unknown query parameters are errors wrapping
// ErrInvalidArgument. Options.Timeout overrides any dial, read, write or
// pool timeout in the URL, and commands are never retried: a retried
// Acquire whose first reply was lost would report "already held".
//
// Balancers opened with the same URL and Timeout share one client (one
// connection pool) and one background goroutine; the last to close closes
// them.
//
// NewRedis reads the server's maxmemory-policy (INFO memory) unless
// another balancer on the same client has: a policy that evicts keys
// (allkeys-*) would silently lose holds, drains and counts, so it is an
// error wrapping ErrBackend. When Redis does not answer within Timeout,
// NewRedis succeeds, so a switch can start while Redis is down: operations
// return errors wrapping ErrBackend until it is back, and the policy is
// read then. It is read again from time to time; while it evicts, a line
// is logged (once) and Stats.Evicting is set.
func NewRedis(name string, opts Options) (*Redis, error) {
	if err := checkBalancerName(name); err != nil {
		return nil, fmt.Errorf("ringlb: open: %w", err)
	}
	opts = opts.withDefaults().keyed()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("ringlb: open %q: %w", name, err)
	}
	if opts.URL == "" {
		return nil, fmt.Errorf("ringlb: open %q: %w: the redis backend needs a url", name, ErrInvalidArgument)
	}
	s, err := attachRedis(opts.URL, opts.Timeout)
	if err != nil {
		return nil, fmt.Errorf("ringlb: open %q: %w", name, err)
	}
	if err := s.checkAtOpen(); err != nil {
		s.detach()
		return nil, fmt.Errorf("ringlb: open %q: %w", name, err)
	}
	return newRedisOn(name, opts, s), nil
}

// newRedisWithClient builds the balancer around a client of its own; opts
// must be validated, with defaults applied.
func newRedisWithClient(name string, opts Options, c redisClient) *Redis {
	return newRedisOn(name, opts, newRedisShared(c, opts.URL, opts.Timeout))
}

// newRedisOn builds the balancer on s, attached for it; opts must be
// validated, with defaults applied.
func newRedisOn(name string, opts Options, s *redisShared) *Redis {
	// Copies: opts may hold views of C memory.
	opts.URL = strings.Clone(opts.URL)
	opts.KeyPrefix = strings.Clone(opts.KeyPrefix)
	opts.Capacity = rekeyed(opts.Capacity, strings.Clone)
	opts.Wrapup = rekeyed(opts.Wrapup, strings.Clone)
	node := strings.Clone(opts.Node)
	if node == "" {
		node = defaultNode()
	}
	r := &Redis{
		name:      strings.Clone(name),
		opts:      opts,
		node:      node,
		shared:    s,
		client:    s.client,
		tick:      opts.Lease / 3,
		lease:     strconv.FormatInt(opts.Lease.Milliseconds(), 10),
		maxAge:    "0",
		half:      strconv.FormatInt(max(opts.HalfLife.Milliseconds(), 0), 10),
		rnd:       rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		held:      make(map[string]heldHold),
		retry:     make(map[string]pendingRelease),
		retryLock: make(chan struct{}, 1),
		stop:      make(chan struct{}),
		lastRenew: time.Now(),
	}
	r.ops.exchange = r.exchangeOps
	if opts.MaxHoldAge > 0 {
		r.maxAge = strconv.FormatInt(opts.MaxHoldAge.Milliseconds(), 10)
	}
	base := opts.KeyPrefix + "{" + r.name + "}:"
	r.keys = make([]string, len(redisKeySuffixes))
	for i, sfx := range redisKeySuffixes {
		r.keys[i] = base + sfx
	}
	s.add(r)
	return r
}

// checkBalancerName rejects names that checkText refuses, that would
// break the Redis hash tag (braces), or that hold "::": the switch splits a
// hangup hook command at its first ':' when a second follows, and the ring
// helper puts the balancer name first in the hook that releases its holds.
func checkBalancerName(name string) error {
	if err := checkText("balancer name", name, MaxNameLen); err != nil {
		return err
	}
	if strings.ContainsAny(name, "{}") {
		return invalidf("balancer name %q has a brace", name)
	}
	if strings.Contains(name, "::") {
		return invalidf("balancer name %q holds \"::\", where the switch would cut the hangup hook", name)
	}
	return nil
}

// defaultNode names this process: host:pid:random, so two processes on one
// host, or one process restarted with the same pid, never share a name.
func defaultNode() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return fmt.Sprintf("%s:%d:%08x", host, os.Getpid(), rand.Uint32())
}

// Node returns the name this process stamps on its holds.
func (r *Redis) Node() string { return r.node }

// holdKey checks operation op's destination and call id and that r is
// open, and returns the member key of dest.
func (r *Redis) holdKey(op, dest, callID string) (string, error) {
	if err := checkHold(op, dest, callID); err != nil {
		return "", err
	}
	if r.closed.Load() {
		return "", errClosed
	}
	return r.opts.UserDomains.MemberKey(dest), nil
}

// holdMember is the Redis member naming the hold of callID on dest. It is
// a new string, safe to keep after the call returns.
func holdMember(dest, callID string) string { return dest + "\n" + callID }

// ctx bounds one operation by Options.Timeout. An operation makes it once,
// on entry, and every step of it shares the one deadline; run makes it too,
// which changes nothing under a deadline already set.
func (r *Redis) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	if parent == nil {
		parent = context.Background()
	}
	return context.WithTimeout(parent, r.opts.Timeout)
}

func (r *Redis) run(ctx context.Context, op string, s *redis.Script, args []any) (any, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	v, err := r.exec(ctx, s, args)
	if err != nil {
		return nil, &backendError{op: op, err: err}
	}
	return v, nil
}

// exec runs script s with the balancer's keys.
func (r *Redis) exec(ctx context.Context, s *redis.Script, args []any) (any, error) {
	v, err := s.Run(ctx, r.client, r.keys, args...).Result()
	if err != nil {
		if c, ok := r.client.(*redis.ClusterClient); ok && !isScriptError(err) {
			// The master of our slot may have died and a replica taken
			// over: the client learns the new layout only from a MOVED
			// reply or after a minute, so reload it now (in the
			// background, coalesced) for the next operation.
			c.ReloadState(ctx)
		}
		return nil, err
	}
	return v, nil
}

// isScriptError reports whether err is an error reply of Redis itself
// (the server answered), rather than a failure to reach it.
func isScriptError(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && !errors.Is(err, context.DeadlineExceeded)
}

// records reads the member records of keys and the server's time (ms).
func (r *Redis) records(ctx context.Context, op string, keys []string) (int64, []memberRecord, error) {
	v, err := r.run(ctx, op, scriptRecords, scriptArgs(reapLimit, nil, keys))
	if err != nil {
		return 0, nil, err
	}
	vals, ok := v.([]any)
	if !ok || len(vals) != 2 {
		return 0, nil, replyErr(op, "%T of %d", v, lenOf(v))
	}
	now, ok1 := vals[0].(int64)
	raw, ok2 := vals[1].([]any)
	if !ok1 || !ok2 || len(raw) != len(keys) {
		return 0, nil, replyErr(op, "%v", vals)
	}
	recs := make([]memberRecord, len(keys))
	for i, x := range raw {
		if recs[i], ok = parseRecord(x); !ok {
			return 0, nil, replyErr(op, "record %v", x)
		}
	}
	return now, recs, nil
}

// Order implements Balancer.
func (r *Redis) Order(ctx context.Context, dests []string) ([]string, error) {
	keys, named, err := uniqueMembers(dests, r.opts.UserDomains)
	if err != nil {
		return nil, fmt.Errorf("ringlb: order: %w", err)
	}
	if r.closed.Load() {
		return nil, errClosed
	}
	if len(keys) == 0 {
		return []string{}, nil
	}
	now, recs, err := r.records(ctx, "order", keys)
	if err != nil {
		return nil, err
	}
	half := max(r.opts.HalfLife.Milliseconds(), 0)
	cands := make([]candidate, 0, len(keys))
	for i, rec := range recs {
		if rec.drained || now < rec.wrap {
			continue
		}
		if c := r.opts.capacityOf(keys[i]); c > 0 && rec.cnt >= int64(c) {
			continue
		}
		cands = append(cands, candidate{dest: named[i], load: int(rec.cnt), lastSeq: rec.seq, pos: i,
			score: rec.fadedScore(now, half), scored: rec.scoreAt > 0})
	}
	r.rndMu.Lock()
	rank(cands, r.opts.Tie, r.rnd, 0)
	r.rndMu.Unlock()
	out := make([]string, len(cands))
	for i, c := range cands {
		out[i] = c.dest
	}
	return out, nil
}

// Next implements Balancer.
func (r *Redis) Next(ctx context.Context, dests []string, callID string) (string, error) {
	if err := checkCallID(callID); err != nil {
		return "", fmt.Errorf("ringlb: next: %w", err)
	}
	keys, named, err := uniqueMembers(dests, r.opts.UserDomains)
	if err != nil {
		return "", fmt.Errorf("ringlb: next: %w", err)
	}
	if len(keys) == 0 {
		return "", fmt.Errorf("ringlb: next: %w", ErrNoDestinations)
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
	args := make([]any, 0, 3+len(keys))
	args = append(args, callID, r.capacitiesArg(keys), r.randomKeysArg(len(keys)))
	for _, k := range keys {
		args = append(args, k)
	}
	v, sent, err := r.ops.run(ctx, "next", redisOp{kind: "n", args: args})
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
		return "", fmt.Errorf("ringlb: next: %w (%d offered)", ErrAtCapacity, len(keys))
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

// capacitiesArg is op_next's capacities argument (ops.lua): "" when no member of
// keys has a capacity (the common case costs the server nothing), else
// each one's (0 = none) separated by commas.
func (r *Redis) capacitiesArg(keys []string) string {
	if r.opts.DefaultCapacity == 0 && !slices.ContainsFunc(keys, func(k string) bool { return r.opts.capacityOf(k) > 0 }) {
		return ""
	}
	b := make([]byte, 0, 4*len(keys))
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(r.opts.capacityOf(k)), 10)
	}
	return string(b)
}

// randomKeysArg is op_next's random keys argument (ops.lua): "" unless ties are
// random, else n random numbers of 53 bits (exact as Lua numbers)
// separated by commas.
func (r *Redis) randomKeysArg(n int) string {
	if r.opts.Tie != TieRandom {
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

// Acquire implements Balancer.
func (r *Redis) Acquire(ctx context.Context, dest, callID string) (bool, error) {
	return r.acquire(ctx, dest, callID, "")
}

// Count implements Balancer.
func (r *Redis) Count(ctx context.Context, dest, callID string) (bool, error) {
	return r.acquire(ctx, dest, callID, "count")
}

// acquire holds dest for callID; how "count" (Count) skips the drain and
// capacity checks.
func (r *Redis) acquire(ctx context.Context, dest, callID, how string) (bool, error) {
	op := "acquire"
	if how == "count" {
		op = "count"
	}
	key, err := r.holdKey(op, dest, callID)
	if err != nil {
		return false, err
	}
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	if err := r.settleRetries(ctx, op, []string{key}, callID); err != nil {
		return false, err
	}
	c := r.opts.capacityOf(key)
	// The operation may be written out after this call returns: it keeps
	// copies (of m), never views of the caller's memory.
	m := holdMember(key, callID)
	key, callID = m[:len(key)], m[len(key)+1:]
	v, sent, err := r.ops.run(ctx, op, acquireOp(callID, c, key, how, r.maxAge))
	var vals []int64
	if err == nil {
		vals, err = int64s(op, v, 3)
	}
	if err == nil && (vals[0] < -2 || vals[0] > 1) {
		err = replyErr(op, "%v", vals)
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
		return false, fmt.Errorf("ringlb: acquire %q: %w", dest, ErrDrained)
	}
	return false, fmt.Errorf("ringlb: acquire %q: %w (%d of %d)", dest, ErrAtCapacity, load, c)
}

// acquireOp is ops.lua's acquire of dest for callID, with capacity c, how
// (see op_acquire) and maximum age maxAge (ms).
func acquireOp(callID string, c int, dest, how, maxAge string) redisOp {
	return redisOp{kind: "a", args: []any{callID, c, dest, how, maxAge}}
}

// releaseOp is ops.lua's release of members: each with the wrap-up of its
// destination.
func (r *Redis) releaseOp(members []string) redisOp {
	args := make([]any, 0, 2*len(members))
	for _, m := range members {
		dest, _, _ := strings.Cut(m, "\n")
		args = append(args, m, r.opts.wrapupOf(dest).Milliseconds())
	}
	return redisOp{kind: "r", args: args}
}

// Release implements Balancer. When Redis cannot be reached, Release
// returns an error wrapping ErrBackend and keeps retrying in the
// background until it succeeds or the hold's lease has surely lapsed; in
// both cases the hold stops counting within one lease period.
func (r *Redis) Release(ctx context.Context, dest, callID string) (bool, error) {
	key, err := r.holdKey("release", dest, callID)
	if err != nil {
		return false, err
	}
	m := holdMember(key, callID)
	r.untrack(m)
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	v, err := r.ops.do(ctx, "release", r.releaseOp([]string{m}))
	if err != nil {
		r.mu.Lock()
		r.retry[m] = pendingRelease{until: time.Now().Add(r.opts.Lease)}
		r.mu.Unlock()
		return false, err
	}
	vals, err := int64s("release", v, 1)
	if err != nil {
		return false, err
	}
	return vals[0] == 1, nil
}

// Answered implements Balancer.
func (r *Redis) Answered(ctx context.Context, dest, callID string) (bool, error) {
	key, err := r.holdKey("answered", dest, callID)
	if err != nil {
		return false, err
	}
	m := holdMember(key, callID)
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	v, err := r.ops.do(ctx, "answered", redisOp{kind: "w", args: []any{m}})
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

// Load implements Balancer.
func (r *Redis) Load(ctx context.Context, dests []string) ([]int, error) {
	if err := checkDests(dests); err != nil {
		return nil, fmt.Errorf("ringlb: load: %w", err)
	}
	if r.closed.Load() {
		return nil, errClosed
	}
	if len(dests) == 0 {
		return []int{}, nil
	}
	keys := make([]string, len(dests))
	for i, d := range dests {
		keys[i] = r.opts.UserDomains.MemberKey(d)
	}
	_, recs, err := r.records(ctx, "load", keys)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(dests))
	for i, rec := range recs {
		out[i] = int(rec.cnt)
	}
	return out, nil
}

// Drain implements Balancer. The drained set is stored in Redis, so a
// drain on one node applies on all.
func (r *Redis) Drain(ctx context.Context, dest string) error { return r.setDrained(ctx, dest, true) }

// Undrain implements Balancer.
func (r *Redis) Undrain(ctx context.Context, dest string) error {
	return r.setDrained(ctx, dest, false)
}

func (r *Redis) setDrained(ctx context.Context, dest string, drained bool) error {
	if err := checkDest(dest); err != nil {
		return fmt.Errorf("ringlb: drain: %w", err)
	}
	if r.closed.Load() {
		return errClosed
	}
	flag, op := "0", "undrain"
	if drained {
		flag, op = "1", "drain"
	}
	key := r.opts.UserDomains.MemberKey(dest)
	_, err := r.run(ctx, op, scriptDrain, scriptArgs(reapLimit, []any{flag, key}, nil))
	return err
}

// Reset implements Balancer. It drops the holds of every node.
func (r *Redis) Reset(ctx context.Context, dest string) (int, error) {
	if err := checkDest(dest); err != nil {
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

// snapshotPage is about how many entries one snapshot script call reads.
const snapshotPage = 250

// Snapshot implements Balancer. Hold times come from the Redis clock. It
// reads the state in pages of about snapshotPage entries, one script call
// each, so that however large the balancer, no call holds Redis (shared by
// every switch) up for long: each page is bounded by Options.Timeout, the
// whole by ctx. The pages are not one instant.
func (r *Redis) Snapshot(ctx context.Context) (Snapshot, error) {
	if r.closed.Load() {
		return Snapshot{}, errClosed
	}
	mem, now, off, err := r.scanPart(ctx, "mem")
	if err != nil {
		return Snapshot{}, err
	}
	holds, _, _, err := r.scanPart(ctx, "holds")
	if err != nil {
		return Snapshot{}, err
	}
	return r.parseSnapshot(mem, holds, now, off)
}

// scanPart reads every page of one part of the state (see
// scripts/snapshot.lua), and the balancer's time of its first page with
// its offset from the server's clock; a hold seen on two pages is kept
// once.
func (r *Redis) scanPart(ctx context.Context, part string) (out []any, now, off int64, err error) {
	var seen map[string]bool
	if part == "holds" {
		seen = make(map[string]bool)
	}
	cursor := "0"
	for {
		if err := ctx.Err(); err != nil {
			return nil, 0, 0, &backendError{op: "snapshot", err: err}
		}
		v, err := r.run(ctx, "snapshot", scriptSnapshot, scriptArgs(reapLimit, []any{part, cursor, snapshotPage}, nil))
		if err != nil {
			return nil, 0, 0, err
		}
		vals, ok := v.([]any)
		if !ok || len(vals) != 4 {
			return nil, 0, 0, replyErr("snapshot", "%T of %d", v, lenOf(v))
		}
		next, ok1 := vals[0].(string)
		entries, ok2 := vals[1].([]any)
		t, ok3 := vals[2].(int64)
		o, ok4 := vals[3].(int64)
		if !ok1 || !ok2 || !ok3 || !ok4 || (seen != nil && len(entries)%3 != 0) {
			return nil, 0, 0, replyErr("snapshot", "page %v", vals)
		}
		if seen == nil {
			out = append(out, entries...)
		} else {
			for i := 0; i < len(entries); i += 3 {
				m, ok := entries[i].(string)
				if !ok {
					return nil, 0, 0, replyErr("snapshot", "hold %v", entries[i])
				}
				if !seen[m] {
					seen[m] = true
					out = append(out, entries[i:i+3]...)
				}
			}
		}
		if now == 0 {
			now, off = t, o
		}
		if next == "0" {
			return out, now, off, nil
		}
		cursor = next
	}
}

// Close implements Balancer. It stops renewing this balancer's leases and
// lets go of the shared client, which the last balancer on it closes; it
// releases nothing. The holds of this process stay counted, shared with
// other nodes, until their leases lapse (within one lease period): the
// calls they stand for may still be up on this switch, and a Redis that
// kept them briefly is safer than one that undercounts. Releases still
// waiting for a retry get one last attempt.
func (r *Redis) Close() error {
	var err error
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		close(r.stop)
		r.shared.remove(r)
		r.bgMu.Lock() // background work on r under way ends
		r.retryReleases(time.Now())
		r.bgMu.Unlock()
		err = r.shared.detach()
	})
	return err
}
