package redislb

// Tests of what the balancers on one Redis share: one client, and the
// watch of its eviction policy.

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ringlb/ringlb/internal/hostlog"
	"github.com/ringlb/ringlb/internal/redistest"
	"github.com/ringlb/ringlb/lb"
	"github.com/ringlb/ringlb/lb/lbtest"
)

// Regression: with maxmemory-policy allkeys-lru every state key was evicted
// and 10 of 10 calls were admitted onto full members, while nothing checked
// the policy. Opening a balancer on such a server is an error.
func TestRedisOpenRefusesEvictingServer(t *testing.T) {
	lines := captureLog(t)
	for _, policy := range []string{"allkeys-lru", "allkeys-lfu", "allkeys-random"} {
		srv := redistest.StartWith(t, redistest.Config{Args: []string{"--maxmemory-policy", policy}})
		for range 3 { // a dialplan that keeps trying
			_, err := New(uniqueName("evict"), lb.Options{URL: srv.URL()})
			if !errors.Is(err, lb.ErrBackend) || !strings.Contains(err.Error(), "maxmemory-policy "+policy) ||
				!strings.Contains(err.Error(), "noeviction") {
				t.Errorf("open on a server with %s: %v; want ErrBackend naming the policy and noeviction", policy, err)
			}
		}
	}
	if got := lines(); len(got) != 0 {
		t.Errorf("failed opens logged %q: the error is the caller's, never a line per call", got)
	}
	// Keys without an expiry, such as ringlb's, are never evicted by these.
	for _, policy := range []string{"noeviction", "volatile-lru", "volatile-ttl"} {
		srv := redistest.StartWith(t, redistest.Config{Args: []string{"--maxmemory-policy", policy}})
		r := openRedis(t, uniqueName("evict"), srv.URL(), lb.Options{})
		lbtest.MustAcquire(t, r, "a", "c1")
	}
}

// captureLog sends hostlog's lines to the returned function's result until
// the test ends.
func captureLog(t *testing.T) func() []string {
	var mu sync.Mutex
	var lines []string
	hostlog.SetSink(func(_ hostlog.Level, line string) {
		mu.Lock()
		lines = append(lines, line)
		mu.Unlock()
	})
	t.Cleanup(func() { hostlog.SetSink(nil) })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), lines...)
	}
}

// evicting reports the StoreStats.Evicting of n.
func evicting(n *lb.Named) bool {
	s, _ := n.StoreStats()
	return s.Evicting
}

