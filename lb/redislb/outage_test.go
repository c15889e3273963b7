package redislb

// Tests of a Redis that stops answering, hung or dead: operations fail
// fast, naming themselves; failed releases are retried; holds that lapsed
// meanwhile are taken back.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ringlb/ringlb/internal/redistest"
	"github.com/ringlb/ringlb/lb"
	"github.com/ringlb/ringlb/lb/lbtest"
)

// checkDown runs every operation while Redis is unreachable: each must
// fail with lb.ErrBackend, "ringlb: redis: ...", and return within bound.
func checkDown(t *testing.T, r *Redis, release [2]string, bound time.Duration) {
	t.Helper()
	ctx := context.Background()
	for _, op := range []struct {
		name string
		f    func() error
	}{
		// A request sent to a hung server may still run when it wakes (its
		// reply lost, as in any timeout): destinations of their own keep
		// such holds out of the tests' counts.
		{"next", func() error { _, err := r.Next(ctx, []string{"down-a", "down-b"}, "down1"); return err }},
		{"acquire", func() error { _, err := r.Acquire(ctx, "down-b", "down2"); return err }},
		{"release", func() error { _, err := r.Release(ctx, release[0], release[1]); return err }},
		{"load", func() error { _, err := r.Load(ctx, []string{"x"}); return err }},
		{"order", func() error { _, err := r.Order(ctx, []string{"x", "y"}); return err }},
		{"drain", func() error { return r.Drain(ctx, "z") }},
		{"reset", func() error { _, err := r.Reset(ctx, "z"); return err }},
		{"snapshot", func() error { _, err := r.Snapshot(ctx); return err }},
	} {
		start := time.Now()
		err := op.f()
		took := time.Since(start)
		if !errors.Is(err, lb.ErrBackend) || !strings.HasPrefix(fmt.Sprint(err), "ringlb: redis: "+op.name) {
			t.Fatalf("%s with Redis down: err = %v; want ErrBackend, \"ringlb: redis: %s: ...\"", op.name, err, op.name)
		}
		if took > bound {
			t.Fatalf("%s with Redis down took %v (bound %v)", op.name, took, bound)
		}
	}
}

// TestRedisOutage covers a hung Redis (SIGSTOP: timeouts) and a dead one
// (SIGKILL: refused connections): fast lb.ErrBackend errors, a failed release
// applied later by the background retry, recovery with correct counts and
// no hold counted twice.
func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	// A long lease, so that only the retry can explain a release applied
	// after the outage; nothing here waits for a lease to lapse.
	const lease = 10 * time.Second
	r := openRedis(t, uniqueName("outage"), srv.URL(), lb.Options{Lease: lease, Timeout: 250 * time.Millisecond, Node: "n1"})
	ctx := context.Background()
	for _, c := range []string{"c1", "c2", "c3"} {
		lbtest.MustAcquire(t, r, "x", c)
	}
	c1 := lbtest.HoldOf(lbtest.MustSnapshot(t, r), "x", "c1")

	t.Run("hung", func(t *testing.T) {
		srv.Pause()
		paused := true
		defer func() {
			if paused {
				srv.Resume()
			}
		}()
		checkDown(t, r, [2]string{"x", "c1"}, 2*time.Second)
		if n := r.pendingReleases(); n != 1 {
			t.Fatalf("%d releases queued, want 1", n)
		}
		srv.Resume()
		paused = false
		// The retry, not the lease, drops c1: before its lease would lapse.
		if !poll(c1.Expires.Add(-time.Second), func() bool {
			l, err := r.Load(ctx, []string{"x"})
			return err == nil && l[0] == 2
		}) {
			t.Fatal("the failed release was not retried")
		}
		if !time.Now().Before(c1.Expires) {
			t.Fatalf("retry applied only after c1's lease lapsed (%v)", c1.Expires)
		}
		// The retry goroutine drops its queue entry just after the script
		// returns, so the load can show the release a moment before that.
		if !poll(time.Now().Add(2*time.Second), func() bool { return r.pendingReleases() == 0 }) {
			t.Fatal("release still queued after it was applied")
		}
		s := lbtest.MustSnapshot(t, r)
		if lbtest.HoldOf(s, "x", "c1") != nil || lbtest.HoldOf(s, "x", "c2") == nil || lbtest.HoldOf(s, "x", "c3") == nil {
			t.Fatalf("holds after recovery = %+v", s.Holds)
		}
	})

	t.Run("dead", func(t *testing.T) {
		c2 := lbtest.HoldOf(lbtest.MustSnapshot(t, r), "x", "c2")
		srv.Save() // so the restarted server has the holds back
		srv.Stop()
		checkDown(t, r, [2]string{"x", "c2"}, 2*time.Second)
		if n := r.pendingReleases(); n != 1 {
			t.Fatalf("%d releases queued, want 1", n)
		}
		srv.Restart()
		if !poll(c2.Expires.Add(-time.Second), func() bool {
			l, err := r.Load(ctx, []string{"x"})
			return err == nil && l[0] == 1
		}) {
			t.Fatal("no recovery to load 1 after restart, before c2's lease lapsed")
		}
		// A retried acquire after the reconnect is the same hold.
		if ok, err := r.Acquire(ctx, "x", "c3"); ok || err != nil {
			t.Fatalf("Acquire of a held call after restart = %v, %v; want false, nil", ok, err)
		}
		if got := lbtest.MustNext(t, r, []string{"x", "y"}, "c4"); got != "y" {
			t.Fatalf("Next after restart = %q, want y", got)
		}
		lbtest.WantLoad(t, r, []string{"x", "y"}, []int{1, 1})
		// Renewal resumed: c3's expiry moves forward.
		before := lbtest.HoldOf(lbtest.MustSnapshot(t, r), "x", "c3").Expires
		if !poll(time.Now().Add(lease/2), func() bool {
			h := lbtest.HoldOf(lbtest.MustSnapshot(t, r), "x", "c3")
			return h != nil && h.Expires.After(before)
		}) {
			t.Fatal("leases not renewed after restart")
		}
	})
}

