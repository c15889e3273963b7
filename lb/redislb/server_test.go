package redislb

// Tests against a real redis-server started by the test (see
// internal/redistest): script flushes, snapshots in pages, forgetting idle
// destinations, batching under stress, and the benchmarks.

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ringlb/ringlb/internal/redistest"
	"github.com/ringlb/ringlb/lb"
	"github.com/ringlb/ringlb/lb/lbtest"
)

func TestConformanceRedisScriptFlush(t *testing.T) {
	srv := redistest.Start(t)
	testScriptFlush(t, srv.URL(), func() {
		if _, err := redistest.Do(srv.Addr, "SCRIPT", "FLUSH"); err != nil {
			t.Fatal(err)
		}
	})
}

func BenchmarkRedisNextRelease(b *testing.B) {
	srv := redistest.Start(b)
	for _, n := range []int{3, 10, 100, 1000} {
		b.Run(fmt.Sprintf("dests=%d", n), func(b *testing.B) {
			r := openRedis(b, uniqueName("bench"), srv.URL(), lb.Options{Timeout: 2 * time.Second})
			lbtest.BenchNextRelease(b, r, n)
		})
	}
}

// BenchmarkRedisPing is the floor the Redis benchmarks compare with: one
// PING round trip through a client built like the backend's.
func BenchmarkRedisPing(b *testing.B) {
	srv := redistest.Start(b)
	uo, err := redisUniversalOptions(srv.URL(), 2*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	c := redis.NewUniversalClient(uo)
	defer c.Close()
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := c.Ping(ctx).Err(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// A snapshot of a large balancer reads it in pages, so Redis, shared by
// every switch, is never held up by one long script (one HGETALL of all
// holds and a ZSCORE each once was): every hold shows once, with its
// destination's count.
func TestRedisSnapshotInPages(t *testing.T) {
	srv := redistest.Start(t)
	r := openRedis(t, uniqueName("pages"), srv.URL(), lb.Options{Lease: 30 * time.Second})
	ctx := context.Background()
	const dests, perDest = 600, 4 // 2,400 holds, 600 destinations: several pages each
	for d := 0; d < dests; d++ {
		for c := 0; c < perDest; c++ {
			lbtest.MustAcquire(t, r, fmt.Sprintf("user/%d", d), fmt.Sprintf("call-%d", c))
		}
	}
	if err := r.Drain(ctx, "user/7"); err != nil {
		t.Fatal(err)
	}
	s := lbtest.MustSnapshot(t, r)
	if len(s.Holds) != dests*perDest || len(s.Destinations) != dests {
		t.Fatalf("snapshot: %d holds, %d destinations; want %d, %d", len(s.Holds), len(s.Destinations), dests*perDest, dests)
	}
	for _, d := range s.Destinations {
		if d.Active != perDest || d.Started != perDest || d.Drained != (d.Dest == "user/7") {
			t.Fatalf("destination %+v", d)
		}
	}
	// The holds came in pages: several HSCAN calls of the holds hash.
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer admin.Close()
	hscans := func() int {
		info, err := admin.Info(ctx, "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		_, rest, _ := strings.Cut(info, "cmdstat_hscan:calls=")
		n, _ := strconv.Atoi(strings.SplitN(rest, ",", 2)[0])
		return n
	}
	before := hscans()
	lbtest.MustSnapshot(t, r)
	if n := hscans() - before; n < 4 { // started, last, and 2,400 holds in pages of about 250
		t.Fatalf("%d HSCAN calls for one snapshot, want the holds read in pages", n)
	}
}

// Regression: a Redis balancer kept the state of every destination it ever
// saw, so a stream of distinct destinations
// grew Redis's memory without bound. Beyond maxIdle (10,000) idle ones,
// the oldest are forgotten; held and drained ones are kept. The bound is
// Go's constant, which the scripts get from scripts.go.
func TestRedisForgetsIdleDestinations(t *testing.T) {
	srv := redistest.Start(t)
	name := uniqueName("idle")
	r := openRedis(t, name, srv.URL(), lb.Options{Lease: 30 * time.Second})
	ctx := context.Background()
	if err := r.Drain(ctx, "drained"); err != nil {
		t.Fatal(err)
	}
	lbtest.MustAcquire(t, r, "held", "up")
	const n = maxIdle + 200
	for i := 0; i < n; i++ {
		d := fmt.Sprintf("sofia/gateway/gw/+1555%07d", i)
		lbtest.MustAcquire(t, r, d, "c")
		lbtest.MustRelease(t, r, d, "c", true)
	}
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer admin.Close()
	keys := balancerKeys(lb.DefaultKeyPrefix, name)
	// mem also has the held call's holds and the start of the start
	// window; load has the shared records of held members, the held call
	// and the lru counter.
	bounded := func(n int) {
		t.Helper()
		for _, key := range []string{keys[1], keys[2], keys[4]} {
			var size int64
			var err error
			if key == keys[2] {
				size, err = admin.ZCard(ctx, key).Result()
			} else {
				size, err = admin.HLen(ctx, key).Result()
			}
			if err != nil || size > maxIdle+4 {
				t.Errorf("%s holds %d entries after %d distinct destinations (%v), want at most %d", key, size, n, err, maxIdle+4)
			}
		}
	}
	bounded(n)
	s := lbtest.MustSnapshot(t, r)
	var drained, held, oldest, newest bool
	for _, d := range s.Destinations {
		switch d.Dest {
		case "drained":
			drained = d.Drained
		case "held":
			held = d.Active == 1
		case "sofia/gateway/gw/+15550000000":
			oldest = true
		case fmt.Sprintf("sofia/gateway/gw/+1555%07d", n-1):
			newest = d.Started == 1
		}
	}
	if !drained || !held || oldest || !newest {
		t.Errorf("drained kept %v, held kept %v, oldest forgotten %v, newest kept %v; want true each",
			drained, held, !oldest, newest)
	}
	// A forgotten destination ranks as never used: first among equals.
	if got, _ := r.Order(ctx, []string{fmt.Sprintf("sofia/gateway/gw/+1555%07d", n-1), "sofia/gateway/gw/+15550000000"}); len(got) != 2 || got[0] != "sofia/gateway/gw/+15550000000" {
		t.Errorf("Order = %v, want the forgotten one first", got)
	}
	// Ranking scores members it never saw (fewest ties): those records
	// are bounded alike.
	for i := 0; i < n; i += 100 {
		dests := make([]string, 100)
		for j := range dests {
			dests[j] = fmt.Sprintf("sofia/gateway/gw/+1666%07d", i+j)
		}
		if _, err := r.Order(ctx, dests); err != nil {
			t.Fatal(err)
		}
	}
	bounded(2 * n)
}

// TestRedisStressBatches runs many goroutines of Next and Release against a
// real redis-server: capacity is never exceeded, every release finds its
// hold, loads end at 0, and simultaneous operations shared script calls
// (fewer script calls than operations).
func TestRedisStressBatches(t *testing.T) {
	srv := redistest.Start(t)
	r := openRedis(t, uniqueName("stress"), srv.URL(), lb.Options{DefaultCapacity: 3})
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer admin.Close()
	ctx := context.Background()
	if err := admin.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	const workers, iters = 32, 60
	lbtest.Stress(t, r, workers, iters)
	info, err := admin.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	var calls int
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_evalsha:calls="); ok {
			calls, _ = strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
		}
	}
	// At least a Next and a Release per iteration, plus the repeats.
	if ops := 2 * workers * iters; calls == 0 || calls >= ops {
		t.Fatalf("%d script calls for at least %d operations: none were batched", calls, ops)
	}
	t.Logf("%d script calls for %d+ operations", calls, 2*workers*iters)
}

// BenchmarkRedisOrderLoad measures Order and Load over n destinations,
// some of them loaded and answered (so fewest ties have scores to fade):
// each is one script call.
func BenchmarkRedisOrderLoad(b *testing.B) {
	srv := redistest.Start(b)
	ctx := context.Background()
	for _, n := range []int{10, 100} {
		r := openRedis(b, uniqueName("bench"), srv.URL(), lb.Options{Timeout: 2 * time.Second})
		dests := make([]string, n)
		for i := range dests {
			dests[i] = fmt.Sprintf("agent-%04d", i)
			if i%3 == 0 {
				call := fmt.Sprint("c", i)
				lbtest.MustAcquire(b, r, dests[i], call)
				if _, err := r.Answered(ctx, dests[i], call); err != nil {
					b.Fatal(err)
				}
			}
		}
		for _, op := range []struct {
			name string
			run  func() error
		}{
			{"order", func() error { _, err := r.Order(ctx, dests); return err }},
			{"load", func() error { _, err := r.Load(ctx, dests); return err }},
		} {
			b.Run(fmt.Sprintf("%s/dests=%d", op.name, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := op.run(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// A member record written before the no-answer back-off and the lift on
// return existed holds ten numbers: it reads with those fields at zero,
// ranks by its score, and is written back whole at its next change.
func TestRedisReadsRecordsOfTenNumbers(t *testing.T) {
	srv := redistest.Start(t)
	name := uniqueName("old")
	r := openRedis(t, name, srv.URL(), lb.Options{HalfLife: -1, StartWindow: -1, NoAnswerBackoff: time.Hour})
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer admin.Close()
	ctx := context.Background()
	// Live holds 0, not drained, no wrap-up, never held, scored at 1 ms
	// with 2, 0 talking, no last call, 0 started, 2 answered.
	const old = `return redis.call("HSET", KEYS[1], ARGV[1], struct.pack("<dddddddddd", 0, 0, 0, 0, 1, 2, 0, 0, 0, 2))`
	if err := admin.Eval(ctx, old, []string{r.keys[1]}, "old").Err(); err != nil {
		t.Fatal(err)
	}
	lbtest.WantOrder(t, r, []string{"old", "new"}, []string{"old", "new"}) // new starts level at 2
	d := lbtest.DestOf(lbtest.MustSnapshot(t, r), "old")
	if d == nil || d.Score != 2 || d.Answered != 2 || d.Unanswered != 0 || !d.BackoffUntil.IsZero() {
		t.Fatalf("old = %+v; want score 2, 2 answered, no back-off", d)
	}
	lbtest.MustAcquire(t, r, "old", "c1")
	if ok, err := r.Unanswered(ctx, "old", "c1"); !ok || err != nil {
		t.Fatalf("Unanswered = %v, %v", ok, err)
	}
	lbtest.WantOrder(t, r, []string{"old", "new"}, []string{"new", "old"})
	if d := lbtest.DestOf(lbtest.MustSnapshot(t, r), "old"); d == nil || d.Score != 2 || d.Unanswered != 1 {
		t.Fatalf("old = %+v; want score 2, 1 unanswered", d)
	}
}
