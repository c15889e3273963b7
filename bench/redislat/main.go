// Command redislat measures the Redis backend of ringlb: p50 and
// p99 latency of Next and Release, and next+release pairs per second, from
// 1, 8 and 64 concurrent callers, next to a raw PING, a raw trivial
// EVALSHA ("return 1") and the commands floor (a script sending a lone
// next's Redis commands without its logic), measured in the same run
// against the same server with the same client library and pool settings;
// then how latency grows from 3 to 1,000 destinations, and what the scripts
// and lease renewal cost the server.
//
//	go run ./bench/redislat [--quick] [--url redis://host:port/db] [--phase 2s]
//
// Without --url it starts its own redis-server on a free loopback port, in
// a temp dir with persistence off, and stops it at the end. With --url it
// uses keys under "ringlbbench:{<name>}:" and deletes them at the end; use
// a scratch database anyway. It prints a markdown fragment, then "@key
// value" lines for bench/run.sh. It measures only and asserts nothing.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ringlb/ringlb/internal/redistest"
	"github.com/ringlb/ringlb/lb"
	"github.com/ringlb/ringlb/lb/redislb"
)

var (
	flagURL    = flag.String("url", "", "Redis URL to use instead of starting a redis-server")
	flagQuick  = flag.Bool("quick", false, "small sizes (CI smoke): short phases, a 5 s timeout")
	flagPhase  = flag.Duration("phase", 0, "time per measured phase (default 2s, 250ms with --quick)")
	flagRounds = flag.Int("rounds", 5, "interleaved rounds per phase (each round runs every kind for phase/rounds)")
)

const keyPrefix = "ringlbbench:"

// opTimeout is the per-operation bound: ringlb's default, or with --quick
// (a smoke run that never judges timings) one that a loaded machine does
// not reach, so that its calls fail only for a reason of their own.
func opTimeout() time.Duration {
	if *flagQuick {
		return 5 * time.Second
	}
	return lb.DefaultTimeout
}

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "redislat:", err)
		os.Exit(1)
	}
}