func countContaining(lines []string, s string) (n int) {
	for _, l := range lines {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// A policy changed to one that evicts while balancers are open is caught
// from time to time: a log line when it starts and when it ends, and
// Stats.Evicting (the ringlb_redis_evicting metric) while it lasts.
func TestRedisEvictionPolicyWatched(t *testing.T) {
	lines := captureLog(t)
	srv := redistest.Start(t)
	var reg lb.Registry
	// A 3 s lease renews every second, and the policy is read as often.
	n, err := reg.Open(uniqueName("watch"), lb.Options{URL: srv.URL(), Lease: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close(n.Name)
	if evicting(n) {
		t.Fatal("evicting with noeviction")
	}
	if _, err := redistest.Do(srv.Addr, "CONFIG", "SET", "maxmemory-policy", "allkeys-lru"); err != nil {
		t.Fatal(err)
	}
	if !poll(time.Now().Add(10*time.Second), func() bool { return evicting(n) }) {
		t.Fatal("an evicting policy set after open was not noticed")
	}
	if !poll(time.Now().Add(5*time.Second), func() bool { return countContaining(lines(), "maxmemory-policy allkeys-lru") == 1 }) {
		t.Fatalf("log lines %q: want one naming the policy", lines())
	}
	if _, err := redistest.Do(srv.Addr, "CONFIG", "SET", "maxmemory-policy", "noeviction"); err != nil {
		t.Fatal(err)
	}
	if !poll(time.Now().Add(10*time.Second), func() bool { return !evicting(n) }) {
		t.Fatal("the policy set back to noeviction was not noticed")
	}
	if !poll(time.Now().Add(5*time.Second), func() bool { return countContaining(lines(), "no longer evicted") == 1 }) {
		t.Fatalf("log lines %q: want one saying it ended", lines())
	}
	if got := countContaining(lines(), "maxmemory-policy allkeys-lru"); got != 1 {
		t.Fatalf("the evicting policy was logged %d times, want once", got)
	}
}

// A switch starts while Redis is down: the balancer opens at once, and the
// policy is read once Redis answers.
func TestRedisEvictionCheckedOnceRedisAnswers(t *testing.T) {
	srv := redistest.StartWith(t, redistest.Config{Args: []string{"--maxmemory-policy", "allkeys-lru"}})
	srv.Stop()
	var reg lb.Registry
	start := time.Now()
	n, err := reg.Open(uniqueName("late"), lb.Options{URL: srv.URL(), Lease: 3 * time.Second})
	if err != nil {
		t.Fatalf("open with Redis down: %v", err)
	}
	defer reg.Close(n.Name)
	if took := time.Since(start); took > lb.DefaultTimeout+time.Second {
		t.Errorf("open with Redis down took %v", took)
	}
	srv.Restart()
	if !poll(time.Now().Add(10*time.Second), func() bool { return evicting(n) }) {
		t.Fatal("the evicting policy of a Redis that came back was not noticed")
	}
}

// connectedClients is how many clients a redis-server has, not counting
// the one asking.
func connectedClients(t *testing.T, addr string) int {
	t.Helper()
	info, err := redistest.Do(addr, "INFO", "clients")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(line, "connected_clients:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n - 1
		}
	}
	t.Fatalf("no connected_clients in %q", info)
	return 0
}

// Regression: each Redis balancer name kept a connection pool and a renewal
// goroutine for the life of the process (1,000 names: 1,000 sockets).
// Balancers on one Redis share one client and one goroutine, every
// balancer's leases are still renewed, and closing the last one closes the
// connections.
func TestRedisBalancersShareOneClient(t *testing.T) {
	srv := redistest.Start(t)
	const names = 1000
	const lease = 3 * time.Second
	var reg lb.Registry
	g0 := runtime.NumGoroutine()
	for i := range names {
		n, err := reg.Open(fmt.Sprintf("share-%d", i), lb.Options{URL: srv.URL(), Lease: lease, Timeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		lbtest.MustAcquire(t, n, "d", "c")
	}
	conns, goroutines := connectedClients(t, srv.Addr), runtime.NumGoroutine()-g0
	t.Logf("%d balancers: %d connections to Redis, %d goroutines more", names, conns, goroutines)
	if pool := 10 * runtime.GOMAXPROCS(0); conns > pool {
		t.Errorf("%d connections for %d balancers on one Redis, want at most one pool (%d)", conns, names, pool)
	}
	if goroutines > 50 {
		t.Errorf("%d goroutines more for %d balancers", goroutines, names)
	}
	// Two leases later every hold is still there: all were renewed.
	time.Sleep(2 * lease)
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer admin.Close()
	pipe := admin.Pipeline()
	cards := make([]*redis.IntCmd, names)
	for i := range names {
		cards[i] = pipe.ZCard(context.Background(), balancerKeys(lb.DefaultKeyPrefix, "share-"+strconv.Itoa(i))[0])
	}
	if _, err := pipe.Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, c := range cards {
		if c.Val() != 1 {
			t.Fatalf("balancer share-%d has %d holds two leases on, want 1", i, c.Val())
		}
	}
	admin.Close()
	for i := range names {
		if _, err := reg.Close(fmt.Sprintf("share-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if !poll(time.Now().Add(5*time.Second), func() bool { return connectedClients(t, srv.Addr) == 0 }) {
		t.Fatalf("%d connections left after every balancer closed", connectedClients(t, srv.Addr))
	}
}
