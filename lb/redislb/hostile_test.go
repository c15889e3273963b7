package redislb

// Regression tests of the Redis backend under a hostile host and server: a
// caller that reuses or unmaps its buffers after a call that timed out, a
// stalled server that runs timed-out scripts late, a server clock that
// steps, a server that evicts keys, and dialplans that open many names.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/redis/go-redis/v9"
	"github.com/ringlb/ringlb/internal/hostlog"
	"github.com/ringlb/ringlb/internal/redistest"
	"github.com/ringlb/ringlb/lb"
	"github.com/ringlb/ringlb/lb/lbtest"
)

// redisState is every field and member of a balancer's keys.
type redisState struct {
	memFields, expMembers, idleMembers []string
	memValues                          []string
}

func readRedisState(t *testing.T, addr, name string) redisState {
	t.Helper()
	admin := redis.NewClient(&redis.Options{Addr: addr})
	defer admin.Close()
	ctx := context.Background()
	base := lb.DefaultKeyPrefix + "{" + name + "}:"
	var st redisState
	all, err := admin.HGetAll(ctx, base+"3:mem").Result()
	if err != nil {
		t.Fatal(err)
	}
	for f, v := range all {
		st.memFields = append(st.memFields, f)
		st.memValues = append(st.memValues, v)
	}
	if st.expMembers, err = admin.ZRange(ctx, base+"3:exp", 0, -1).Result(); err != nil {
		t.Fatal(err)
	}
	if st.idleMembers, err = admin.ZRange(ctx, base+"3:idle", 0, -1).Result(); err != nil {
		t.Fatal(err)
	}
	return st
}