func run() error {
	phase := *flagPhase
	if phase == 0 {
		phase = 2 * time.Second
		if *flagQuick {
			phase = 250 * time.Millisecond
		}
	}
	timeout := opTimeout()
	url := *flagURL
	if url == "" {
		srv, err := redistest.Launch()
		if err != nil {
			return fmt.Errorf("%w (install redis-server, or pass --url)", err)
		}
		defer srv.Stop()
		url = srv.URL()
		// Interrupted: stop the server before going.
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		go func() {
			<-sig
			srv.Stop()
			os.Exit(130)
		}()
	}
	ropts, err := redis.ParseURL(url)
	if err != nil {
		return fmt.Errorf("raw client needs a redis:// or unix:// url: %w", err)
	}
	// The same per-operation bound as the balancers' Options.Timeout,
	// which ringlb applies to dial, read, write and pool waits.
	ropts.DialTimeout, ropts.ReadTimeout, ropts.WriteTimeout, ropts.PoolTimeout = timeout, timeout, timeout, timeout
	ropts.MaxRetries = -1 // ringlb never retries either
	raw := redis.NewClient(ropts)
	defer raw.Close()
	ctx := context.Background()
	if err := raw.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("ping %s: %w", url, err)
	}
	version := serverVersion(ctx, raw)
	sha, err := raw.ScriptLoad(ctx, "return 1").Result()
	if err != nil {
		return fmt.Errorf("script load: %w", err)
	}
	floorSha, err := raw.ScriptLoad(ctx, floorLua).Result()
	if err != nil {
		return fmt.Errorf("script load: %w", err)
	}

	name := fmt.Sprintf("bench-%d", os.Getpid())
	b, err := redislb.New(name, lb.Options{URL: url, KeyPrefix: keyPrefix, Timeout: timeout})
	if err != nil {
		return err
	}
	defer cleanup(raw, name)
	defer b.Close()

	out := &strings.Builder{}
	p := func(format string, a ...any) { fmt.Fprintf(out, format+"\n", a...) }
	p("#### Redis backend (redis-server %s, %s; go-redis pool size %d, GOMAXPROCS %d, operation timeout %v)\n",
		version, where(*flagURL), poolSize(ropts.PoolSize), runtime.GOMAXPROCS(0), timeout)
	p("Latencies come from a mixed phase in which every caller issues PING, EVALSHA, the commands floor "+
		"and a next+release pair in turn, in an order shuffled per turn (a call's latency depends on the "+
		"kind before it), so the floors and ringlb see the same moment of a noisy machine; rates "+
		"come from phases that run one kind only. Each phase gets %v in total, in %d interleaved rounds. "+
		"Latency is per call as the caller sees it, including waiting for a pooled connection. next/release "+
		"use 10 destinations. The commands floor is a script that sends Redis exactly the commands of a "+
		"lone next (clock, reap, one HMGET, one HSET, one ZADD) with none of its logic.\n",
		phase, *flagRounds)

	dests10 := dests(10)
	if err := preload(ctx, b, dests10); err != nil {
		return err
	}
	ping := func(_, _ int, l []time.Duration) error {
		return timed(&l[0], func() error { return raw.Ping(ctx).Err() })
	}
	eval := func(_, _ int, l []time.Duration) error {
		return timed(&l[0], func() error { return raw.EvalSha(ctx, sha, nil).Err() })
	}
	floorName := name + "-floor"
	defer cleanup(raw, floorName)
	floor := func(ds []string) step {
		keys := make([]string, 4)
		for i, part := range []string{"exp", "mem", "idle", "gone"} {
			keys[i] = keyPrefix + "{" + floorName + "}:" + part
		}
		return func(w, i int, l []time.Duration) error {
			// One call id per caller and a lease of an hour: the floor's keys
			// keep one hold per caller, as next+release keep theirs small,
			// and its reap finds nothing, as next's does.
			args := []any{100, "bench-node", 3600000, 0, "fewest", 14400000, "n", 3 + len(ds),
				fmt.Sprintf("w%d-00000000-1c2d-4e5f-8a9b", w), "", ""}
			for _, d := range ds {
				args = append(args, d)
			}
			return timed(&l[0], func() error { return raw.EvalSha(ctx, floorSha, keys, args...).Err() })
		}
	}
	// mixed is one turn of every kind, in an order shuffled per turn: on
	// this VM a call's latency depends on the kind of call before it (by up
	// to 40 %), so a fixed order would favour some kinds.
	mixed := func(ds []string) step {
		pr := pairStep(ctx, b, ds)
		fl := floor(ds)
		return func(w, i int, l []time.Duration) error {
			kinds := []func() error{
				func() error { return ping(w, i, l[0:1]) },
				func() error { return eval(w, i, l[1:2]) },
				func() error { return fl(w, i, l[4:5]) },
				func() error { return pr(w, i, l[2:4]) },
			}
			rand.Shuffle(len(kinds), func(a, b int) { kinds[a], kinds[b] = kinds[b], kinds[a] })
			for _, k := range kinds {
				if err := k(); err != nil {
					return err
				}
			}
			return nil
		}
	}
	// Warm up: fill the connection pools, load the scripts, fault in pages.
	drive(64, phase/4, 5, mixed(dests10))

	kv := map[string]float64{}
	p("| callers | PING p50 µs | EVALSHA p50 µs | floor p50 µs | next p50 µs | next ÷ EVALSHA p50 | floor ÷ EVALSHA p50 | EVALSHA p99 µs | next p99 µs | release p50 µs | release p99 µs | PING/s | EVALSHA/s | pairs/s | pairs/s ÷ EVALSHA/s |")
	p("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	var errs int64
	slice := phase / time.Duration(*flagRounds)
	for _, c := range []int{1, 8, 64} {
		var lats [5]lat // ping, eval, next, release, floor
		var pingR, evalR, pairR counter
		for range *flagRounds {
			l, n, d, e := drive(c, slice, 5, mixed(dests10))
			for k := range lats {
				lats[k].add(l[k])
			}
			_, _, errs = n, d, errs+e
			_, n, d, e = drive(c, slice, 1, ping)
			pingR.add(n, d)
			errs += e
			_, n, d, e = drive(c, slice, 1, eval)
			evalR.add(n, d)
			errs += e
			_, n, d, e = drive(c, slice, 2, pairStep(ctx, b, dests10))
			pairR.add(n, d)
			errs += e
		}
		pp, ep, np, rp, fp := lats[0].q(50), lats[1].q(50), lats[2].q(50), lats[3].q(50), lats[4].q(50)
		p("| %d | %.0f | %.0f | %.0f | %.0f | **%.2f** | %.2f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | **%.2f** |",
			c, us(pp), us(ep), us(fp), us(np), ratio(np, ep), ratio(fp, ep), us(lats[1].q(99)), us(lats[2].q(99)),
			us(rp), us(lats[3].q(99)), pingR.rate(), evalR.rate(), pairR.rate(), pairR.rate()/evalR.rate())
		kv[fmt.Sprintf("c%d_floor_p50_us", c)] = us(fp)
		kv[fmt.Sprintf("c%d_floor_over_eval", c)] = ratio(fp, ep)
		kv[fmt.Sprintf("c%d_pairs_over_eval_rate", c)] = pairR.rate() / evalR.rate()
		kv[fmt.Sprintf("c%d_ping_p50_us", c)] = us(pp)
		kv[fmt.Sprintf("c%d_eval_p50_us", c)] = us(ep)
		kv[fmt.Sprintf("c%d_next_p50_us", c)] = us(np)
		kv[fmt.Sprintf("c%d_next_over_eval", c)] = ratio(np, ep)
		kv[fmt.Sprintf("c%d_release_p50_us", c)] = us(rp)
		kv[fmt.Sprintf("c%d_pairs_per_s", c)] = pairR.rate()
	}
	p("")

	p("Latency against destinations (1 caller, mixed phase as above, %v per size):\n", phase)
	p("| dests | EVALSHA p50 µs | next p50 µs | next ÷ EVALSHA p50 | next p99 µs | release p50 µs | next p50 µs per dest |")
	p("|---:|---:|---:|---:|---:|---:|---:|")
	for _, n := range []int{3, 10, 100, 1000} {
		ds := dests(n)
		if err := preload(ctx, b, ds); err != nil {
			return err
		}
		var lats [5]lat
		for range *flagRounds {
			l, _, _, e := drive(1, slice, 5, mixed(ds))
			for k := range lats {
				lats[k].add(l[k])
			}
			errs += e
		}
		ep, np := lats[1].q(50), lats[2].q(50)
		p("| %d | %.0f | %.0f | %.2f | %.0f | %.0f | %.2f |", n, us(ep), us(np), ratio(np, ep),
			us(lats[2].q(99)), us(lats[3].q(50)), us(np)/float64(n))
		kv[fmt.Sprintf("d%d_next_p50_us", n)] = us(np)
		kv[fmt.Sprintf("d%d_next_over_eval", n)] = ratio(np, ep)
	}
	p("")

	// Server time: what the scripts cost Redis itself, and the share the
	// background lease renewal takes of it. A server that refuses CONFIG
	// RESETSTAT (a managed one) leaves it out.
	if err := serverShare(ctx, raw, b, url, name, dests10, p, kv); err != nil {
		p("Server time: not measured (%v).\n", err)
	}
	if errs > 0 {
		p("**%d calls failed** (counted out of the latencies; first error on stderr).\n", errs)
	}
	kv["errors"] = float64(errs)
	fmt.Print(out.String())
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Printf("@%s %.3f\n", k, kv[k])
	}
	return nil
}

