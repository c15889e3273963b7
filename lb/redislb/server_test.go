package redislb

// Tests against a real redis-server started by the test (see
// internal/redistest), with several OS processes: the test binary re-runs
// itself as children in a mode chosen by RINGLB_REDIS_CHILD (see TestMain).

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
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

const childEnv = "RINGLB_REDIS_CHILD"

// childConfig is what a child process is told, as JSON in RINGLB_REDIS_CHILD_CONFIG.
type childConfig struct {
	Mode     string        `json:"mode"` // hold or storm
	URL      string        `json:"url"`
	Name     string        `json:"name"`
	Node     string        `json:"node"`
	Lease    time.Duration `json:"lease"`
	Capacity int           `json:"capacity"`
	// hold: "dest/call" pairs to acquire.
	Holds []string `json:"holds"`
	// storm: destinations, workers and cycles per worker.
	Dests   []string `json:"dests"`
	Workers int      `json:"workers"`
	Cycles  int      `json:"cycles"`
}

// stormResult is what a storm child reports.
type stormResult struct {
	Picks  map[string]int `json:"picks"`
	Full   int            `json:"full"`
	Errors []string       `json:"errors"`
}

// runChild is the body of the child processes that TestRedisCrash and
// TestRedisStorm start: TestMain runs it, instead of the tests, when
// childEnv is set. It returns the process's exit code.
func runChild(raw string) int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	var cfg childConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		return fail(err)
	}
	r, err := New(cfg.Name, lb.Options{URL: cfg.URL, Node: cfg.Node, Lease: cfg.Lease, DefaultCapacity: cfg.Capacity, Timeout: 2 * time.Second})
	if err != nil {
		return fail(err)
	}
	defer r.Close()
	ctx := context.Background()
	stdin := bufio.NewReader(os.Stdin)
	switch cfg.Mode {
	case "hold":
		for _, h := range cfg.Holds {
			dest, call, _ := strings.Cut(h, "/")
			if ok, err := r.Acquire(ctx, dest, call); !ok || err != nil {
				return fail(fmt.Errorf("Acquire(%s, %s) = %v, %v", dest, call, ok, err))
			}
		}
		fmt.Println("READY")
		_, _ = io.Copy(io.Discard, stdin) // until the parent closes stdin, or kills us
	case "storm":
		fmt.Println("READY")
		if _, err := stdin.ReadString('\n'); err != nil { // "GO"
			return fail(err)
		}
		var (
			mu  sync.Mutex
			res = stormResult{Picks: map[string]int{}}
			wg  sync.WaitGroup
		)
		for w := range cfg.Workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range cfg.Cycles {
					call := fmt.Sprintf("%s-w%d-%d", cfg.Node, w, i)
					d, err := r.Next(ctx, cfg.Dests, call)
					mu.Lock()
					switch {
					case err == nil:
						res.Picks[d]++
					case errors.Is(err, lb.ErrAtCapacity):
						res.Full++
					default:
						res.Errors = append(res.Errors, err.Error())
					}
					mu.Unlock()
					if err != nil {
						time.Sleep(time.Millisecond) // back off, then try a new call
						continue
					}
					time.Sleep(time.Duration(i%3) * time.Millisecond) // calls of varied length
					if ok, err := r.Release(ctx, d, call); !ok || err != nil {
						mu.Lock()
						res.Errors = append(res.Errors, fmt.Sprintf("Release(%s, %s) = %v, %v", d, call, ok, err))
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		out, _ := json.Marshal(res)
		fmt.Printf("RESULT %s\n", out)
	default:
		return fail(fmt.Errorf("unknown child mode %q", cfg.Mode))
	}
	return 0
}

// child is a running child process.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	done  chan struct{}
}

// startChild starts the test binary as a child and waits for its READY.
func startChild(t *testing.T, cfg childConfig) *child {
	t.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0]) // TestMain runs runChild
	cmd.Env = append(os.Environ(), childEnv+"="+string(raw))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stdin: stdin, lines: make(chan string, 16), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
		_ = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.done
	})
	c.expect(t, "READY", 30*time.Second)
	return c
}

// expect waits for a line starting with prefix and returns its rest.
func (c *child) expect(t *testing.T, prefix string, within time.Duration) string {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				t.Fatalf("child %d exited before %q", c.cmd.Process.Pid, prefix)
			}
			if rest, ok := strings.CutPrefix(line, prefix); ok {
				return strings.TrimSpace(rest)
			}
		case <-timeout:
			t.Fatalf("child %d: no %q within %v", c.cmd.Process.Pid, prefix, within)
		}
	}
}