// Regression: a Redis operation kept views of the caller's strings, and one
// that timed out while queued could still be written out later: with a
// stalled Redis and a caller that scribbled over or unmapped its buffers
// right after the timed-out call returned, Redis got holds under garbage
// destinations, or with destination and call id swapped, and the writer
// could fault on unmapped memory (the switch dies). Every name Redis holds
// must be one a caller passed, whole, and the process must live.
func TestRedisStalledCallsKeepNoCallerMemory(t *testing.T) {
	srv := redistest.Start(t)
	name := uniqueName("stall-mem")
	const timeout = 50 * time.Millisecond
	r := openRedis(t, name, srv.URL(), lb.Options{Lease: 30 * time.Second, Timeout: timeout})
	const workers, rounds, ndest = 16, 8, 4
	page := os.Getpagesize()
	ctx := context.Background()
	// Scripts loaded, so that what the stalled server runs later takes
	// effect.
	if _, err := r.Count(ctx, "probe", "probe"); err != nil {
		t.Fatal(err)
	}
	srv.Pause()
	paused := true
	defer func() {
		if paused {
			srv.Resume()
		}
	}()
	var wg sync.WaitGroup
	var slowest atomic.Int64
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				buf, err := syscall.Mmap(-1, 0, page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
				if err != nil {
					t.Error(err)
					return
				}
				// Strings in the mapping, as a C caller's would be.
				view := func(at int, s string) (string, int) {
					copy(buf[at:], s)
					return unsafe.String(&buf[at], len(s)), at + len(s)
				}
				at := 0
				dests := make([]string, ndest)
				for k := range dests {
					dests[k], at = view(at, fmt.Sprintf("d-%d-%d-%d", w, i, k))
				}
				call, _ := view(at, fmt.Sprintf("c-%d-%d", w, i))
				start := time.Now()
				var opErr error
				if i%2 == 0 {
					_, opErr = r.Next(ctx, dests, call)
				} else {
					_, opErr = r.Acquire(ctx, dests[0], call)
				}
				slowest.Store(max(slowest.Load(), int64(time.Since(start))))
				if !errors.Is(opErr, lb.ErrBackend) {
					t.Errorf("call with Redis stalled: %v, want ErrBackend", opErr)
				}
				for j := range buf {
					buf[j] = '#'
				}
				if err := syscall.Munmap(buf); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	srv.Resume()
	paused = false
	if d := time.Duration(slowest.Load()); d > timeout+time.Second {
		t.Errorf("slowest call with Redis stalled took %v (timeout %v)", d, timeout)
	}
	// Whatever reached the server has run once a later script has.
	if !poll(time.Now().Add(10*time.Second), func() bool {
		_, err := r.Load(ctx, []string{"probe"})
		return err == nil
	}) {
		t.Fatal("Redis did not answer again")
	}
	st := readRedisState(t, srv.Addr, name)
	destRE := regexp.MustCompile(`^d-(\d+)-(\d+)-\d$`)
	callRE := regexp.MustCompile(`^c-(\d+)-(\d+)$`)
	for _, f := range st.memFields {
		switch {
		case f == "\r" || f == "probe" || f == "\nprobe":
		case strings.HasPrefix(f, "\n"):
			if !callRE.MatchString(f[1:]) {
				t.Errorf("call field %q is not a call id a caller passed", f)
			}
		case !destRE.MatchString(f):
			t.Errorf("destination %q is not one a caller passed", f)
		}
	}
	for _, v := range st.memValues {
		if strings.Contains(v, "#") {
			t.Errorf("stored value %q holds the caller's scribbles", v)
		}
	}
	for _, d := range st.idleMembers {
		if d != "probe" && !destRE.MatchString(d) {
			t.Errorf("idle destination %q is not one a caller passed", d)
		}
	}
	for _, m := range st.expMembers {
		dest, call, _ := strings.Cut(m, "\n")
		if m == "probe\nprobe" {
			continue
		}
		dm, cm := destRE.FindStringSubmatch(dest), callRE.FindStringSubmatch(call)
		if dm == nil || cm == nil || dm[1] != cm[1] || dm[2] != cm[2] {
			t.Errorf("hold %q: destination and call id are not a pair a caller passed", m)
		}
	}
	t.Logf("%d calls with Redis stalled, slowest %v; %d destinations and %d holds in Redis after", workers*rounds,
		time.Duration(slowest.Load()), len(st.idleMembers), len(st.expMembers))
}

// Regression: a next or acquire that timed out on the client could still
// run on the server (a script queued in a stalled Redis runs when it wakes),
// leaving a hold that nobody would release: after two 1.5 s stalls with 8
// threads calling, 7-11 holds of calls that got an error stayed a whole
// lease (about 28 s), and with capacity 1 their members were skipped all
// that time. They must stop counting within a short bound
// of Redis answering again; holds of calls that succeeded must stay.
func TestRedisFailedCallsLeaveNoHolds(t *testing.T) {
	srv := redistest.Start(t)
	name := uniqueName("phantom")
	const lease = 30 * time.Second
	// The documented bound is two release retries (2 x 200 ms) after Redis
	// answers; the rest is margin for a loaded machine, far below a lease.
	const bound = 3 * time.Second
	r := openRedis(t, name, srv.URL(), lb.Options{Lease: lease, Timeout: 250 * time.Millisecond, DefaultCapacity: 1})
	ctx := context.Background()
	for i := range 4 {
		lbtest.MustAcquire(t, r, fmt.Sprintf("keep%d", i), fmt.Sprintf("kept%d", i))
	}
	dests := make([]string, 16)
	for i := range dests {
		dests[i] = fmt.Sprintf("agent%d", i)
	}
	var mu sync.Mutex
	failed := map[string]bool{}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				call := fmt.Sprintf("w%d-%d", w, i)
				d, err := r.Next(ctx, dests, call)
				switch {
				case err == nil:
					r.Release(ctx, d, call) // retried in the background if it fails
				case errors.Is(err, lb.ErrBackend):
					mu.Lock()
					failed[call] = true
					mu.Unlock()
				case !errors.Is(err, lb.ErrAtCapacity):
					t.Errorf("next: %v", err)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	stall := func() { // as DEBUG SLEEP 1.5 does
		srv.Pause()
		time.Sleep(1500 * time.Millisecond)
		srv.Resume()
	}
	time.Sleep(200 * time.Millisecond)
	stall()
	time.Sleep(200 * time.Millisecond)
	stall()
	answered := time.Now()
	stop.Store(true)
	wg.Wait()
	if len(failed) == 0 {
		t.Fatal("no call failed while Redis slept")
	}
	leftover := func() (n int) {
		s, err := r.Snapshot(ctx)
		if err != nil {
			return -1
		}
		for _, h := range s.Holds {
			if failed[h.CallID] {
				n++
			}
		}
		return n
	}
	first := leftover()
	if !poll(answered.Add(bound), func() bool { return leftover() == 0 }) {
		t.Fatalf("%d holds of calls that got an error still count %v after Redis answered again (bound %v)",
			leftover(), time.Since(answered).Round(time.Millisecond), bound)
	}
	gone := time.Since(answered)
	for i := range 4 {
		if h := lbtest.HoldOf(lbtest.MustSnapshot(t, r), fmt.Sprintf("keep%d", i), fmt.Sprintf("kept%d", i)); h == nil {
			t.Errorf("the hold of call kept%d, which never failed, was dropped", i)
		}
	}
	for _, d := range dests {
		lbtest.WantLoad(t, r, []string{d}, []int{0})
	}
	t.Logf("%d calls failed during two 1.5 s stalls; %d of their holds were in Redis after; none %v after Redis answered",
		len(failed), first, gone.Round(time.Millisecond))
}

// clockShiftedRedis starts a redis-server whose wall clock the test steps
// with shift(ms), through the LD_PRELOAD library testdata/clockshift.c.
func clockShiftedRedis(t *testing.T) (srv *redistest.Server, shift func(ms int64)) {
	t.Helper()
	cc, err := exec.LookPath("cc")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("no C compiler for the clock-step library")
		}
		t.Skip("no C compiler for the clock-step library")
	}
	dir := t.TempDir()
	so, file := dir+"/clockshift.so", dir+"/shift"
	if out, err := exec.Command(cc, "-shared", "-fPIC", "-O2", "-o", so, "testdata/clockshift.c", "-ldl").CombinedOutput(); err != nil {
		t.Fatalf("building the clock-step library: %v\n%s", err, out)
	}
	if err := os.WriteFile(file, []byte("0"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv = redistest.StartWith(t, redistest.Config{Env: []string{"LD_PRELOAD=" + so, "CLOCKSHIFT_FILE=" + file}})
	serverMs := func() int64 {
		v, err := redistest.Do(srv.Addr, "EVAL", "return tostring(redis.call('TIME')[1] * 1000)", "0")
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.ParseFloat(v, 64)
		return int64(n)
	}
	shift = func(ms int64) {
		t.Helper()
		if err := os.WriteFile(file, []byte(strconv.FormatInt(ms, 10)), 0o644); err != nil {
			t.Fatal(err)
		}
		// The library reads the file every 10 ms: wait until the server's
		// clock shows the step.
		if !poll(time.Now().Add(5*time.Second), func() bool {
			d := serverMs() - time.Now().UnixMilli() - ms
			return d > -2000 && d < 2000
		}) {
			t.Fatalf("the server's clock did not step to %+d ms", ms)
		}
	}
	return srv, shift
}

// Regression: wrap-up ends and lease expiries were absolute server times, so
// a 1 h backward step of the Redis server's clock kept a 20 s wrap-up
// blocking at +23 s and let a dead node's hold outlive its 5 s lease. A step
// either way must extend nothing beyond its own duration, and live holds
// keep counting.
func TestRedisClockStepsExtendNothing(t *testing.T) {
	srv, shift := clockShiftedRedis(t)
	ctx := context.Background()
	const margin = 2 * time.Second // a loaded machine
	t.Run("wrapup", func(t *testing.T) {
		const wrapup = 3 * time.Second
		r := openRedis(t, uniqueName("step-wrap"), srv.URL(), lb.Options{DefaultWrapup: wrapup, Timeout: time.Second})
		lbtest.MustAcquire(t, r, "agent", "c1")
		if _, err := r.Answered(ctx, "agent", "c1"); err != nil {
			t.Fatal(err)
		}
		lbtest.MustRelease(t, r, "agent", "c1", true)
		ended := time.Now()
		if _, err := r.Next(ctx, []string{"agent"}, "c2"); !errors.Is(err, lb.ErrAtCapacity) {
			t.Fatalf("next during wrap-up: %v, want ErrAtCapacity", err)
		}
		shift(-time.Hour.Milliseconds())
		if !poll(ended.Add(wrapup+margin), func() bool {
			_, err := r.Next(ctx, []string{"agent"}, "c2")
			return err == nil
		}) {
			t.Fatalf("a %v wrap-up still blocks %v after the call ended, across a 1 h backward step", wrapup, time.Since(ended))
		}
		t.Logf("wrap-up ended %v after the call, across a 1 h backward step", time.Since(ended).Round(time.Millisecond))
	})
	t.Run("lease", func(t *testing.T) {
		const lease = 2 * time.Second
		name := uniqueName("step-lease")
		dead := openRedis(t, name, srv.URL(), lb.Options{Lease: lease, Node: "dead"})
		live := openRedis(t, name, srv.URL(), lb.Options{Lease: lease, Node: "live"})
		lbtest.MustAcquire(t, dead, "x", "d1")
		lbtest.MustAcquire(t, live, "y", "l1")
		dead.Close() // stops renewing
		stopped := time.Now()
		shift(-2 * time.Hour.Milliseconds())
		if !poll(stopped.Add(lease+margin), func() bool {
			l, err := live.Load(ctx, []string{"x"})
			return err == nil && l[0] == 0
		}) {
			t.Fatalf("a dead node's hold outlived its %v lease by %v across a 1 h backward step", lease, time.Since(stopped)-lease)
		}
		t.Logf("a dead node's hold stopped counting %v after its last renewal at most (lease %v), across a 1 h backward step",
			time.Since(stopped).Round(time.Millisecond), lease)
		// A forward step may end leases early; the live node's renewal
		// takes its hold back within a tick.
		shift(-time.Hour.Milliseconds())
		for range 3 {
			if !poll(time.Now().Add(lease/3+margin), func() bool {
				l, err := live.Load(ctx, []string{"y"})
				return err == nil && l[0] == 1
			}) {
				t.Fatal("the live node's hold stopped counting after the clock stepped forward")
			}
			time.Sleep(lease / 2)
		}
		if s := lbtest.MustSnapshot(t, live); len(s.Holds) != 1 || s.Holds[0].Expires.After(time.Now().Add(-time.Hour+lease+margin)) {
			t.Fatalf("holds %+v: want l1's expiry within a lease of the server's (stepped) clock", s.Holds)
		}
	})
}

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
		cards[i] = pipe.ZCard(context.Background(), lb.DefaultKeyPrefix+"{share-"+strconv.Itoa(i)+"}:3:exp")
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
