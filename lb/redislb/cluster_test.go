package redislb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ringlb/ringlb/internal/redistest"
	"github.com/ringlb/ringlb/lb"
	"github.com/ringlb/ringlb/lb/lbtest"
)

// TestRedisCluster runs balancers on a real three-master Redis Cluster on
// loopback: the keys of every balancer of a deployment share one hash tag,
// so they land on one master, and every operation is one script on one
// node, whose load counts the calls of every balancer. Then the
// deployment's slot moves to another master (MIGRATING/IMPORTING, MIGRATE,
// SETSLOT NODE) while calls keep coming: they fail only with lb.ErrBackend
// while its keys are split between the two, a call held across the move
// still counts after it, and the balancers work on the new master.
func TestRedisCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("a cluster takes seconds to form")
	}
	url, addrs := startCluster(t)
	admin := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	defer admin.Close()
	ctx := context.Background()

	// Twelve balancers of one deployment: one slot, one load.
	owners := map[string]bool{}
	var bals []*Redis
	for i := 0; i < 12; i++ {
		b := openRedis(t, uniqueName(fmt.Sprintf("cl%d", i)), url, lb.Options{Lease: 10 * time.Second, DefaultCapacity: 1})
		bals = append(bals, b)
		owners[nodeOfKey(t, admin, b.keys[0])] = true
		got := lbtest.MustNext(t, b, []string{"a", "b"}, "c1")
		if got2 := lbtest.MustNext(t, b, []string{"a", "b"}, "c2"); got2 == got {
			t.Fatalf("two calls on one capacity-1 member: %s", got)
		}
		if _, err := b.Next(ctx, []string{"a", "b"}, "c3"); !errors.Is(err, lb.ErrAtCapacity) {
			t.Fatalf("third call: %v, want ErrAtCapacity", err)
		}
		lbtest.MustRelease(t, b, "a", "c1", got == "a")
		lbtest.MustRelease(t, b, "a", "c2", got != "a")
		lbtest.MustRelease(t, b, "b", "c1", got == "b")
		lbtest.MustRelease(t, b, "b", "c2", got != "b")
		lbtest.WantLoad(t, b, []string{"a", "b"}, []int{0, 0})
	}
	if len(owners) != 1 {
		t.Fatalf("12 balancers of one deployment on several masters %v", owners)
	}
	lbtest.MustAcquire(t, bals[1], "shared", "on-1")
	lbtest.WantLoad(t, bals[11], []string{"shared"}, []int{1})

	// Move the deployment's slot under traffic.
	b := bals[0]
	lbtest.MustAcquire(t, b, "long", "held-across")
	slot, err := admin.ClusterKeySlot(ctx, b.keys[0]).Result()
	if err != nil {
		t.Fatal(err)
	}
	src := nodeOfKey(t, admin, b.keys[0])
	dst := ""
	for _, a := range addrs {
		if a != src {
			dst = a
			break
		}
	}
	var stop atomic.Bool
	var okOps, failedOps atomic.Int64
	var otherErr atomic.Value
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			call := fmt.Sprintf("m%d", i)
			d, err := b.Next(ctx, []string{"x", "y", "z"}, call)
			if err == nil {
				_, err = b.Release(ctx, d, call)
			}
			switch {
			case err == nil:
				okOps.Add(1)
			case errors.Is(err, lb.ErrBackend):
				failedOps.Add(1)
			default:
				otherErr.Store(err)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	time.Sleep(200 * time.Millisecond)
	moveStart := time.Now()
	moveSlot(t, ctx, addrs, src, dst, slot)
	moved := time.Since(moveStart)
	time.Sleep(500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if e := otherErr.Load(); e != nil {
		t.Fatalf("an operation failed with %v during the move, want only ErrBackend", e)
	}
	if got := nodeOfKey(t, admin, b.keys[0]); got != dst {
		t.Fatalf("slot %d on %s after the move, want %s", slot, got, dst)
	}
	lbtest.WantLoad(t, b, []string{"long", "x", "y", "z", "shared"}, []int{1, 0, 0, 0, 1})
	if got := lbtest.MustNext(t, b, []string{"x"}, "after"); got != "x" {
		t.Fatalf("Next after the move = %q", got)
	}
	t.Logf("Cluster: 12 balancers on %d of 3 masters, one slot; slot %d moved %s -> %s in %v under traffic: "+
		"%d next+release pairs worked, %d failed with ErrBackend; the call held across the move still counts",
		len(owners), slot, src, dst, moved.Round(time.Millisecond), okOps.Load(), failedOps.Load())
}

// startCluster starts a three-master Redis Cluster on loopback and returns
// its redis+cluster:// URL and its masters' addresses.
func startCluster(t *testing.T) (string, []string) {
	nodes := redistest.StartCluster(t, 3)
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.Addr
	}
	return "redis+cluster://" + strings.Join(addrs, ","), addrs
}