// Regression: a release that failed during an outage was retried
// in the background; if the same call took the same destination again in
// between, the retry, landing later, dropped the new hold. Acquire and Next
// now send the call's queued releases first.
func TestRedisRetriedReleaseDoesNotDropANewHold(t *testing.T) {
	srv := redistest.Start(t)
	r := openRedis(t, uniqueName("reacquire"), srv.URL(), lb.Options{Lease: 10 * time.Second, Timeout: 250 * time.Millisecond})
	ctx := context.Background()
	lbtest.MustAcquire(t, r, "x", "c1")
	srv.Pause()
	if _, err := r.Release(ctx, "x", "c1"); !errors.Is(err, lb.ErrBackend) {
		srv.Resume()
		t.Fatalf("Release with Redis hung: %v, want ErrBackend", err)
	}
	srv.Resume()
	added, err := r.Acquire(ctx, "x", "c1")
	if err != nil || !added {
		t.Fatalf("Acquire after a failed release = %v, %v; want a new hold (the old one was released)", added, err)
	}
	if n := r.pendingReleases(); n != 0 {
		t.Fatalf("%d releases still queued", n)
	}
	r.retryReleases(time.Now()) // whatever the background would still send
	lbtest.WantLoad(t, r, []string{"x"}, []int{1})
}

