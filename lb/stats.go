package lb

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// Outcomes of Next, as Stats counts them.
const (
	NextChosen     = iota // a destination was chosen and held
	NextAtCapacity        // every destination full, drained, in wrap-up or out for no answer
	NextInvalid           // bad input
	NextBackend           // the shared store failed
	NextOther             // closed, or anything else
	nextOutcomes
)

// NextOutcomeNames name the outcomes of Next, by index.
var NextOutcomeNames = [nextOutcomes]string{"chosen", "at_capacity", "invalid", "backend", "other"}

// LatencyBuckets are the upper bounds, in seconds, of the operation time
// histogram of Stats.
var LatencyBuckets = [...]float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}

// Operations whose time and backend errors Stats records.
const (
	OpNext = iota
	OpOrder
	OpAcquire
	OpRelease
	OpLoad
	OpSnapshot
	OpAnswered
	OpCount
	OpUnanswered
	numOps
)

// OpNames name the operations of Stats, by index.
var OpNames = [numOps]string{"next", "order", "acquire", "release", "load", "snapshot", "answered", "count", "unanswered"}

// opStats counts one operation. Every field is updated atomically.
type opStats struct {
	count, backendErrors atomic.Uint64
	sumNanos             atomic.Uint64
	buckets              [len(LatencyBuckets)]atomic.Uint64 // cumulative is computed on read
}

// stats are a Named balancer's counters.
type stats struct {
	next      [nextOutcomes]atomic.Uint64
	ops       [numOps]opStats
	fallbacks atomic.Uint64
}

// OpStats is a copy of one operation's counters.
type OpStats struct {
	Count, BackendErrors uint64
	// Seconds is the total time of the operations.
	Seconds float64
	// Buckets[i] counts operations that took at most LatencyBuckets[i]
	// (cumulative, as Prometheus histograms count).
	Buckets [len(LatencyBuckets)]uint64
}

// Stats is a copy of a balancer's counters since it was opened.
type Stats struct {
	// Next counts the outcomes of Next, by NextChosen... index.
	Next [nextOutcomes]uint64
	// Ops are the counters of each operation, by OpNext... index.
	Ops [numOps]OpStats
	// Fallbacks counts rings that went on in list order, without the
	// balancer, because its backend failed (NoteFallback).
	Fallbacks uint64
}

// StoreStats are the counters of a balancer whose state lives in a store
// that several processes share (Redis), beyond Stats.
type StoreStats struct {
	// PendingReleases is how many failed releases wait for a retry.
	PendingReleases int
	// TakenBack counts holds of calls still up that the store lost (a
	// lease lapsed during an outage, a failover) and this process took
	// back; OverCapacity those of them whose member had filled up
	// meanwhile.
	TakenBack, OverCapacity uint64
	// Batches counts the script calls that carried a call's-path
	// operation, and BatchedOps the operations they carried: their ratio
	// is how many operations a script call shared under load.
	Batches, BatchedOps uint64
	// Evicting is set while the store has a policy that evicts keys
	// (Redis's maxmemory-policy), as last read.
	Evicting bool
}

// StoreReporter is a Balancer with StoreStats: the store backends are.
type StoreReporter interface {
	StoreStats() StoreStats
}

// StoreStats returns the StoreStats of n's balancer, and false when it
// has none (a memory balancer).
func (n *Named) StoreStats() (StoreStats, bool) {
	if r, ok := n.Balancer.(StoreReporter); ok {
		return r.StoreStats(), true
	}
	return StoreStats{}, false
}

// NoteFallback counts a ring that went on in list order because the
// balancer's backend failed: the ring helper decides that, the balancer
// only counts it.
func (n *Named) NoteFallback() { n.stats.fallbacks.Add(1) }

