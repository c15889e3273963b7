package redislb

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ringlb/ringlb/lb"
)

// Leases: this process renews its holds in the background, re-asserts
// those that lapsed during an outage, and retries releases that failed.

// heldHold is what this process remembers of a hold it renews.
type heldHold struct {
	gen uint64 // when it was added, so a renewal tells a new hold from an old one
	// until is when the hold's maximum age runs out, by this process's
	// clock (zero: no maximum age); a re-asserted hold keeps it.
	until time.Time
	// answered: the hold is talking, and comes back so if re-asserted.
	answered bool
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

// due reports whether background work on r is due at now: a renewal
// tick has come while it holds anything, or releases wait for a retry.
func (r *Redis) due(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.retry) > 0 || len(r.held) > 0 && now.Sub(r.lastRenew) >= r.tick-retryEvery/2
}

// background is r's share of a round of the shared goroutine (see
// shared.go), every retryEvery: it renews the leases when the
// renewal tick has come and retries failed releases. A failed renewal is
// tried again at the next round, not a tick later, so a short blip costs
// no lease. It returns the first error, so that the round can stop when
// Redis does not answer.
func (r *Redis) background(now time.Time) error {
	r.bgMu.Lock()
	defer r.bgMu.Unlock()
	if r.closed.Load() {
		return nil
	}
	r.mu.Lock()
	renew := now.Sub(r.lastRenew) >= r.tick-retryEvery/2
	r.mu.Unlock()
	if renew {
		if err := r.renew(); err != nil {
			return err
		}
		r.mu.Lock()
		r.lastRenew = now
		r.mu.Unlock()
	}
	return r.retryReleases(now)
}

// renew extends the leases of this process's holds, renewBatch per script
// call; normally that is one round trip per tick. It returns an error
// unless every batch reached Redis.
//
// A hold reset by an operator, taken by another node or past its maximum
// age is forgotten. A hold this process still has but Redis lost (its
// lease lapsed during an outage, or a failover promoted a replica that had
// not received it) is re-asserted for the call still up, even over its
// member's capacity (see reassert): within one renewal period of Redis
// being back, every live call counts again.
func (r *Redis) renew() error {
	r.mu.Lock()
	if len(r.held) == 0 {
		r.mu.Unlock()
		return nil
	}
	members := make([]string, 0, len(r.held))
	gens := make(map[string]uint64, len(r.held))
	for m, h := range r.held {
		members = append(members, m)
		gens[m] = h.gen
	}
	r.mu.Unlock()
	var missing []string
	for len(members) > 0 {
		select {
		case <-r.stop: // closing: do not hold Close up for the other batches
			return errClosed
		default:
		}
		n := min(len(members), renewBatch)
		batch := members[:n]
		members = members[n:]
		v, err := r.run(context.Background(), "renew", scriptRenew,
			scriptArgs(renewReapLimit, []any{r.node, r.lease}, batch))
		if err != nil {
			return err
		}
		vals, ok := v.([]any)
		gone, ok1 := stringsOf(index(vals, 0))
		lost, ok2 := stringsOf(index(vals, 1))
		if !ok || len(vals) != 2 || !ok1 || !ok2 {
			return replyErr("renew", "%v", v)
		}
		r.mu.Lock()
		for _, m := range gone {
			// Only if it was not taken again since this renewal began.
			if h, ok := r.held[m]; ok && h.gen == gens[m] {
				delete(r.held, m)
			}
		}
		for _, m := range lost {
			if h, ok := r.held[m]; ok && h.gen == gens[m] {
				missing = append(missing, m)
			}
		}
		r.mu.Unlock()
	}
	for _, m := range missing {
		r.reassert(m, gens[m])
	}
	return nil
}

// index is vals[i], or nil past its end.
func index(vals []any, i int) any {
	if i < len(vals) {
		return vals[i]
	}
	return nil
}

// reassert takes again, for the call still up, a hold Redis lost (its lease
// lapsed while Redis was out of reach, or a failover lost it): without it a
// second call could take a member at capacity while the first is still
// talking. The call is up, so it counts even if the member filled up
// meanwhile (as Count does): the load stays true, and no further call is
// offered until enough end; such holds are counted in overCapacity. The
// hold keeps its maximum age and its state.
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
	state := lb.StateRinging
	if h.answered {
		state = lb.StateTalking
	}
	a := lb.Reasserted
	v, err := r.runOps(context.Background(), a.Op(), acquireOp(callID, r.opts.CapacityOf(dest), dest, a, state, maxAge))
	if err != nil {
		return // still tracked: the next renewal tries again
	}
	if vals, err := acquireReply(a.Op(), v[0]); err == nil {
		code, load, mine := vals[0], vals[1], vals[2]
		if code == 1 || code == 0 && mine == 1 {
			if code == 1 {
				r.takenBack.Add(1)
				if c := r.opts.CapacityOf(dest); c > 0 && load > int64(c) {
					r.overCapacity.Add(1)
				}
			}
			return
		}
	}
	r.forget(m, gen) // another node's hold for the same call now
}