// Regression: with releases queued during a Redis stall, Next and Acquire
// for fresh call ids waited for the retry lock with no deadline and gave the
// settle step and the script a full timeout each (640-750 ms at a 250 ms
// timeout), and their errors named "release". Every operation must return
// within its timeout, naming itself.
//
// The old behaviour took at least two timeouts (settle, then script), or
// for ever while the retry lock stayed held; the test holds that lock for
// the whole of every operation, so each one meets it, and allows one
// timeout plus a second (boundMargin): wide enough for a Go timer and the
// goroutine it wakes to run late on a saturated machine (up to 650 ms
// measured at a load average of 10 on 2 cores), short of the old two.
func TestRedisTimeoutBoundWithQueuedReleases(t *testing.T) {
	srv := redistest.Start(t)
	const timeout = 1500 * time.Millisecond
	const bound = timeout + boundMargin
	r := openRedis(t, uniqueName("bound"), srv.URL(), lb.Options{Lease: 30 * time.Second, Timeout: timeout})
	// The test, not the background retry, holds the retry lock.
	r.shared.remove(r)
	ctx := context.Background()
	for _, c := range []string{"q1", "q2", "q3"} {
		lbtest.MustAcquire(t, r, "x", c)
	}
	srv.Pause()
	defer srv.Resume()
	for _, c := range []string{"q1", "q2", "q3"} {
		if _, err := r.Release(ctx, "x", c); !errors.Is(err, lb.ErrBackend) {
			t.Fatalf("Release with Redis hung: %v, want ErrBackend", err)
		}
	}
	if n := r.pendingReleases(); n != 3 {
		t.Fatalf("%d releases queued, want 3", n)
	}
	ops := []struct {
		op  string
		run func(i int) error
	}{
		{"next", func(i int) error { _, err := r.Next(ctx, []string{"x", "y"}, fmt.Sprintf("fresh%d", i)); return err }},
		{"next", func(int) error { _, err := r.Next(ctx, []string{"x", "y"}, "q1"); return err }},
		{"acquire", func(i int) error { _, err := r.Acquire(ctx, "y", fmt.Sprintf("fresh%d", i)); return err }},
		{"acquire", func(int) error { _, err := r.Acquire(ctx, "x", "q2"); return err }},
		{"release", func(i int) error { _, err := r.Release(ctx, "y", fmt.Sprintf("fresh%d", i)); return err }},
		{"load", func(int) error { _, err := r.Load(ctx, []string{"x"}); return err }},
		{"order", func(int) error { _, err := r.Order(ctx, []string{"x", "y"}); return err }},
		{"snapshot", func(int) error { _, err := r.Snapshot(ctx); return err }},
		{"drain", func(int) error { return r.Drain(ctx, "z") }},
		{"reset", func(int) error { _, err := r.Reset(ctx, "z"); return err }},
	}
	var worst time.Duration
	defer func() { t.Logf("slowest operation %v (timeout %v, bound %v)", worst, timeout, bound) }()
	for i, o := range ops {
		// The retry lock is held, as by a background retry of the queued
		// releases, until the operation returns, or, should it wait for
		// the lock with no deadline, until well past the bound, so that
		// the test still ends.
		r.retryLock <- struct{}{}
		unlock := make(chan struct{})
		go func() {
			select {
			case <-unlock:
			case <-time.After(3 * bound):
			}
			<-r.retryLock
		}()
		start := time.Now()
		err := o.run(i)
		took := time.Since(start)
		close(unlock)
		if !errors.Is(err, lb.ErrBackend) {
			t.Errorf("%s with Redis hung: %v, want ErrBackend", o.op, err)
		} else if !strings.Contains(err.Error(), "redis: "+o.op+":") {
			t.Errorf("%s: error %q does not name the operation", o.op, err)
		}
		if took > bound {
			t.Errorf("%s took %v with a %v timeout (bound %v)", o.op, took, timeout, bound)
		}
		worst = max(worst, took)
		// The lock is free again before the next operation takes it.
		r.retryLock <- struct{}{}
		<-r.retryLock
	}
	// Once Redis answers, the queued releases go through.
	srv.Resume()
	r.retryReleases(time.Now())
	lbtest.WantLoad(t, r, []string{"x"}, []int{0})
}

// boundMargin is what the tests that bound an operation by its timeout
// allow beyond it: scheduling on a saturated machine, never a second
// timeout (a test's timeout is longer than this margin).
const boundMargin = time.Second

