package lb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ringlb/ringlb/internal/redistest"
)

// TestRedisSentinelFailover runs next+release in a loop against a real
// Sentinel set (a master, a replica, three sentinels, all on loopback),
// kills the master with SIGKILL and lets Sentinel promote the replica: every
// operation returns within its timeout, fails only with ErrBackend while
// there is no master, and works again on the new master, where the holds
// count right. The timeline is logged.
func TestRedisSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("a failover takes seconds")
	}
	master, replica, url := startSentinelSet(t)
	const timeout = 250 * time.Millisecond
	r := openRedis(t, uniqueName("failover"), url, Options{Lease: 5 * time.Second, Timeout: timeout})
	ctx := context.Background()
	dests := []string{"user/1", "user/2", "user/3"}

	type op struct {
		at   time.Time
		took time.Duration
		err  error
	}
	var ops []op
	start := time.Now()
	var killed time.Time
	for i := 0; time.Since(start) < 25*time.Second; i++ {
		if killed.IsZero() && time.Since(start) > 2*time.Second {
			master.Kill(syscall.SIGKILL)
			killed = time.Now()
		}
		call := fmt.Sprintf("c%d", i)
		t0 := time.Now()
		d, err := r.Next(ctx, dests, call)
		if err == nil {
			_, err = r.Release(ctx, d, call)
		}
		ops = append(ops, op{at: t0, took: time.Since(t0), err: err})
		if !killed.IsZero() && err == nil && time.Since(killed) > 3*time.Second && ops[len(ops)-2].err == nil {
			break // working again on the new master
		}
		time.Sleep(20 * time.Millisecond)
	}
	var firstFail, lastFail, back time.Time
	var worst time.Duration
	fails := 0
	for _, o := range ops {
		worst = max(worst, o.took)
		if o.err != nil {
			fails++
			if !errors.Is(o.err, ErrBackend) {
				t.Errorf("operation failed with %v, want an error wrapping ErrBackend", o.err)
			}
			if firstFail.IsZero() {
				firstFail = o.at
			}
			lastFail = o.at
		} else if !lastFail.IsZero() && back.IsZero() && o.at.After(lastFail) {
			back = o.at
		}
	}
	if back.IsZero() && fails > 0 {
		t.Fatalf("no operation worked after the failover: %d of %d failed since the kill", fails, len(ops))
	}
	// A next+release pair is two operations, each bounded by the timeout.
	if worst > 2*timeout*12/10 {
		t.Errorf("slowest next+release took %v with a %v timeout per operation", worst, timeout)
	}
	if back.IsZero() {
		back = killed
	}
	t.Logf("Sentinel failover: master killed at +0; %d of %d next+release pairs failed, from %+.2fs to %+.2fs; "+
		"working again on the new master (was replica %s) at %+.2fs; slowest pair %v (timeout %v per operation)",
		fails, len(ops), firstFail.Sub(killed).Seconds(), lastFail.Sub(killed).Seconds(), replica.Addr,
		back.Sub(killed).Seconds(), worst.Round(time.Millisecond), timeout)
	wantLoad(t, r, dests, []int{0, 0, 0})
	mustAcquire(t, r, "user/1", "after")
	wantLoad(t, r, []string{"user/1"}, []int{1})
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
