// Package redislb is ringlb's Redis backend: balancers whose state lives
// in Redis (standalone, Sentinel or Cluster), shared by every process that
// opens the same name with the same key prefix. Each operation is one
// server-side script (scripts/*.lua), so choosing and holding are atomic
// across processes, on the server's clock, and the ranking rule runs
// there too.
//
// A program links it in by importing it: its init registers it with
// package lb for the URL schemes redis, rediss, unix, redis+sentinel,
// redis+cluster and rediss+cluster, so that lb.Registry.Open (or lb.Open)
// opens a Redis balancer for Options with such a URL. New opens one
// directly.
//
// The package is named redislb, not redis, so that go-redis keeps its
// own name, redis, in every file here.
package redislb

import (
	"context"
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
	"github.com/ringlb/ringlb/lb"
)

// Redis is a balancer whose state lives in Redis, shared by every process
// that opens the same name with the same key prefix. The operations of a
// call's path that simultaneous callers start share a script call (see
// batch.go).
//
// Every hold is a lease stamped with this process's node name and an
// expiry taken from the Redis clock. A goroutine renews this process's
// live holds every Lease/3 in batches; holds whose lease lapsed are dropped
// by every script, so the load of a process that died is gone within one
// lease period. Balancers on the same Redis settings share one client and
// that one goroutine (see shared.go). Drained destinations are stored in
// Redis and shared; capacities come from each process's Options.
//
// Create it with New, or through lb. It is safe for simultaneous use by
// multiple goroutines.
type Redis struct {
	name   string
	opts   lb.Options
	node   string
	keys   []string
	shared *redisShared  // the client and background goroutine it shares
	client redisClient   // shared.client
	tick   time.Duration // renewal period, Lease/3
	lease  string        // Lease in ms, as passed to scripts
	maxAge string        // MaxHoldAge in ms (0 = none), as passed to scripts
	half   string        // HalfLife in ms (0 = never fade), as passed to scripts

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

var (
	_ lb.Balancer      = (*Redis)(nil)
	_ lb.StoreReporter = (*Redis)(nil)
)

// New returns a balancer named name backed by the Redis that opts.URL
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
// ErrInvalidArgument, and so are the go-redis parameters ringlb sets
// itself: the timeouts (Options.Timeout bounds every operation), the
// retries (commands are never retried: a retried Acquire whose first
// reply was lost would report "already held") and the protocol.
//
// Balancers opened with the same URL and Timeout share one client (one
// connection pool) and one background goroutine; the last to close closes
// them.
//
// New reads the server's maxmemory-policy (INFO memory) unless another
// balancer on the same client has: a policy that evicts keys (allkeys-*)
// would silently lose holds, drains and counts, so it is an error
// wrapping ErrBackend. When Redis does not answer within Timeout, New
// succeeds, so a switch can start while Redis is down: operations return
// errors wrapping ErrBackend until it is back, and the policy is read
// then. It is read again from time to time; while it evicts, a line is
// logged (once) and StoreStats.Evicting is set.
func New(name string, opts lb.Options) (*Redis, error) {
	if opts.URL == "" {
		return nil, fmt.Errorf("ringlb: open %q: %w: the redis backend needs a url", name, lb.ErrInvalidArgument)
	}
	b, err := lb.Open(name, opts)
	if err != nil {
		return nil, err
	}
	if r, ok := b.(*Redis); ok {
		return r, nil
	}
	b.Close()
	return nil, fmt.Errorf("ringlb: open %q: %w: the url selects another backend", name, lb.ErrInvalidArgument)
}

// open is the backend's Open (see register.go): a balancer named name
// with c's options, on the client for uo, the URL's client options.
func open(name string, c *lb.Config, uo *redis.UniversalOptions) (*Redis, error) {
	opts := c.Options()
	s := attachRedis(opts.URL, opts.Timeout, uo)
	if err := s.checkAtOpen(); err != nil {
		s.detach()
		return nil, fmt.Errorf("ringlb: open %q: %w", name, err)
	}
	return newRedisOn(name, c, s), nil
}

// newRedisWithClient builds the balancer around a client of its own.
func newRedisWithClient(name string, c *lb.Config, client redisClient) *Redis {
	opts := c.Options()
	return newRedisOn(name, c, newRedisShared(client, opts.URL, opts.Timeout))
}

// newRedisOn builds the balancer on s, attached for it. c's strings are
// its own (see lb.Config); name may be a view of C memory.
func newRedisOn(name string, c *lb.Config, s *redisShared) *Redis {
	opts := c.Options()
	node := opts.Node
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

// StoreStats implements lb.StoreReporter.
func (r *Redis) StoreStats() lb.StoreStats {
	return lb.StoreStats{
		PendingReleases: r.pendingReleases(),
		TakenBack:       uint64(r.takenBack.Load()),
		OverCapacity:    uint64(r.overCapacity.Load()),
		Batches:         r.ops.batches.Load(),
		BatchedOps:      r.ops.batchedOps.Load(),
		Evicting:        r.shared.evicting.Load(),
	}
}

// holdKey checks operation op's destination and call id and that r is
// open, and returns the member key of dest.
func (r *Redis) holdKey(op, dest, callID string) (string, error) {
	if err := lb.CheckHold(op, dest, callID); err != nil {
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
	v, err := r.runOps(ctx, "order", redisOp{kind: opOrder, args: r.rankArgs(nil, keys)})
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
	v, sent, err := r.ops.run(ctx, "next", redisOp{kind: opNext, args: r.rankArgs([]any{callID}, keys)})
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
// op_order (ops.lua) rank keys: their capacities, their random keys, and
// the keys themselves.
func (r *Redis) rankArgs(args []any, keys []string) []any {
	args = slices.Grow(args, 2+len(keys))
	args = append(args, r.capacitiesArg(keys), r.randomKeysArg(len(keys)))
	for _, k := range keys {
		args = append(args, k)
	}
	return args
}

// capacitiesArg is the ranking's capacities argument: "" when no member of
// keys has a capacity (the common case costs the server nothing), else
// each one's (0 = none) separated by commas.
func (r *Redis) capacitiesArg(keys []string) string {
	if r.opts.DefaultCapacity == 0 && !slices.ContainsFunc(keys, func(k string) bool { return r.opts.CapacityOf(k) > 0 }) {
		return ""
	}
	b := make([]byte, 0, 4*len(keys))
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(r.opts.CapacityOf(k)), 10)
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

// releaseOp is ops.lua's release of members: each with the wrap-up of its
// destination.
func (r *Redis) releaseOp(members []string) redisOp {
	args := make([]any, 0, 2*len(members))
	for _, m := range members {
		dest, _, _ := strings.Cut(m, "\n")
		args = append(args, m, r.opts.WrapupOf(dest).Milliseconds())
	}
	return redisOp{kind: opRelease, args: args}
}

// Release implements lb.Balancer. When Redis cannot be reached, Release
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
	if err := lb.CheckDest(dest); err != nil {
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

// Close implements lb.Balancer. It stops renewing this balancer's leases
// and lets go of the shared client, which the last balancer on it closes;
// it releases nothing. The holds of this process stay counted, shared
// with other nodes, until their leases lapse (within one lease period):
// the calls they stand for may still be up on this switch, and a Redis
// that kept them briefly is safer than one that undercounts. Releases
// still waiting for a retry get one last attempt.
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
