package redislb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ringlb/ringlb/internal/redistest"
	"github.com/ringlb/ringlb/lb"
	"github.com/ringlb/ringlb/lb/lbtest"
)

// TestRedisSentinelFailover runs next+release in a loop against a real
// Sentinel set (a master, a replica, three sentinels, all on loopback),
// kills the master with SIGKILL and lets Sentinel promote the replica: every
// operation returns within its timeout, fails only with lb.ErrBackend while
// there is no master, and works again on the new master, where the holds
// count right. The timeline is logged.
func TestRedisSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("a failover takes seconds")
	}
	master, replica, url := startSentinelSet(t)
	const timeout = failoverTimeout
	r := openRedis(t, uniqueName("failover"), url, lb.Options{Lease: 5 * time.Second, Timeout: timeout})
	dests := []string{"user/1", "user/2", "user/3"}

	run := throughFailover(t, r, dests, 2*time.Second, func() { master.Kill(syscall.SIGKILL) }, 3*time.Second, 25*time.Second)
	run.check(t, timeout)
	t.Logf("Sentinel failover: master killed at +0; %d of %d next+release pairs failed, from %+.2fs to %+.2fs; "+
		"working again on the new master (was replica %s) at %+.2fs; slowest pair %v (timeout %v per operation)",
		run.fails, len(run.ops), run.firstFail.Sub(run.killed).Seconds(), run.lastFail.Sub(run.killed).Seconds(), replica.Addr,
		run.back.Sub(run.killed).Seconds(), run.worst.Round(time.Millisecond), timeout)
	lbtest.WantLoad(t, r, dests, []int{0, 0, 0})
	lbtest.MustAcquire(t, r, "user/1", "after")
	lbtest.WantLoad(t, r, []string{"user/1"}, []int{1})
}

// startSentinelSet starts a master, its replica and three sentinels on
// loopback, and returns the redis+sentinel:// URL that names them.
func startSentinelSet(t *testing.T) (master, replica *redistest.Server, url string) {
	t.Helper()
	master = redistest.Start(t)
	replica = redistest.StartReplica(t, master)
	sentinels := redistest.StartSentinels(t, master, "ringlbm", 3, 1)
	addrs := make([]string, len(sentinels))
	for i, s := range sentinels {
		addrs[i] = s.Addr
	}
	return master, replica, "redis+sentinel://" + strings.Join(addrs, ",") + "/0?master_name=ringlbm"
}

// failoverRun is a next+release loop through a failover, as
// throughFailover ran it.
type failoverRun struct {
	ops []struct {
		at   time.Time
		took time.Duration
		err  error
	}
	killed                    time.Time
	fails                     int
	firstFail, lastFail, back time.Time // back: first success after the last failure
	worst                     time.Duration
}

// throughFailover runs next+release on dests every 20 ms, calls kill after
// killAfter, and stops once pairs have worked for settle after the kill (or
// after limit).
func throughFailover(t *testing.T, r *Redis, dests []string, killAfter time.Duration, kill func(),
	settle, limit time.Duration) *failoverRun {
	t.Helper()
	ctx := context.Background()
	run := &failoverRun{}
	start := time.Now()
	var okSince time.Time
	for i := 0; time.Since(start) < limit; i++ {
		if run.killed.IsZero() && time.Since(start) > killAfter {
			kill()
			run.killed = time.Now()
		}
		call := fmt.Sprintf("c%d", i)
		t0 := time.Now()
		d, err := r.Next(ctx, dests, call)
		if err == nil {
			_, err = r.Release(ctx, d, call)
		}
		run.ops = append(run.ops, struct {
			at   time.Time
			took time.Duration
			err  error
		}{t0, time.Since(t0), err})
		if err != nil {
			okSince = time.Time{}
		} else if okSince.IsZero() {
			okSince = t0
		}
		if !run.killed.IsZero() && !okSince.IsZero() && okSince.After(run.killed) && time.Since(okSince) > settle {
			break // working again for a while
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, o := range run.ops {
		run.worst = max(run.worst, o.took)
		if o.err != nil {
			run.fails++
			if run.firstFail.IsZero() {
				run.firstFail = o.at
			}
			run.lastFail = o.at
		} else if !run.lastFail.IsZero() && run.back.IsZero() && o.at.After(run.lastFail) {
			run.back = o.at
		}
	}
	if run.back.IsZero() || run.back.Before(run.lastFail) {
		run.back = run.killed
		for _, o := range run.ops {
			if o.err == nil && o.at.After(run.lastFail) {
				run.back = o.at
				break
			}
		}
	}
	return run
}

// failoverTimeout is the operation timeout of the failover tests: short
// enough that operations fail fast while there is no master, long enough
// that a loaded machine does not time out operations on a working one.
const failoverTimeout = time.Second

// check fails t unless every failure wrapped lb.ErrBackend, every pair took
// at most two operation timeouts (and boundMargin), and the last pair worked.
func (run *failoverRun) check(t *testing.T, timeout time.Duration) {
	t.Helper()
	for _, o := range run.ops {
		if o.err != nil && !errors.Is(o.err, lb.ErrBackend) {
			t.Errorf("operation failed with %v, want an error wrapping ErrBackend", o.err)
		}
	}
	if last := run.ops[len(run.ops)-1]; last.err != nil {
		t.Fatalf("not working again after the failover: %v (%d of %d pairs failed)", last.err, run.fails, len(run.ops))
	}
	if run.worst > 2*timeout+boundMargin {
		t.Errorf("slowest next+release took %v with a %v timeout per operation", run.worst, timeout)
	}
}