// poll calls f every 25 ms until it returns true or the deadline passes,
// and reports whether it did.
func poll(deadline time.Time, f func() bool) bool {
	for {
		if f() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func TestConformanceRedisScriptFlush(t *testing.T) {
	srv := redistest.Start(t)
	testScriptFlush(t, srv.URL(), func() {
		if _, err := redistest.Do(srv.Addr, "SCRIPT", "FLUSH"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRedisCrash kills a process holding leases with SIGKILL: its load is
// gone within one lease period, while another process's hold, older than
// many lease periods, still counts.
func TestRedisCrash(t *testing.T) {
	srv := redistest.Start(t)
	const lease = 2 * time.Second
	name := uniqueName("crash")
	cfg := childConfig{Mode: "hold", URL: srv.URL(), Name: name, Lease: lease}
	victimCfg, survivorCfg := cfg, cfg
	victimCfg.Node, survivorCfg.Node = "victim", "survivor"
	victimCfg.Holds = []string{"v/c1", "v/c2", "v/c3", "v/c4", "v/c5", "shared/c6"}
	survivorCfg.Holds = []string{"long/s1", "shared/s2"}
	victim := startChild(t, victimCfg)
	survivor := startChild(t, survivorCfg)
	heldSince := time.Now()

	// The parent only observes; its own node holds nothing.
	obs := openRedis(t, name, srv.URL(), lb.Options{Lease: lease, Node: "observer", Timeout: 2 * time.Second})
	dests := []string{"v", "shared", "long"}
	lbtest.WantLoad(t, obs, dests, []int{5, 2, 1})

	// Kill the victim only once it has renewed: its holds then lapse one
	// lease after its last renewal, not after their start.
	if !poll(time.Now().Add(2*lease), func() bool {
		h := lbtest.HoldOf(lbtest.MustSnapshot(t, obs), "v", "c1")
		return h != nil && h.Expires.After(h.Start.Add(lease))
	}) {
		t.Fatal("the victim never renewed its leases")
	}
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	<-victim.done
	var last []int
	// One lease after the kill at most, plus slack for the polling itself.
	if !poll(killed.Add(lease+500*time.Millisecond), func() bool {
		l, err := obs.Load(context.Background(), dests)
		if err != nil {
			t.Fatal(err)
		}
		last = l
		return l[0] == 0 && l[1] == 1
	}) {
		t.Fatalf("%v after SIGKILL, load = %v; want [0 1 1] within one lease (%v)", time.Since(killed), last, lease)
	}
	t.Logf("victim's load gone %v after SIGKILL (lease %v)", time.Since(killed).Round(time.Millisecond), lease)
	if last[2] != 1 {
		t.Fatalf("survivor's hold lost: load %v", last)
	}

	// The survivor's holds stay counted over many lease periods.
	for time.Since(heldSince) < 4*lease {
		l, err := obs.Load(context.Background(), dests)
		if err != nil {
			t.Fatal(err)
		}
		if l[0] != 0 || l[1] != 1 || l[2] != 1 {
			t.Fatalf("%v after the survivor took its holds, load = %v; want [0 1 1]", time.Since(heldSince), l)
		}
		time.Sleep(100 * time.Millisecond)
	}
	s := lbtest.MustSnapshot(t, obs)
	if len(s.Holds) != 2 {
		t.Fatalf("holds = %+v", s.Holds)
	}
	for _, h := range s.Holds {
		if h.Node != "survivor" || time.Since(h.Start) < 3*lease {
			t.Fatalf("hold %+v: want the survivor's, held for over 3 leases", h)
		}
	}
	survivor.stdin.Close()
	select {
	case <-survivor.done:
	case <-time.After(10 * time.Second):
		t.Fatal("survivor did not exit after stdin closed")
	}
}

// TestRedisStorm runs concurrent Next/Release from several processes:
// no destination ever exceeds its capacity, every load ends at zero, and
// the calls spread evenly.
func TestRedisStorm(t *testing.T) {
	srv := redistest.Start(t)
	const (
		procs    = 4
		workers  = 4
		cycles   = 150
		capacity = 2
	)
	dests := []string{"a1", "a2", "a3", "a4", "a5", "a6"}
	name := uniqueName("storm")
	var children []*child
	for p := range procs {
		children = append(children, startChild(t, childConfig{
			Mode: "storm", URL: srv.URL(), Name: name, Node: fmt.Sprintf("n%d", p),
			Lease: 5 * time.Second, Capacity: capacity, Dests: dests, Workers: workers, Cycles: cycles,
		}))
	}
	obs := openRedis(t, name, srv.URL(), lb.Options{Node: "observer", DefaultCapacity: capacity, Timeout: 2 * time.Second})

	// Watch the loads while the storm runs.
	stop := make(chan struct{})
	watched := make(chan error, 1)
	samples := 0
	maxSeen := 0
	go func() {
		for {
			select {
			case <-stop:
				watched <- nil
				return
			default:
			}
			l, err := obs.Load(context.Background(), dests)
			if err != nil {
				watched <- err
				return
			}
			samples++
			time.Sleep(2 * time.Millisecond)
			for i, n := range l {
				maxSeen = max(maxSeen, n)
				if n > capacity {
					watched <- fmt.Errorf("%s had %d holds, capacity %d", dests[i], n, capacity)
					return
				}
			}
		}
	}()
	for _, c := range children {
		fmt.Fprintln(c.stdin, "GO")
	}
	total := stormResult{Picks: map[string]int{}}
	for _, c := range children {
		var res stormResult
		if err := json.Unmarshal([]byte(c.expect(t, "RESULT", 60*time.Second)), &res); err != nil {
			t.Fatal(err)
		}
		for d, n := range res.Picks {
			total.Picks[d] += n
		}
		total.Full += res.Full
		total.Errors = append(total.Errors, res.Errors...)
	}
	close(stop)
	if err := <-watched; err != nil {
		t.Fatal(err)
	}
	if len(total.Errors) > 0 {
		t.Fatalf("%d errors, first: %s", len(total.Errors), total.Errors[0])
	}
	lbtest.WantLoad(t, obs, dests, []int{0, 0, 0, 0, 0, 0})
	if s := lbtest.MustSnapshot(t, obs); len(s.Holds) != 0 {
		t.Fatalf("holds left: %+v", s.Holds)
	}
	sum := 0
	for _, n := range total.Picks {
		sum += n
	}
	if sum+total.Full != procs*workers*cycles {
		t.Fatalf("%d picks + %d full != %d calls", sum, total.Full, procs*workers*cycles)
	}
	mean := float64(sum) / float64(len(dests))
	for _, d := range dests {
		if n := float64(total.Picks[d]); n < 0.75*mean || n > 1.25*mean {
			t.Fatalf("uneven spread: %v (mean %.0f)", total.Picks, mean)
		}
	}
	t.Logf("picks %v, %d at capacity, %d load samples, max load seen %d", total.Picks, total.Full, samples, maxSeen)
}

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
func TestRedisTimeoutBoundWithQueuedReleases(t *testing.T) {
	srv := redistest.Start(t)
	const timeout = 400 * time.Millisecond
	// The bound the operator set, plus scheduling noise on a busy machine.
	const bound = timeout * 12 / 10
	r := openRedis(t, uniqueName("bound"), srv.URL(), lb.Options{Lease: 30 * time.Second, Timeout: timeout})
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
	// Several rounds, so that some calls meet the background retry holding
	// the retry lock for its own timeout.
	var worst time.Duration
	defer func() { t.Logf("slowest operation %v (timeout %v)", worst, timeout) }()
	for round := 0; round < 3; round++ {
		for i, o := range ops {
			start := time.Now()
			err := o.run(round*100 + i)
			took := time.Since(start)
			if !errors.Is(err, lb.ErrBackend) {
				t.Errorf("%s with Redis hung: %v, want ErrBackend", o.op, err)
			} else if !strings.Contains(err.Error(), "redis: "+o.op+":") {
				t.Errorf("%s: error %q does not name the operation", o.op, err)
			}
			if took > bound {
				t.Errorf("%s took %v with a %v timeout (bound %v)", o.op, took, timeout, bound)
			}
			worst = max(worst, took)
		}
	}
}

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
// grew Redis's memory without bound. Beyond 10,000 idle ones, the oldest
// are forgotten; held and drained ones are kept.
func TestRedisForgetsIdleDestinations(t *testing.T) {
	srv := redistest.Start(t)
	name := uniqueName("idle")
	r := openRedis(t, name, srv.URL(), lb.Options{Lease: 30 * time.Second})
	ctx := context.Background()
	if err := r.Drain(ctx, "drained"); err != nil {
		t.Fatal(err)
	}
	lbtest.MustAcquire(t, r, "held", "up")
	const n = 10000 + 200
	for i := 0; i < n; i++ {
		d := fmt.Sprintf("sofia/gateway/gw/+1555%07d", i)
		lbtest.MustAcquire(t, r, d, "c")
		lbtest.MustRelease(t, r, d, "c", true)
	}
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer admin.Close()
	base := lb.DefaultKeyPrefix + "{" + name + "}:"
	// mem also has the held call's holds and the lru counter.
	for _, key := range []string{"3:mem", "3:idle"} {
		var size int64
		var err error
		if key == "3:idle" {
			size, err = admin.ZCard(ctx, base+key).Result()
		} else {
			size, err = admin.HLen(ctx, base+key).Result()
		}
		if err != nil || size > 10000+4 {
			t.Errorf("%s holds %d entries after %d distinct destinations (%v), want at most 10,004", key, size, n, err)
		}
	}
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
