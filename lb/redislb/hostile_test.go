package redislb

// Regression tests of the Redis backend under a hostile host and server: a
// caller that reuses or unmaps its buffers after a call that timed out, a
// stalled server that runs timed-out scripts late, a server clock that
// steps (a server that evicts keys: shared_test.go).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/redis/go-redis/v9"
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
	keys := balancerKeys(lb.DefaultKeyPrefix, name)
	var st redisState
	all, err := admin.HGetAll(ctx, keys[1]).Result()
	if err != nil {
		t.Fatal(err)
	}
	for f, v := range all {
		st.memFields = append(st.memFields, f)
		st.memValues = append(st.memValues, v)
	}
	if st.expMembers, err = admin.ZRange(ctx, keys[0], 0, -1).Result(); err != nil {
		t.Fatal(err)
	}
	if st.idleMembers, err = admin.ZRange(ctx, keys[2], 0, -1).Result(); err != nil {
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
		case f == "\r" || f == "\rstart" || f == "probe" || f == "\nprobe":
		case strings.HasPrefix(f, "\n"):
			if !callRE.MatchString(f[1:]) {
				t.Errorf("call field %q is not a call id a caller passed", f)
			}
		case !destRE.MatchString(f):
			t.Errorf("destination %q is not one a caller passed", f)
		}
	}
	// Member records are packed numbers, where any byte may stand; the
	// text a caller's names could reach is the holds' lines, under the
	// call fields.
	for i, v := range st.memValues {
		if strings.HasPrefix(st.memFields[i], "\n") && strings.Contains(v, "#") {
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