// floorLua sends Redis exactly the commands of a lone next in ringlb's
// scripts (lb/redislb/scripts/ops.lua: clock, reap, one HMGET of the group, the
// call's holds and the lru counter, one HSET of the chosen record, the
// call's holds and the counter, one ZADD of the lease) with none of the
// logic around them: what any script that reads and writes a hold this way
// costs. Its arguments are laid out like next's (fixed arguments, the call
// id, the destinations), without the ranking options it does not read. Each caller's hold is written again and
// again, never released; cleanup deletes the keys.
const floorLua = `
local t = redis.call("TIME")
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", now, "LIMIT", 0, ARGV[1])
local n = #ARGV - 11
local f = {}
for i = 1, n do f[i] = ARGV[11 + i] end
f[n + 1] = "\n" .. ARGV[9]
f[n + 2] = "\r"
redis.call("HMGET", KEYS[2], unpack(f))
local rec = struct.pack("<dddddddddd", 1, 0, 0, 7, now, 1, 0, now, 1, 0)
redis.call("HSET", KEYS[2], f[1], rec, f[n + 1], f[1] .. "\t" .. now .. "\t0\tr\t" .. ARGV[2], "\r", 7)
redis.call("ZADD", KEYS[1], now + ARGV[3], f[1] .. "\n" .. ARGV[9])
return {{1, 1, 1}}
`

