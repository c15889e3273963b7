package lb

import (
	"context"
	_ "embed"
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

// Each operation is one server-side script: the algorithm runs inside
// Redis, atomically, on the server's clock; Go packs arguments and checks
// the reply. prelude.lua holds what every script shares and is prepended
// once, here.
var (
	//go:embed scripts/prelude.lua
	preludeLua string
	//go:embed scripts/next.lua
	nextLua string
	//go:embed scripts/order.lua
	orderLua string
	//go:embed scripts/load.lua
	loadLua string
	//go:embed scripts/acquire.lua
	acquireLua string
	//go:embed scripts/release.lua
	releaseLua string
	//go:embed scripts/drain.lua
	drainLua string
	//go:embed scripts/reset.lua
	resetLua string
	//go:embed scripts/snapshot.lua
	snapshotLua string
	//go:embed scripts/renew.lua
	renewLua string

	scriptNext     = redis.NewScript(preludeLua + nextLua)
	scriptOrder    = redis.NewScript(preludeLua + orderLua)
	scriptLoad     = redis.NewScript(preludeLua + loadLua)
	scriptAcquire  = redis.NewScript(preludeLua + acquireLua)
	scriptRelease  = redis.NewScript(preludeLua + releaseLua)
	scriptDrain    = redis.NewScript(preludeLua + drainLua)
	scriptReset    = redis.NewScript(preludeLua + resetLua)
	scriptSnapshot = redis.NewScript(preludeLua + snapshotLua)
	scriptRenew    = redis.NewScript(preludeLua + renewLua)
)

// redisKeySuffixes are the keys of one balancer, in the order every script
// takes them as KEYS (see scripts/prelude.lua).
var redisKeySuffixes = [...]string{"holds", "exp", "idx", "seq", "last", "started", "ctr", "drained", "known", "cnt"}

const (
	// reapLimit bounds how many lapsed holds one operation drops, so a
	// crashed node's backlog is cleared in slices, not in one long script.
	reapLimit = 100
	// renewReapLimit is the larger slice the renewal tick drops, so lapsed
	// holds go away even when no calls arrive.
	renewReapLimit = 1000
	// renewBatch is the most holds renewed or released by one script call.
	renewBatch = 1000
	// retryEvery is how often failed releases are retried (capped by the
	// renewal tick).
	retryEvery = 200 * time.Millisecond
)

// redisClient is what the Redis backend needs of a go-redis client: a
// plain, Sentinel or Cluster client all fit.
type redisClient interface {
	redis.Scripter
	Close() error
}

// Redis is a balancer whose state lives in Redis, shared by every process
// that opens the same name with the same key prefix. Each operation is one
// server-side script, so choosing and holding are atomic across processes.
//
// Every hold is a lease stamped with this process's node name and an
// expiry taken from the Redis clock. A goroutine renews this process's
// live holds every Lease/3 in batches; holds whose lease lapsed are dropped
// by every script, so the load of a process that died is gone within one
// lease period. Drained destinations are stored in Redis and shared;
// capacities come from each process's Options.
//
// Create it with NewRedis. It is safe for simultaneous use by multiple
// goroutines.
type Redis struct {
	name   string
	opts   Options
	node   string
	keys   []string
	client redisClient
	tick   time.Duration // renewal period, Lease/3
	lease  string        // Lease in ms, as passed to scripts
	maxAge string        // MaxHoldAge in ms (0 = none), as passed to scripts

	rndMu sync.Mutex
	rnd   *rand.Rand // for TieRandom in Order; guarded by rndMu

	mu sync.Mutex
	// held are the members ("<dest>\n<call>") this process holds and
	// renews. Requires mu.
	held map[string]heldHold
	gen  uint64
	// lastRenewed is when every batch of the last renewal reached Redis.
	// Only the background goroutine uses it.
	lastRenewed time.Time
	// lostHolds counts live holds that lapsed during an outage and could
	// not be re-asserted (their destination had filled up meanwhile).
	lostHolds atomic.Int64
	// retry are members whose release failed, with the time after which
	// their lease has surely lapsed and retrying is pointless. Requires mu.
	retry map[string]time.Time
	// retryLock, a one-slot channel, is held while queued releases are
	// sent, by the background retry or by settleRetries, so that a hold
	// taken again by the same call cannot be dropped by a retry already in
	// flight. A channel, so that a caller waits for it only until its own
	// deadline.
	retryLock chan struct{}

	closed    atomic.Bool
	closeOnce sync.Once
	stop      chan struct{}
	done      chan struct{}
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
// NewRedis does not contact Redis, so a switch can start while Redis is
// down: operations return errors wrapping ErrBackend until it is back.
func NewRedis(name string, opts Options) (*Redis, error) {
	if err := checkBalancerName(name); err != nil {
		return nil, fmt.Errorf("ringlb: open: %w", err)
	}
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("ringlb: open %q: %w", name, err)
	}
	if opts.URL == "" {
		return nil, fmt.Errorf("ringlb: open %q: %w: the redis backend needs a url", name, ErrInvalidArgument)
	}
	uo, err := redisUniversalOptions(opts.URL, opts.Timeout)
	if err != nil {
		return nil, fmt.Errorf("ringlb: open %q: %w", name, err)
	}
	return newRedisWithClient(name, opts, redis.NewUniversalClient(uo)), nil
}

// newRedisWithClient builds the balancer around a client; opts must be
// validated, with defaults applied.
func newRedisWithClient(name string, opts Options, c redisClient) *Redis {
	// Copies: opts may hold views of C memory.
	opts.URL = strings.Clone(opts.URL)
	opts.KeyPrefix = strings.Clone(opts.KeyPrefix)
	if opts.Capacity != nil {
		caps := make(map[string]int, len(opts.Capacity))
		for d, n := range opts.Capacity {
			caps[strings.Clone(d)] = n
		}
		opts.Capacity = caps
	}
	node := strings.Clone(opts.Node)
	if node == "" {
		node = defaultNode()
	}
	r := &Redis{
		name:   strings.Clone(name),
		opts:   opts,
		node:   node,
		client: c,
		tick:   opts.Lease / 3,
		lease:  strconv.FormatInt(opts.Lease.Milliseconds(), 10),
		maxAge: "0",
		rnd:    rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		held:   make(map[string]heldHold),
		// Nothing is held yet, so nothing can have lapsed before now.
		lastRenewed: time.Now(),
		retry:       make(map[string]time.Time),
		retryLock:   make(chan struct{}, 1),
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
	}
	if opts.MaxHoldAge > 0 {
		r.maxAge = strconv.FormatInt(opts.MaxHoldAge.Milliseconds(), 10)
	}
	base := opts.KeyPrefix + "{" + r.name + "}:"
	r.keys = make([]string, len(redisKeySuffixes))
	for i, s := range redisKeySuffixes {
		r.keys[i] = base + s
	}
	go r.background()
	return r
}

// checkBalancerName rejects names that would break the hash tag.
func checkBalancerName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return invalidf("balancer name %q (1 to %d bytes)", name, MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c == 0x7f || c == '{' || c == '}' {
			return invalidf("balancer name %q has a control character or brace", name)
		}
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
	v, err := s.Run(ctx, r.client, r.keys, args...).Result()
	if err != nil {
		return nil, &backendError{op: op, err: err}
	}
	return v, nil
}

func replyErr(op string, format string, args ...any) error {
	return &backendError{op: op, err: fmt.Errorf("unexpected script reply: "+format, args...)}
}

// Order implements Balancer.
func (r *Redis) Order(ctx context.Context, dests []string) ([]string, error) {
	uniq, err := uniqueDests(dests)
	if err != nil {
		return nil, fmt.Errorf("ringlb: order: %w", err)
	}
	if r.closed.Load() {
		return nil, errClosed
	}
	if len(uniq) == 0 {
		return []string{}, nil
	}
	args := make([]any, 0, 1+len(uniq))
	args = append(args, reapLimit)
	for _, d := range uniq {
		args = append(args, d)
	}
	v, err := r.run(ctx, "order", scriptOrder, args)
	if err != nil {
		return nil, err
	}
	vals, ok := v.([]any)
	if !ok || len(vals) != 3*len(uniq) {
		return nil, replyErr("order", "%T of %d", v, lenOf(v))
	}
	cands := make([]candidate, 0, len(uniq))
	for i, d := range uniq {
		load, ok1 := vals[3*i].(int64)
		seq, ok2 := vals[3*i+1].(int64)
		drained, ok3 := vals[3*i+2].(int64)
		if !ok1 || !ok2 || !ok3 || load < 0 || seq < 0 {
			return nil, replyErr("order", "%v", vals[3*i:3*i+3])
		}
		if drained != 0 {
			continue
		}
		if c := r.opts.capacityOf(d); c > 0 && int(load) >= c {
			continue
		}
		cands = append(cands, candidate{dest: d, load: int(load), lastSeq: uint64(seq), pos: i})
	}
	r.rndMu.Lock()
	rank(cands, r.opts.Tie, r.rnd)
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
	uniq, err := uniqueDests(dests)
	if err != nil {
		return "", fmt.Errorf("ringlb: next: %w", err)
	}
	if len(uniq) == 0 {
		return "", fmt.Errorf("ringlb: next: %w", ErrNoDestinations)
	}
	if r.closed.Load() {
		return "", errClosed
	}
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	if err := r.settleRetries(ctx, "next", uniq, callID); err != nil {
		return "", err
	}
	args := make([]any, 0, 6+3*len(uniq))
	args = append(args, r.node, r.lease, r.maxAge, r.opts.Tie.String(), callID, reapLimit)
	for _, d := range uniq {
		var key uint64
		if r.opts.Tie == TieRandom {
			key = rand.Uint64() >> 11 // 53 bits: exact as a Lua number
		}
		args = append(args, d, r.opts.capacityOf(d), key)
	}
	v, err := r.run(ctx, "next", scriptNext, args)
	if err != nil {
		return "", err
	}
	vals, ok := v.([]any)
	if !ok || len(vals) != 3 {
		return "", replyErr("next", "%T of %d", v, lenOf(v))
	}
	code, ok1 := vals[0].(int64)
	got, ok2 := vals[1].(string)
	mine, ok3 := vals[2].(int64)
	if !ok1 || !ok2 || !ok3 {
		return "", replyErr("next", "%v", vals)
	}
	if code == 0 {
		return "", fmt.Errorf("ringlb: next: %w (%d offered)", ErrAtCapacity, len(uniq))
	}
	// got is Redis's copy, owned by Go; it must be one of those offered.
	if (code != 1 && code != 2) || !slices.Contains(uniq, got) {
		return "", replyErr("next", "%v", vals)
	}
	if mine == 1 {
		r.track(holdMember(got, callID))
	}
	return got, nil
}

// Acquire implements Balancer.
func (r *Redis) Acquire(ctx context.Context, dest, callID string) (bool, error) {
	if err := checkDest(dest); err != nil {
		return false, fmt.Errorf("ringlb: acquire: %w", err)
	}
	if err := checkCallID(callID); err != nil {
		return false, fmt.Errorf("ringlb: acquire %q: %w", dest, err)
	}
	if r.closed.Load() {
		return false, errClosed
	}
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	if err := r.settleRetries(ctx, "acquire", []string{dest}, callID); err != nil {
		return false, err
	}
	c := r.opts.capacityOf(dest)
	v, err := r.run(ctx, "acquire", scriptAcquire,
		[]any{r.node, r.lease, r.maxAge, callID, c, reapLimit, dest})
	if err != nil {
		return false, err
	}
	vals, ok := v.([]any)
	if !ok || len(vals) != 3 {
		return false, replyErr("acquire", "%T of %d", v, lenOf(v))
	}
	code, ok1 := vals[0].(int64)
	load, ok2 := vals[1].(int64)
	mine, ok3 := vals[2].(int64)
	if !ok1 || !ok2 || !ok3 {
		return false, replyErr("acquire", "%v", vals)
	}
	switch code {
	case 1:
		r.track(holdMember(dest, callID))
		return true, nil
	case 0:
		// A retry after a lost reply lands here: keep renewing our hold.
		if mine == 1 {
			r.track(holdMember(dest, callID))
		}
		return false, nil
	case -1:
		return false, fmt.Errorf("ringlb: acquire %q: %w", dest, ErrDrained)
	case -2:
		return false, fmt.Errorf("ringlb: acquire %q: %w (%d of %d)", dest, ErrAtCapacity, load, c)
	}
	return false, replyErr("acquire", "%v", vals)
}

// Release implements Balancer. When Redis cannot be reached, Release
// returns an error wrapping ErrBackend and keeps retrying in the
// background until it succeeds or the hold's lease has surely lapsed; in
// both cases the hold stops counting within one lease period.
func (r *Redis) Release(ctx context.Context, dest, callID string) (bool, error) {
	if err := checkDest(dest); err != nil {
		return false, fmt.Errorf("ringlb: release: %w", err)
	}
	if err := checkCallID(callID); err != nil {
		return false, fmt.Errorf("ringlb: release %q: %w", dest, err)
	}
	if r.closed.Load() {
		return false, errClosed
	}
	m := holdMember(dest, callID)
	r.untrack(m)
	v, err := r.run(ctx, "release", scriptRelease, []any{reapLimit, m})
	if err != nil {
		r.mu.Lock()
		r.retry[m] = time.Now().Add(r.opts.Lease)
		r.mu.Unlock()
		return false, err
	}
	vals, ok := v.([]any)
	if !ok || len(vals) != 1 {
		return false, replyErr("release", "%T of %d", v, lenOf(v))
	}
	n, ok := vals[0].(int64)
	if !ok {
		return false, replyErr("release", "%v", vals)
	}
	return n == 1, nil
}

// Load implements Balancer.
func (r *Redis) Load(ctx context.Context, dests []string) ([]int, error) {
	if len(dests) > MaxDestinations {
		return nil, fmt.Errorf("ringlb: load: %w", invalidf("%d destinations (at most %d)", len(dests), MaxDestinations))
	}
	for _, d := range dests {
		if err := checkDest(d); err != nil {
			return nil, fmt.Errorf("ringlb: load: %w", err)
		}
	}
	if r.closed.Load() {
		return nil, errClosed
	}
	if len(dests) == 0 {
		return []int{}, nil
	}
	args := make([]any, 0, 1+len(dests))
	args = append(args, reapLimit)
	for _, d := range dests {
		args = append(args, d)
	}
	v, err := r.run(ctx, "load", scriptLoad, args)
	if err != nil {
		return nil, err
	}
	vals, ok := v.([]any)
	if !ok || len(vals) != len(dests) {
		return nil, replyErr("load", "%T of %d", v, lenOf(v))
	}
	out := make([]int, len(dests))
	for i, x := range vals {
		n, ok := x.(int64)
		if !ok || n < 0 {
			return nil, replyErr("load", "%v", x)
		}
		out[i] = int(n)
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
	_, err := r.run(ctx, op, scriptDrain, []any{flag, reapLimit, dest})
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
	v, err := r.run(ctx, "reset", scriptReset, []any{reapLimit, dest})
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

// Snapshot implements Balancer. Hold times come from the Redis clock.
func (r *Redis) Snapshot(ctx context.Context) (Snapshot, error) {
	if r.closed.Load() {
		return Snapshot{}, errClosed
	}
	v, err := r.run(ctx, "snapshot", scriptSnapshot, []any{reapLimit})
	if err != nil {
		return Snapshot{}, err
	}
	s, err := r.parseSnapshot(v)
	if err != nil {
		return Snapshot{}, err
	}
	return s, nil
}

func (r *Redis) parseSnapshot(v any) (Snapshot, error) {
	const op = "snapshot"
	vals, ok := v.([]any)
	if !ok || len(vals) != 6 {
		return Snapshot{}, replyErr(op, "%T of %d", v, lenOf(v))
	}
	known, ok1 := stringsOf(vals[1])
	drained, ok2 := stringsOf(vals[2])
	started, ok3 := stringsOf(vals[3])
	last, ok4 := stringsOf(vals[4])
	holds, ok5 := stringsOf(vals[5])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || len(started)%2 != 0 || len(last)%2 != 0 || len(holds)%3 != 0 {
		return Snapshot{}, replyErr(op, "shape")
	}
	dests := make(map[string]*DestStatus)
	get := func(d string) *DestStatus {
		st := dests[d]
		if st == nil {
			st = &DestStatus{Dest: d, Capacity: r.opts.capacityOf(d)}
			dests[d] = st
		}
		return st
	}
	for _, d := range known {
		get(d)
	}
	for d := range r.opts.Capacity {
		get(d)
	}
	for _, d := range drained {
		get(d).Drained = true
	}
	for i := 0; i < len(started); i += 2 {
		n, err := strconv.ParseInt(started[i+1], 10, 64)
		if err != nil {
			return Snapshot{}, replyErr(op, "started %q", started[i+1])
		}
		get(started[i]).Started = n
	}
	for i := 0; i < len(last); i += 2 {
		ms, err := strconv.ParseInt(last[i+1], 10, 64)
		if err != nil {
			return Snapshot{}, replyErr(op, "last %q", last[i+1])
		}
		get(last[i]).LastHold = time.UnixMilli(ms)
	}
	s := Snapshot{Name: r.name, Backend: "redis", Destinations: []DestStatus{}, Holds: []HoldInfo{}}
	for i := 0; i < len(holds); i += 3 {
		dest, call, ok := strings.Cut(holds[i], "\n")
		startS, rest, ok2 := strings.Cut(holds[i+1], "\n")
		_, node, ok3 := strings.Cut(rest, "\n")
		start, err1 := strconv.ParseInt(startS, 10, 64)
		exp, err2 := strconv.ParseFloat(holds[i+2], 64)
		if !ok || !ok2 || !ok3 || err1 != nil || err2 != nil {
			return Snapshot{}, replyErr(op, "hold %q %q", holds[i], holds[i+1])
		}
		h := HoldInfo{Dest: dest, CallID: call, Node: node, Start: time.UnixMilli(start)}
		if exp > 0 {
			h.Expires = time.UnixMilli(int64(exp))
		}
		s.Holds = append(s.Holds, h)
		get(dest).Active++
	}
	for _, st := range dests {
		s.Destinations = append(s.Destinations, *st)
	}
	sortSnapshot(&s)
	return s, nil
}

// stringsOf converts an array reply of strings.
func stringsOf(v any) ([]string, bool) {
	vals, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, len(vals))
	for i, x := range vals {
		s, ok := x.(string)
		if !ok {
			return nil, false
		}
		out[i] = s
	}
	return out, true
}

func lenOf(v any) int {
	if vals, ok := v.([]any); ok {
		return len(vals)
	}
	return -1
}

// heldHold is what this process remembers of a hold it renews.
type heldHold struct {
	gen uint64 // when it was added, so a renewal tells a new hold from an old one
	// until is when the hold's maximum age runs out, by this process's
	// clock (zero: no maximum age); a re-asserted hold keeps it.
	until time.Time
}

// track starts renewing member and cancels any pending retried release of
// it: the caller holds it again.
func (r *Redis) track(member string) {
	h := heldHold{}
	if r.opts.MaxHoldAge > 0 {
		h.until = time.Now().Add(r.opts.MaxHoldAge)
	}
	r.mu.Lock()
	r.gen++
	h.gen = r.gen
	r.held[member] = h
	delete(r.retry, member)
	r.mu.Unlock()
}

func (r *Redis) untrack(member string) {
	r.mu.Lock()
	delete(r.held, member)
	r.mu.Unlock()
}

// Close implements Balancer. It stops the renewal goroutine and closes the
// connection pool; it releases nothing. The holds of this process stay
// counted, shared with other nodes, until their leases lapse (within one
// lease period): the calls they stand for may still be up on this switch,
// and a Redis that kept them briefly is safer than one that undercounts.
// Releases still waiting for a retry get one last attempt.
func (r *Redis) Close() error {
	var err error
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		close(r.stop)
		<-r.done
		r.retryReleases(time.Now())
		err = r.client.Close()
	})
	return err
}

