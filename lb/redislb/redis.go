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
	window string        // StartWindow in ms (0 = none), as passed to scripts
	// backoff is NoAnswerBackoff in ms (0 = none), as passed to scripts.
	backoff string
	// maxMiss is MaxNoAnswer (0 = never), as passed to scripts.
	maxMiss string

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
// default. Its keys are "<KeyPrefix>{ringlb}:4:<name>:<part>", and with
// every balancer on the same Redis and KeyPrefix (its deployment) it
// shares "<KeyPrefix>{ringlb}:4:load" and two more, where a member's load
// is the calls holding it in any of them: the one hash tag keeps them all
// in one Cluster slot.
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
		window:    strconv.FormatInt(max(opts.StartWindow.Milliseconds(), 0), 10),
		backoff:   strconv.FormatInt(max(opts.NoAnswerBackoff.Milliseconds(), 0), 10),
		maxMiss:   strconv.Itoa(max(opts.MaxNoAnswer, 0)),
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
	r.keys = balancerKeys(opts.KeyPrefix, r.name)
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