// serverShare measures what a next+release pair and a lease renewal cost
// the server, and the share renewal takes for a busy switch.
func serverShare(ctx context.Context, raw *redis.Client, b lb.Balancer, url, name string, ds []string,
	p func(string, ...any), kv map[string]float64) error {
	const pairs = 2000
	pairUs, err := scriptMicros(ctx, raw, func() error {
		step := pairStep(ctx, b, ds)
		var l [2]time.Duration
		for i := range pairs {
			if err := step(0, i, l[:]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	const holds, renewals = 1000, 5
	renewName := name + "-renew"
	rb, err := redislb.New(renewName, lb.Options{URL: url, KeyPrefix: keyPrefix, Lease: 3 * time.Second, Timeout: opTimeout()})
	if err != nil {
		return err
	}
	defer cleanup(raw, renewName)
	defer rb.Close()
	for i := range holds {
		if _, err := rb.Acquire(ctx, fmt.Sprintf("user/%d", 2000+i%100), fmt.Sprintf("live-%d", i)); err != nil {
			return err
		}
	}
	renewUs, err := scriptMicros(ctx, raw, func() error {
		time.Sleep(renewals*time.Second + 500*time.Millisecond) // one renewal a second at lease 3 s
		return nil
	})
	if err != nil {
		return err
	}
	perHold := renewUs.total / float64(holds*renewals)
	perPair := pairUs.total / pairs
	const live, rate, lease = 1000.0, 10.0, 30.0
	renewShare := live * perHold / (lease / 3)
	share := renewShare / (renewShare + rate*perPair)
	p("Server time (Redis `INFO commandstats`, ringlb's scripts only): a next+release pair costs the server "+
		"%.1f µs (%d scripts for %d pairs); renewing a live hold costs %.2f µs per renewal (%d holds renewed %d times "+
		"in %d batched scripts). A switch with %.0f live calls and %.0f new calls a second at the default 30 s lease "+
		"renews every 10 s: %.0f µs of server time a second for renewal against %.0f µs for the calls, **%.0f %%** of "+
		"what ringlb costs the server.\n",
		perPair, pairUs.calls, pairs, perHold, holds, renewals, renewUs.calls, live, rate, renewShare, rate*perPair, 100*share)
	kv["server_pair_us"] = perPair
	kv["server_renew_per_hold_us"] = perHold
	kv["renewal_share_pct"] = 100 * share
	return nil
}

// serverTime is what Redis reports its scripts cost.
type serverTime struct {
	calls int64
	total float64 // µs
}

// scriptMicros runs f and returns the script calls the server ran meanwhile
// and their server time, from INFO commandstats (EVALSHA and EVAL).
func scriptMicros(ctx context.Context, raw *redis.Client, f func() error) (serverTime, error) {
	if err := raw.ConfigResetStat(ctx).Err(); err != nil {
		return serverTime{}, fmt.Errorf("config resetstat: %w", err)
	}
	if err := f(); err != nil {
		return serverTime{}, err
	}
	info, err := raw.Info(ctx, "commandstats").Result()
	if err != nil {
		return serverTime{}, fmt.Errorf("info commandstats: %w", err)
	}
	var st serverTime
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "cmdstat_evalsha:") && !strings.HasPrefix(line, "cmdstat_eval:") {
			continue
		}
		_, fields, _ := strings.Cut(line, ":")
		for _, kv := range strings.Split(fields, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "calls":
				n, _ := strconv.ParseInt(v, 10, 64)
				st.calls += n
			case "usec":
				n, _ := strconv.ParseFloat(v, 64)
				st.total += n
			}
		}
	}
	return st, nil
}

// lat collects latencies in nanoseconds.
type lat struct{ v []int64 }

func (l *lat) add(v []int64) { l.v = append(l.v, v...) }

// q returns the p-th percentile (nearest rank), or 0 with no samples.
func (l *lat) q(p float64) int64 {
	if len(l.v) == 0 {
		return 0
	}
	slices.Sort(l.v)
	i := int(p / 100 * float64(len(l.v)))
	if i >= len(l.v) {
		i = len(l.v) - 1
	}
	return l.v[i]
}

func us(ns int64) float64 { return float64(ns) / 1e3 }

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

var firstErr sync.Once

func reportErr(err error) {
	firstErr.Do(func() { fmt.Fprintln(os.Stderr, "redislat: first failed call:", err) })
}

// step is one unit of work for worker w's i-th turn: it makes one or more
// calls and stores each one's latency in l.
type step func(w, i int, l []time.Duration) error

// timed runs f and stores its duration in d.
func timed(d *time.Duration, f func() error) error {
	t0 := time.Now()
	err := f()
	*d = time.Since(t0)
	return err
}

// pairStep is one next+release: l[0] is next's latency, l[1] release's.
func pairStep(ctx context.Context, b lb.Balancer, ds []string) step {
	return func(w, i int, l []time.Duration) error {
		id := fmt.Sprintf("w%d-%08x-1c2d-4e5f-8a9b", w, i)
		t0 := time.Now()
		d, err := b.Next(ctx, ds, id)
		t1 := time.Now()
		if err != nil {
			return err
		}
		_, err = b.Release(ctx, d, id)
		l[0], l[1] = t1.Sub(t0), time.Since(t1)
		return err
	}
}

// counter sums operations and time over rounds.
type counter struct {
	n int64
	d time.Duration
}

func (c *counter) add(n int64, d time.Duration) { c.n += n; c.d += d }
func (c *counter) rate() float64                { return rate(c.n, c.d) }

// drive runs c goroutines for about d, each doing s in a loop, where s
// records k latencies per turn. It returns the k latency series (ns), how
// many turns succeeded, the elapsed time, and how many turns failed.
func drive(c int, d time.Duration, k int, s step) ([][]int64, int64, time.Duration, int64) {
	var (
		mu    sync.Mutex
		res   = make([][]int64, k)
		count atomic.Int64
		fails atomic.Int64
		stop  atomic.Bool
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	for w := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([][]int64, k)
			l := make([]time.Duration, k)
			<-start
			for i := 0; !stop.Load(); i++ {
				if err := s(w, i, l); err != nil {
					fails.Add(1)
					reportErr(err)
					continue
				}
				for j := range l {
					mine[j] = append(mine[j], int64(l[j]))
				}
				count.Add(1)
			}
			mu.Lock()
			for j := range res {
				res[j] = append(res[j], mine[j]...)
			}
			mu.Unlock()
		}()
	}
	t0 := time.Now()
	close(start)
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	return res, count.Load(), time.Since(t0), fails.Load()
}