// background renews leases every tick and retries failed releases. A panic
// here would take the host process down, so it is recovered and the loop
// goes on.
func (r *Redis) background() {
	defer close(r.done)
	every := min(r.tick, retryEvery)
	t := time.NewTicker(every)
	defer t.Stop()
	lastRenew := time.Now()
	for {
		select {
		case <-r.stop:
			return
		case now := <-t.C:
			// A failed renewal is tried again at the next wake, not a tick
			// later, so a short blip costs no lease.
			if now.Sub(lastRenew) >= r.tick-every/2 {
				ok := false
				r.safely(func() { ok = r.renew(now) })
				if ok {
					lastRenew = now
				}
			}
			r.safely(func() { r.retryReleases(now) })
		}
	}
}

func (r *Redis) safely(f func()) {
	defer func() { _ = recover() }()
	f()
}

// renew extends the leases of this process's holds, renewBatch per script
// call; normally that is one round trip per tick. It reports whether every
// batch reached Redis.
//
// A hold reported lost was released, reset or reaped. When Redis was out
// of reach for long enough that the lease may have lapsed under a call that
// is still up, the hold is re-asserted instead of forgotten, if its
// destination still has room (see reassert).
func (r *Redis) renew(now time.Time) bool {
	r.mu.Lock()
	if len(r.held) == 0 {
		r.mu.Unlock()
		r.lastRenewed = now
		return true
	}
	members := make([]string, 0, len(r.held))
	gens := make(map[string]uint64, len(r.held))
	for m, h := range r.held {
		members = append(members, m)
		gens[m] = h.gen
	}
	r.mu.Unlock()
	// Leases may have lapsed if no renewal landed for most of a lease.
	mayHaveLapsed := now.Sub(r.lastRenewed) >= r.opts.Lease-r.tick/2
	var lapsed []string
	for len(members) > 0 {
		select {
		case <-r.stop: // closing: do not hold Close up for the other batches
			return false
		default:
		}
		n := min(len(members), renewBatch)
		batch := members[:n]
		members = members[n:]
		args := make([]any, 0, 3+n)
		args = append(args, r.node, r.lease, renewReapLimit)
		for _, m := range batch {
			args = append(args, m)
		}
		v, err := r.run(context.Background(), "renew", scriptRenew, args)
		if err != nil {
			return false
		}
		lost, ok := stringsOf(v)
		if !ok {
			return false
		}
		r.mu.Lock()
		for _, m := range lost {
			// Only if it was not taken again since this renewal began.
			if h, ok := r.held[m]; ok && h.gen == gens[m] {
				if mayHaveLapsed {
					lapsed = append(lapsed, m)
				} else {
					delete(r.held, m)
				}
			}
		}
		r.mu.Unlock()
	}
	r.lastRenewed = now
	for _, m := range lapsed {
		r.reassert(m, gens[m])
	}
	return true
}

