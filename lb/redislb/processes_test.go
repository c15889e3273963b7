package redislb

// Tests with several OS processes on a real redis-server: the test binary
// re-runs itself as children in a mode chosen by RINGLB_REDIS_CHILD (see
// TestMain).

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ringlb/ringlb/internal/redistest"
	"github.com/ringlb/ringlb/lb"
	"github.com/ringlb/ringlb/lb/lbtest"
)

const childEnv = "RINGLB_REDIS_CHILD"

// childConfig is what a child process is told, as JSON in RINGLB_REDIS_CHILD_CONFIG.
type childConfig struct {
	Mode string `json:"mode"` // hold or storm
	URL  string `json:"url"`
	Name string `json:"name"`
	Node string `json:"node"`
	// KeyPrefix is the deployment's; empty: the default.
	KeyPrefix string        `json:"key_prefix"`
	Lease     time.Duration `json:"lease"`
	Capacity  int           `json:"capacity"`
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
	r, err := New(cfg.Name, lb.Options{URL: cfg.URL, Node: cfg.Node, KeyPrefix: cfg.KeyPrefix, Lease: cfg.Lease,
		DefaultCapacity: cfg.Capacity, Timeout: 2 * time.Second})
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

// kill kills c with SIGKILL, waits until it is gone and returns when it
// was killed.
func (c *child) kill(t *testing.T) time.Time {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	<-c.done
	return killed
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
	killed := victim.kill(t)
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
	name := uniqueName("storm")
	stormTest(t, 2, func(int) string { return name })
}

// stormTest runs a storm of processes, process p on the balancer named
// name(p) of a deployment of its own, with capacity on every member,
// watched by a balancer of the deployment that places no call.
func stormTest(t *testing.T, capacity int, name func(p int) string) {
	srv := redistest.Start(t)
	const (
		procs   = 4
		workers = 4
		cycles  = 150
	)
	dests := []string{"a1", "a2", "a3", "a4", "a5", "a6"}
	prefix := uniqueName("storm") + ":"
	var children []*child
	for p := range procs {
		children = append(children, startChild(t, childConfig{
			Mode: "storm", URL: srv.URL(), Name: name(p), Node: fmt.Sprintf("n%d", p), KeyPrefix: prefix,
			Lease: 5 * time.Second, Capacity: capacity, Dests: dests, Workers: workers, Cycles: cycles,
		}))
	}
	obs := openRedis(t, "observer", srv.URL(), lb.Options{Node: "observer", KeyPrefix: prefix, DefaultCapacity: capacity,
		Timeout: 2 * time.Second})

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
	for p := range procs {
		b := openRedis(t, name(p), srv.URL(), lb.Options{Node: "observer", KeyPrefix: prefix, Timeout: 2 * time.Second})
		if s := lbtest.MustSnapshot(t, b); len(s.Holds) != 0 {
			t.Fatalf("holds left on %s: %+v", name(p), s.Holds)
		}
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