// Regression: when Redis stalled for about one lease, a live call's hold
// lapsed and was never taken back, so a second call could take a
// capacity-1 member while the first was still talking. Renewal now
// takes it back (over capacity too: see the next test).
func TestRedisLapsedHoldReasserted(t *testing.T) {
	srv := redistest.Start(t)
	name := uniqueName("reassert")
	const lease = time.Second
	opts := lb.Options{Lease: lease, Timeout: 100 * time.Millisecond, DefaultCapacity: 1}
	opts.Node = "a"
	a := openRedis(t, name, srv.URL(), opts)
	opts.Node = "b"
	b := openRedis(t, name, srv.URL(), opts)
	ctx := context.Background()
	lbtest.MustAcquire(t, a, "x", "talking")
	lbtest.MustAcquire(t, a, "y", "talking2")
	lbtest.MustAcquire(t, b, "z", "other")
	// Drained meanwhile: a drain never ends calls, so y's hold comes back too.
	if err := b.Drain(ctx, "y"); err != nil {
		t.Fatal(err)
	}
	srv.Pause()
	time.Sleep(lease + lease/2) // the leases lapse on the server's clock
	srv.Resume()
	// Nothing else touches x until a's renewal has run again.
	if !poll(time.Now().Add(3*lease), func() bool {
		s, err := a.Snapshot(ctx)
		return err == nil && lbtest.HoldOf(s, "x", "talking") != nil && lbtest.HoldOf(s, "y", "talking2") != nil &&
			lbtest.HoldOf(s, "x", "talking").Expires.After(time.Now())
	}) {
		t.Fatalf("the live holds were not re-asserted: %+v", lbtest.MustSnapshot(t, a).Holds)
	}
	if _, err := b.Acquire(ctx, "x", "second"); !errors.Is(err, lb.ErrAtCapacity) {
		t.Fatalf("second call on x while the first talks: %v, want ErrAtCapacity", err)
	}
	lbtest.WantLoad(t, b, []string{"x", "y"}, []int{1, 1})
	if n := a.overCapacity.Load(); n != 0 {
		t.Fatalf("%d holds taken back over capacity", n)
	}
	// Still renewed afterwards, over several leases.
	time.Sleep(3 * lease)
	lbtest.WantLoad(t, b, []string{"x", "y"}, []int{1, 1})
	lbtest.MustRelease(t, a, "x", "talking", true)
	lbtest.WantLoad(t, b, []string{"x"}, []int{0})
}

// When the member filled up while Redis was out of reach, the lapsed hold
// still comes back: both calls are up, so the member's load is 2, and no
// third call is offered until one ends.
func TestRedisLapsedHoldReassertedOverCapacity(t *testing.T) {
	srv := redistest.Start(t)
	name := uniqueName("reassert-full")
	const lease = time.Second
	opts := lb.Options{Lease: lease, Timeout: 100 * time.Millisecond, DefaultCapacity: 1}
	opts.Node = "b"
	b := openRedis(t, name, srv.URL(), opts)
	// a reaches Redis through a link that can be cut while b's stays up.
	uo, err := redisUniversalOptions(srv.URL(), opts.Timeout)
	if err != nil {
		t.Fatal(err)
	}
	link := &cuttableClient{UniversalClient: redis.NewUniversalClient(uo)}
	opts.Node, opts.URL = "a", srv.URL()
	c, err := opts.Check()
	if err != nil {
		t.Fatal(err)
	}
	a := newRedisWithClient(name, c, link)
	t.Cleanup(func() { a.Close() })
	lbtest.MustAcquire(t, a, "x", "first")
	link.cut.Store(true)
	time.Sleep(lease + lease/2)
	if got := lbtest.MustNext(t, b, []string{"x"}, "second"); got != "x" {
		t.Fatalf("Next = %q, want x: a's hold lapsed", got)
	}
	link.cut.Store(false)
	if !poll(time.Now().Add(3*lease), func() bool { return a.overCapacity.Load() == 1 }) {
		t.Fatalf("holds taken back over capacity = %d, want 1", a.overCapacity.Load())
	}
	lbtest.WantLoad(t, b, []string{"x"}, []int{2})
	if _, err := b.Next(context.Background(), []string{"x"}, "third"); !errors.Is(err, lb.ErrAtCapacity) {
		t.Fatalf("third call: %v, want ErrAtCapacity", err)
	}
	lbtest.MustRelease(t, b, "x", "second", true)
	lbtest.WantLoad(t, b, []string{"x"}, []int{1}) // the first call still counts
	if n := a.heldCount(); n != 1 {
		t.Fatalf("a renews %d holds, want 1", n)
	}
}

// cuttableClient is a Redis client whose scripts fail while cut is set, as
// if the network between one node and Redis were down.
type cuttableClient struct {
	redis.UniversalClient
	cut atomic.Bool
}

func (c *cuttableClient) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	if c.cut.Load() {
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(errors.New("link cut"))
		return cmd
	}
	return c.UniversalClient.EvalSha(ctx, sha, keys, args...)
}

func (c *cuttableClient) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	if c.cut.Load() {
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(errors.New("link cut"))
		return cmd
	}
	return c.UniversalClient.Eval(ctx, script, keys, args...)
}