// reassert takes again, for the call still up, a hold whose lease lapsed
// while Redis was out of reach: without it a second call could take a
// member at capacity while the first is still talking. It never exceeds a
// capacity: if the member filled up meanwhile, the hold is given up and
// counted in lostHolds. The hold keeps its maximum age.
func (r *Redis) reassert(m string, gen uint64) {
	r.mu.Lock()
	h, ok := r.held[m]
	r.mu.Unlock()
	if !ok || h.gen != gen {
		return // released or taken again meanwhile
	}
	dest, callID, _ := strings.Cut(m, "\n")
	maxAge := "0"
	if !h.until.IsZero() {
		left := time.Until(h.until)
		if left < time.Millisecond {
			r.forget(m, gen)
			return
		}
		maxAge = strconv.FormatInt(left.Milliseconds(), 10)
	}
	v, err := r.run(context.Background(), "renew", scriptAcquire,
		[]any{r.node, r.lease, maxAge, callID, r.opts.capacityOf(dest), reapLimit, dest, "reassert"})
	if err != nil {
		return // still tracked: the next renewal tries again
	}
	vals, ok := v.([]any)
	if ok && len(vals) == 3 {
		code, _ := vals[0].(int64)
		mine, _ := vals[2].(int64)
		if code == 1 || code == 0 && mine == 1 {
			return
		}
	}
	r.lostHolds.Add(1)
	r.forget(m, gen)
}

