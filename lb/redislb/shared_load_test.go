package redislb

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/ringlb/ringlb/internal/redistest"
	"github.com/ringlb/ringlb/lb"
	"github.com/ringlb/ringlb/lb/lbtest"
)

// Balancers of one deployment (one Redis, one key prefix) share each
// member's load: lbtest.Shared on every kind of Redis the tests start.

// sharedPair returns a PairOpener of two balancers on url, in a deployment
// of their own (a fresh key prefix), with opts' other fields.
func sharedPair(url func(t *testing.T) string, opts lb.Options) lbtest.PairOpener {
	return func(t *testing.T, oa, ob lb.Options) (lb.Balancer, lb.Balancer) {
		u := url(t)
		prefix := uniqueName("sh") + ":"
		for _, o := range []*lb.Options{&oa, &ob} {
			o.KeyPrefix, o.Lease, o.Timeout = prefix, opts.Lease, opts.Timeout
		}
		return openRedis(t, "sales", u, oa), openRedis(t, "support", u, ob)
	}
}

func TestSharedMiniredis(t *testing.T) {
	// miniredis runs scripts far slower than Redis: a longer timeout, so a
	// busy machine does not fail the concurrent case.
	lbtest.Shared(t, sharedPair(func(t *testing.T) string { return "redis://" + miniredis.RunT(t).Addr() },
		lb.Options{Timeout: 5 * time.Second}))
}

func TestSharedRedisServer(t *testing.T) {
	srv := redistest.Start(t)
	lbtest.Shared(t, sharedPair(func(*testing.T) string { return srv.URL() }, lb.Options{}))
}

func TestSharedRedisSentinel(t *testing.T) {
	if testing.Short() {
		t.Skip("sentinels take seconds to start")
	}
	_, _, url := startSentinelSet(t)
	lbtest.Shared(t, sharedPair(func(*testing.T) string { return url }, lb.Options{Timeout: 2 * time.Second}))
}

func TestSharedRedisCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("a cluster takes seconds to form")
	}
	url, _ := startCluster(t)
	lbtest.Shared(t, sharedPair(func(*testing.T) string { return url }, lb.Options{Timeout: 2 * time.Second}))
}

// TestRedisStormSharedBalancers runs concurrent Next/Release from several
// processes, each on a balancer of its own of one deployment, over members
// of capacity 1: no member ever has two calls, whichever balancers placed
// them.
func TestRedisStormSharedBalancers(t *testing.T) {
	stormTest(t, 1, func(p int) string { return []string{"sales", "support", "billing"}[p%3] })
}

// TestRedisCrashSharedBalancer kills a process holding leases on one
// balancer with SIGKILL: its calls stop counting on another balancer of the
// deployment within one lease period, though no script of the dead
// balancer runs again; then its own reaping counts nothing out twice.
func TestRedisCrashSharedBalancer(t *testing.T) {
	srv := redistest.Start(t)
	const lease = 2 * time.Second
	prefix := uniqueName("crashsh") + ":"
	cfg := childConfig{Mode: "hold", URL: srv.URL(), KeyPrefix: prefix, Lease: lease}
	victimCfg, survivorCfg := cfg, cfg
	victimCfg.Name, victimCfg.Node = "sales", "victim"
	survivorCfg.Name, survivorCfg.Node = "support", "survivor"
	victimCfg.Holds = []string{"v/c1", "v/c2", "shared/c3"}
	survivorCfg.Holds = []string{"shared/c3", "shared/s1"} // c3: the victim's call, counted once
	victim := startChild(t, victimCfg)
	survivor := startChild(t, survivorCfg)

	// The parent observes on a third balancer, which holds nothing.
	obs := openRedis(t, "billing", srv.URL(), lb.Options{KeyPrefix: prefix, Lease: lease, Node: "observer", Timeout: 2 * time.Second})
	dests := []string{"v", "shared"}
	lbtest.WantLoad(t, obs, dests, []int{2, 2})

	admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer admin.Close()
	ctx := context.Background()
	keys := balancerKeys(prefix, "sales")
	leaseOf := func() (time.Duration, bool) {
		e, err := admin.ZScore(ctx, keys[5], "v\nc1\nsales").Result()
		if err != nil {
			return 0, false
		}
		return time.Duration(e) * time.Millisecond, true
	}
	first, ok := leaseOf()
	if !ok {
		t.Fatal("no lease entry for the victim's hold")
	}
	// Kill the victim once it has renewed, as TestRedisCrash does.
	if !poll(time.Now().Add(2*lease), func() bool { e, ok := leaseOf(); return ok && e > first }) {
		t.Fatal("the victim never renewed its leases")
	}
	killed := victim.kill(t)
	var last []int
	if !poll(killed.Add(lease+500*time.Millisecond), func() bool {
		l, err := obs.Load(ctx, dests)
		if err != nil {
			t.Fatal(err)
		}
		last = l
		return l[0] == 0 && l[1] == 2
	}) {
		t.Fatalf("%v after SIGKILL, load = %v; want [0 2] (c3 still the survivor's) within one lease (%v)",
			time.Since(killed), last, lease)
	}
	t.Logf("the dead balancer's load gone on another balancer %v after SIGKILL (lease %v)",
		time.Since(killed).Round(time.Millisecond), lease)
	// The dead balancer's own keys still list its holds: no script of it ran.
	if n, err := admin.ZCard(ctx, keys[0]).Result(); err != nil || n != 3 {
		t.Fatalf("the victim's exp holds %d entries (%v), want its 3 holds unreaped", n, err)
	}
	// Now the victim's balancer runs again (a restarted switch): its own
	// reaping drops its holds and counts nothing out a second time.
	again := openRedis(t, "sales", srv.URL(), lb.Options{KeyPrefix: prefix, Lease: lease, Node: "restarted", Timeout: 2 * time.Second})
	lbtest.WantLoad(t, again, dests, []int{0, 2})
	if n, err := admin.ZCard(ctx, keys[0]).Result(); err != nil || n != 0 {
		t.Fatalf("the victim's exp holds %d entries (%v) after its balancer ran, want 0", n, err)
	}
	lbtest.WantLoad(t, obs, dests, []int{0, 2})
	survivor.stdin.Close()
	select {
	case <-survivor.done:
	case <-time.After(10 * time.Second):
		t.Fatal("survivor did not exit after stdin closed")
	}
	// The survivor closed without releasing: its holds lapse too.
	if !poll(time.Now().Add(lease+2*time.Second), func() bool {
		l, err := obs.Load(ctx, dests)
		return err == nil && l[1] == 0
	}) {
		t.Fatalf("the survivor's holds still count after its lease")
	}
}
