package lb

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
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
				r.safely(func() { ok = r.renew() })
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
// A hold reset by an operator, taken by another node or past its maximum
// age is forgotten. A hold this process still has but Redis lost (its
// lease lapsed during an outage, or a failover promoted a replica that had
// not received it) is re-asserted for the call still up, even over its
// member's capacity (see reassert): within one renewal period of Redis
// being back, every live call counts again.
func (r *Redis) renew() bool {
	r.mu.Lock()
	if len(r.held) == 0 {
		r.mu.Unlock()
		return true
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
			return false
		default:
		}
		n := min(len(members), renewBatch)
		batch := members[:n]
		members = members[n:]
		v, err := r.run(context.Background(), "renew", scriptRenew,
			scriptArgs(renewReapLimit, []any{r.node, r.lease}, batch))
		if err != nil {
			return false
		}
		vals, ok := v.([]any)
		if !ok || len(vals) != 2 {
			return false
		}
		gone, ok1 := stringsOf(vals[0])
		lost, ok2 := stringsOf(vals[1])
		if !ok1 || !ok2 {
			return false
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
	return true
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
	how := "reassert"
	if h.answered {
		how = "reassert-talking"
	}
	v, err := r.runOps(context.Background(), "renew", acquireOp(callID, r.opts.capacityOf(dest), dest, how, maxAge))
	if err != nil {
		return // still tracked: the next renewal tries again
	}
	if vals, err := int64s("renew", v[0], 3); err == nil {
		code, load, mine := vals[0], vals[1], vals[2]
		if code == 1 || code == 0 && mine == 1 {
			if code == 1 {
				r.takenBack.Add(1)
				if c := r.opts.capacityOf(dest); c > 0 && load > int64(c) {
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
	if _, err := r.runOps(ctx, op, r.releaseOp(pending)); err != nil {
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
		if _, err := r.runOps(context.Background(), "release", r.releaseOp(batch)); err != nil {
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