// forget stops renewing m if it is still the hold of generation gen.
func (r *Redis) forget(m string, gen uint64) {
	r.mu.Lock()
	if h, ok := r.held[m]; ok && h.gen == gen {
		delete(r.held, m)
	}
	r.mu.Unlock()
}

// settleRetries sends, before operation op may hold one of dests for
// callID, the queued releases of those same holds. Otherwise a release that
// failed earlier could land after the call takes the destination again and
// drop the new hold. When none of them is queued, the normal case, it costs
// a map length check. It waits for a retry in flight only until ctx ends,
// and its errors carry op's name.
func (r *Redis) settleRetries(ctx context.Context, op string, dests []string, callID string) error {
	if !r.hasQueued(dests, callID) {
		return nil
	}
	select {
	case r.retryLock <- struct{}{}:
	case <-ctx.Done():
		return &backendError{op: op, err: fmt.Errorf("waiting for a queued release of the same call: %w", ctx.Err())}
	}
	defer func() { <-r.retryLock }()
	var pending []string
	r.mu.Lock()
	for _, d := range dests {
		if m := holdMember(d, callID); !r.retry[m].IsZero() {
			pending = append(pending, m)
		}
	}
	r.mu.Unlock()
	if len(pending) == 0 {
		return nil // the retry in flight sent them
	}
	args := make([]any, 0, 1+len(pending))
	args = append(args, reapLimit)
	for _, m := range pending {
		args = append(args, m)
	}
	if _, err := r.run(ctx, op, scriptRelease, args); err != nil {
		return err
	}
	r.mu.Lock()
	for _, m := range pending {
		delete(r.retry, m)
	}
	r.mu.Unlock()
	return nil
}