// Stats returns a copy of n's counters.
func (n *Named) Stats() Stats {
	var s Stats
	for i := range s.Next {
		s.Next[i] = n.stats.next[i].Load()
	}
	for i := range s.Ops {
		o := &n.stats.ops[i]
		s.Ops[i].Count = o.count.Load()
		s.Ops[i].BackendErrors = o.backendErrors.Load()
		s.Ops[i].Seconds = float64(o.sumNanos.Load()) / 1e9
		var cum uint64
		for b := range o.buckets {
			cum += o.buckets[b].Load()
			s.Ops[i].Buckets[b] = cum
		}
	}
	s.Fallbacks = n.stats.fallbacks.Load()
	return s
}

// record counts one operation that started at start and ended with err.
func (n *Named) record(op int, start time.Time, err error) {
	d := time.Since(start)
	o := &n.stats.ops[op]
	o.count.Add(1)
	o.sumNanos.Add(uint64(d))
	if errors.Is(err, ErrBackend) {
		o.backendErrors.Add(1)
	}
	sec := d.Seconds()
	for i, le := range LatencyBuckets {
		if sec <= le {
			o.buckets[i].Add(1)
			break
		}
	}
}

// Next implements Balancer, counting its outcome and time.
func (n *Named) Next(ctx context.Context, dests []string, callID string) (string, error) {
	d, err := timed(n, OpNext, func() (string, error) { return n.Balancer.Next(ctx, dests, callID) })
	outcome := NextOther
	switch {
	case err == nil:
		outcome = NextChosen
	case errors.Is(err, ErrAtCapacity), errors.Is(err, ErrNoDestinations):
		outcome = NextAtCapacity
	case errors.Is(err, ErrInvalidArgument):
		outcome = NextInvalid
	case errors.Is(err, ErrBackend):
		outcome = NextBackend
	}
	n.stats.next[outcome].Add(1)
	return d, err
}

// timed runs op, one operation of n's balancer, and counts its time and
// error as operation i.
func timed[T any](n *Named, i int, op func() (T, error)) (T, error) {
	start := time.Now()
	v, err := op()
	n.record(i, start, err)
	return v, err
}

// Order implements Balancer, counting its time.
func (n *Named) Order(ctx context.Context, dests []string) ([]string, error) {
	return timed(n, OpOrder, func() ([]string, error) { return n.Balancer.Order(ctx, dests) })
}

// Acquire implements Balancer, counting its time.
func (n *Named) Acquire(ctx context.Context, dest, callID string) (bool, error) {
	return timed(n, OpAcquire, func() (bool, error) { return n.Balancer.Acquire(ctx, dest, callID) })
}

// Release implements Balancer, counting its time.
func (n *Named) Release(ctx context.Context, dest, callID string) (bool, error) {
	return timed(n, OpRelease, func() (bool, error) { return n.Balancer.Release(ctx, dest, callID) })
}

// Load implements Balancer, counting its time.
func (n *Named) Load(ctx context.Context, dests []string) ([]int, error) {
	return timed(n, OpLoad, func() ([]int, error) { return n.Balancer.Load(ctx, dests) })
}

// Snapshot implements Balancer, counting its time.
func (n *Named) Snapshot(ctx context.Context) (Snapshot, error) {
	return timed(n, OpSnapshot, func() (Snapshot, error) { return n.Balancer.Snapshot(ctx) })
}

// Answered implements Balancer, counting its time.
func (n *Named) Answered(ctx context.Context, dest, callID string) (bool, error) {
	return timed(n, OpAnswered, func() (bool, error) { return n.Balancer.Answered(ctx, dest, callID) })
}

// Count implements Balancer, counting its time.
func (n *Named) Count(ctx context.Context, dest, callID string) (bool, error) {
	return timed(n, OpCount, func() (bool, error) { return n.Balancer.Count(ctx, dest, callID) })
}

// Unanswered implements Balancer, counting its time.
func (n *Named) Unanswered(ctx context.Context, dest, callID string) (bool, error) {
	return timed(n, OpUnanswered, func() (bool, error) { return n.Balancer.Unanswered(ctx, dest, callID) })
}