func dests(n int) []string {
	d := make([]string, n)
	for i := range d {
		d[i] = fmt.Sprintf("user/%d@pbx.example.com", 1000+i)
	}
	return d
}

// preload gives destination i i%3 standing calls, as the other benchmarks
// do, so ranking has work to do. Holds already taken are kept.
func preload(ctx context.Context, b lb.Balancer, ds []string) error {
	for i, d := range ds {
		for k := 0; k < i%3; k++ {
			if _, err := b.Acquire(ctx, d, fmt.Sprintf("pre-%d-%d", i, k)); err != nil {
				return fmt.Errorf("preload: %w", err)
			}
		}
	}
	return nil
}

func serverVersion(ctx context.Context, c *redis.Client) string {
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			return v
		}
	}
	return "?"
}

// poolSize is go-redis's pool size for a configured value (0 = default).
func poolSize(n int) int {
	if n > 0 {
		return n
	}
	return 10 * runtime.GOMAXPROCS(0)
}

func where(url string) string {
	if url == "" {
		return "own instance on loopback"
	}
	return "--url given"
}

// cleanup deletes the benchmark's keys.
func cleanup(c *redis.Client, name string) {
	ctx := context.Background()
	iter := c.Scan(ctx, 0, keyPrefix+"{"+name+"}:*", 100).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if len(keys) > 0 {
		c.Del(ctx, keys...)
	}
}