// hasQueued reports whether a release of callID's hold on any of dests is
// queued for a retry.
func (r *Redis) hasQueued(dests []string, callID string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.retry) == 0 {
		return false
	}
	for _, d := range dests {
		if !r.retry[holdMember(d, callID)].IsZero() {
			return true
		}
	}
	return false
}

// retryReleases retries the releases that failed, dropping those whose
// lease has surely lapsed by now.
func (r *Redis) retryReleases(now time.Time) {
	r.retryLock <- struct{}{}
	defer func() { <-r.retryLock }()
	r.mu.Lock()
	if len(r.retry) == 0 {
		r.mu.Unlock()
		return
	}
	members := make([]string, 0, len(r.retry))
	for m, until := range r.retry {
		if now.After(until) {
			delete(r.retry, m)
			continue
		}
		members = append(members, m)
	}
	r.mu.Unlock()
	for len(members) > 0 {
		n := min(len(members), renewBatch)
		batch := members[:n]
		members = members[n:]
		args := make([]any, 0, 1+n)
		args = append(args, reapLimit)
		for _, m := range batch {
			args = append(args, m)
		}
		if _, err := r.run(context.Background(), "release", scriptRelease, args); err != nil {
			return
		}
		r.mu.Lock()
		for _, m := range batch {
			delete(r.retry, m)
		}
		r.mu.Unlock()
	}
}

// pendingReleases reports how many failed releases wait for a retry.
func (r *Redis) pendingReleases() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.retry)
}

// heldCount reports how many holds this process renews.
func (r *Redis) heldCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.held)
}