// forget stops renewing m if it is still the hold of generation gen.
func (r *Redis) forget(m string, gen uint64) {
	r.mu.Lock()
	if h, ok := r.held[m]; ok && h.gen == gen {
		delete(r.held, m)
	}
	r.mu.Unlock()
}

// pendingRelease is a release waiting to be sent again.
type pendingRelease struct {
	// until is when the hold's lease has surely lapsed, by this process's
	// clock: sending the release later is pointless.
	until time.Time
	// unsure marks a hold that may not exist: one that an operation may
	// have taken in Redis although its caller got an error (see doubt).
	// It is dropped only if it is this node's and still ringing, so that
	// nothing the call went on with is touched, and it is sent until it
	// drops the hold or has reached Redis twice since after.
	unsure bool
	// after is when the operation behind an unsure hold can no longer be
	// written out (its send is bounded by Timeout); sent counts the drops
	// sent since then that reached Redis.
	after time.Time
	sent  int
}

// doubt queues a drop of the holds that a failed operation of callID on
// keys may have taken: its caller got an error (a timeout, a lost reply),
// so nobody would release them, yet Redis may have run it, or may still
// run it when a stalled server wakes. Without this they would count until
// their lease lapsed (a whole lease, with capacity 1 a member skipped all
// that time); with it they stop counting within two retries (2 x
// retryEvery) of Redis answering again. Holds the call is known to have
// are left alone.
func (r *Redis) doubt(callID string, keys []string) {
	now := time.Now()
	e := pendingRelease{until: now.Add(r.opts.Timeout + r.opts.Lease), unsure: true, after: now.Add(r.opts.Timeout)}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		m := holdMember(k, callID)
		if _, held := r.held[m]; held {
			continue
		}
		if q, ok := r.retry[m]; ok && !q.unsure {
			continue // a release of it is queued already
		}
		r.retry[m] = e
	}
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
		if m := holdMember(d, callID); !r.retry[m].until.IsZero() {
			pending = append(pending, m)
		}
	}
	r.mu.Unlock()
	if len(pending) == 0 {
		return nil // the retry in flight sent them
	}
	return r.sendQueued(ctx, op, pending, time.Now())
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
		if !r.retry[holdMember(d, callID)].until.IsZero() {
			return true
		}
	}
	return false
}

// retryReleases sends the queued releases again, dropping those whose
// lease has surely lapsed by now. It returns the first error.
func (r *Redis) retryReleases(now time.Time) error {
	r.retryLock <- struct{}{}
	defer func() { <-r.retryLock }()
	r.mu.Lock()
	if len(r.retry) == 0 {
		r.mu.Unlock()
		return nil
	}
	members := make([]string, 0, len(r.retry))
	for m, e := range r.retry {
		if now.After(e.until) {
			delete(r.retry, m)
			continue
		}
		members = append(members, m)
	}
	r.mu.Unlock()
	for len(members) > 0 {
		n := min(len(members), renewBatch)
		if err := r.sendQueued(context.Background(), "release", members[:n], now); err != nil {
			return err
		}
		members = members[n:]
	}
	return nil
}

// sendQueued sends the queued releases of members in one script call,
// started at now, and updates the queue with the outcome: a release sent
// is done; an unsure drop is done once it dropped the hold or reached
// Redis twice after the failed operation could no longer be written out
// (the second drop, sent after the first's reply, lands after anything
// sent before the first). Requires retryLock.
func (r *Redis) sendQueued(ctx context.Context, op string, members []string, now time.Time) error {
	var sure, unsure []string
	r.mu.Lock()
	for _, m := range members {
		if e, ok := r.retry[m]; ok && e.unsure {
			unsure = append(unsure, m)
		} else if ok {
			sure = append(sure, m)
		}
	}
	r.mu.Unlock()
	var ops []redisOp
	if len(sure) > 0 {
		ops = append(ops, r.releaseOp(sure))
	}
	if len(unsure) > 0 {
		args := make([]any, len(unsure))
		for i, m := range unsure {
			args[i] = m
		}
		ops = append(ops, redisOp{kind: opDrop, args: args})
	}
	if len(ops) == 0 {
		return nil
	}
	vals, err := r.runOps(ctx, op, ops...)
	if err != nil {
		return err
	}
	var dropped []int64
	if len(unsure) > 0 {
		if dropped, err = int64s(op, vals[len(vals)-1], len(unsure)); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range sure {
		delete(r.retry, m)
	}
	for i, m := range unsure {
		e, ok := r.retry[m]
		if !ok || !e.unsure {
			continue // taken again, or released, meanwhile
		}
		if now.After(e.after) {
			e.sent++
		}
		if dropped[i] == 1 || e.sent >= 2 {
			delete(r.retry, m)
		} else {
			r.retry[m] = e
		}
	}
	return nil
}

// pendingReleases reports how many failed releases wait for a retry (not
// counting unsure drops, see doubt).
func (r *Redis) pendingReleases() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.retry {
		if !e.unsure {
			n++
		}
	}
	return n
}

// heldCount reports how many holds this process renews.
func (r *Redis) heldCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.held)
}