// nodeOfKey returns the address of the master that serves key.
func nodeOfKey(t *testing.T, admin *redis.ClusterClient, key string) string {
	t.Helper()
	ctx := context.Background()
	slot, err := admin.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	slots, err := admin.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range slots {
		if int64(s.Start) <= slot && slot <= int64(s.End) && len(s.Nodes) > 0 {
			return s.Nodes[0].Addr
		}
	}
	t.Fatalf("no master serves slot %d", slot)
	return ""
}

// moveSlot moves slot from the master at src to the one at dst as redis-cli
// --cluster reshard does: IMPORTING on dst, MIGRATING on src, MIGRATE of its
// keys, then SETSLOT NODE on every master.
func moveSlot(t *testing.T, ctx context.Context, addrs []string, src, dst string, slot int64) {
	t.Helper()
	client := func(addr string) *redis.Client { return redis.NewClient(&redis.Options{Addr: addr}) }
	s, d := client(src), client(dst)
	defer s.Close()
	defer d.Close()
	srcID, err1 := s.ClusterMyID(ctx).Result()
	dstID, err2 := d.ClusterMyID(ctx).Result()
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(d.Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", srcID).Err())
	must(s.Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", dstID).Err())
	host, port, _ := strings.Cut(dst, ":")
	for {
		keys, err := s.ClusterGetKeysInSlot(ctx, int(slot), 100).Result()
		must(err)
		if len(keys) == 0 {
			break
		}
		args := []any{"MIGRATE", host, port, "", 0, 5000, "KEYS"}
		for _, k := range keys {
			args = append(args, k)
		}
		must(s.Do(ctx, args...).Err())
	}
	for _, a := range addrs {
		c := client(a)
		must(c.Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", dstID).Err())
		c.Close()
	}
}

// TestRedisClusterMasterFailover kills (SIGKILL) the master that serves a
// balancer on a real Cluster of three masters with a replica each, under a
// next+release loop: operations fail only with lb.ErrBackend, each within its
// timeout, until the replica is promoted (node timeout 2 s); then they work
// on the new master, and a call held across the failover still counts,
// whether the replica had received its hold or the node's renewal took it
// back. The timeline is logged.
func TestRedisClusterMasterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("a cluster failover takes seconds")
	}
	nodes := redistest.StartClusterWithReplicas(t, 3, 1)
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.Addr
	}
	admin := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	defer admin.Close()
	const timeout = failoverTimeout
	b := openRedis(t, uniqueName("clfail"), "redis+cluster://"+strings.Join(addrs, ","),
		lb.Options{Lease: 3 * time.Second, Timeout: timeout, DefaultCapacity: 1})
	ctx := context.Background()
	lbtest.MustAcquire(t, b, "long", "held-across")
	if _, err := b.Answered(ctx, "long", "held-across"); err != nil {
		t.Fatal(err)
	}
	owner := nodeOfKey(t, admin, b.keys[0])
	var master *redistest.Server
	for _, n := range nodes {
		if n.Addr == owner {
			master = n
		}
	}
	if master == nil {
		t.Fatalf("no started node is %s", owner)
	}

	run := throughFailover(t, b, []string{"x", "y", "z"}, time.Second, func() { master.Kill(syscall.SIGKILL) },
		200*time.Millisecond, 30*time.Second)
	run.check(t, timeout)
	// The held call counts: replicated, or taken back by the renewal.
	if !poll(time.Now().Add(3*time.Second), func() bool {
		l, err := b.Load(ctx, []string{"long"})
		return err == nil && l[0] == 1
	}) {
		t.Fatalf("the call held across the failover does not count: %+v", lbtest.MustSnapshot(t, b).Holds)
	}
	if _, err := b.Next(ctx, []string{"long"}, "second"); !errors.Is(err, lb.ErrAtCapacity) {
		t.Fatalf("second call on the held member: %v, want ErrAtCapacity", err)
	}
	t.Logf("Cluster master failover: master %s killed at +0; %d of %d next+release pairs failed (all ErrBackend), "+
		"from %+.2fs to %+.2fs, working again at %+.2fs; slowest pair %v (timeout %v per operation); the call held "+
		"across it still counts (taken back %d times by renewal)", owner, run.fails, len(run.ops),
		run.firstFail.Sub(run.killed).Seconds(), run.lastFail.Sub(run.killed).Seconds(), run.back.Sub(run.killed).Seconds(),
		run.worst.Round(time.Millisecond), timeout, b.takenBack.Load())
}
