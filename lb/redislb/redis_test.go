package redislb

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/ringlb/ringlb/internal/redistest"
	"github.com/ringlb/ringlb/lb"
	"github.com/ringlb/ringlb/lb/lbtest"
)

// balancerSeq makes balancer names unique within one test binary, so tests
// sharing a redis-server never see each other's keys.
var balancerSeq atomic.Int64

func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e6, balancerSeq.Add(1))
}

// testTimeout is the operation timeout of the balancers tests open
// without one: the tests that measure a timeout set their own, the others
// must not fail because a loaded machine took over the default 250 ms.
const testTimeout = 5 * time.Second

// openRedis opens a Redis balancer on url with opts (Timeout testTimeout
// unless set) and closes it when the test ends.
func openRedis(t testing.TB, name, url string, opts lb.Options) *Redis {
	t.Helper()
	opts.URL = url
	if opts.Timeout == 0 {
		opts.Timeout = testTimeout
	}
	r, err := New(name, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestConformanceMiniredis(t *testing.T) {
	lbtest.Conformance(t, func(t *testing.T, opts lb.Options) lb.Balancer {
		m := miniredis.RunT(t)
		if opts.Timeout == 0 {
			// miniredis runs scripts far slower than Redis: a busy machine
			// must not fail a case on time.
			opts.Timeout = 5 * time.Second
		}
		return openRedis(t, uniqueName("conf"), "redis://"+m.Addr(), opts)
	})
}

func TestConformanceRedisServer(t *testing.T) {
	srv := redistest.Start(t)
	lbtest.Conformance(t, func(t *testing.T, opts lb.Options) lb.Balancer {
		opts.KeyPrefix = uniqueName("conf") + ":" // a deployment of its own: fresh loads
		return openRedis(t, "conf", srv.URL(), opts)
	})
}

func TestRedisOpenChecks(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts lb.Options
	}{
		{"a{b}", lb.Options{URL: "redis://h"}},
		{"", lb.Options{URL: "redis://h"}},
		{"ok", lb.Options{}},
		{"ok", lb.Options{URL: "redis://h", Lease: time.Millisecond}},
	} {
		if _, err := New(tc.name, tc.opts); !errors.Is(err, lb.ErrInvalidArgument) {
			t.Errorf("New(%q, %+v) err = %v, want ErrInvalidArgument", tc.name, tc.opts, err)
		}
	}
	// Through the registry, a url selects Redis.
	var reg lb.Registry
	n, err := reg.Open("via-registry", lb.Options{URL: "redis://127.0.0.1:1/0"})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close("via-registry")
	if _, ok := n.Balancer.(*Redis); !ok {
		t.Fatalf("registry opened %T", n.Balancer)
	}
}

func TestRedisKeyLayout(t *testing.T) {
	m := miniredis.RunT(t)
	r := openRedis(t, "sales", "redis://"+m.Addr(), lb.Options{})
	r2 := openRedis(t, "sales", "redis://"+m.Addr(), lb.Options{KeyPrefix: "myapp:lb:"})
	if r.keys[0] != "ringlb:{ringlb}:4:sales:exp" || r2.keys[1] != "myapp:lb:{ringlb}:4:sales:mem" ||
		r.keys[4] != "ringlb:{ringlb}:4:load" || r2.keys[6] != "myapp:lb:{ringlb}:4:cool" {
		t.Fatalf("keys = %v, %v", r.keys, r2.keys)
	}
	lbtest.MustAcquire(t, r, "a", "c1")
	lbtest.MustAcquire(t, r2, "a", "c1") // another prefix is another balancer
	if err := r.Drain(context.Background(), "b"); err != nil {
		t.Fatal(err)
	}
	for _, k := range m.Keys() {
		if !strings.HasPrefix(k, "ringlb:{ringlb}:4:") && !strings.HasPrefix(k, "myapp:lb:{ringlb}:4:") {
			t.Fatalf("key %q outside the deployment's hash tag", k)
		}
	}
}

// miniLease opens a balancer on m with its own node name and a 3 s lease.
// Its leases are renewed only when the test
// calls renew: the background loop, on the wall clock, would otherwise
// renew and reap at moments the test does not choose (between setting
// m's clock and reading a load, say), more often the slower the machine.
func miniLease(t *testing.T, m *miniredis.Miniredis, name, node string, opts lb.Options) *Redis {
	t.Helper()
	opts.Node = node
	if opts.Lease == 0 {
		opts.Lease = 3 * time.Second
	}
	r := openRedis(t, name, "redis://"+m.Addr(), opts)
	r.shared.remove(r)
	return r
}

// TestRedisLeases drives the server clock: a node's holds live as long as
// it renews them and lapse one lease after it stops.
func TestRedisLeases(t *testing.T) {
	m := miniredis.RunT(t)
	base := time.Now().Truncate(time.Second)
	m.SetTime(base)
	at := func(d time.Duration) { m.SetTime(base.Add(d)) }
	live := miniLease(t, m, "lease", "live", lb.Options{})
	dead := miniLease(t, m, "lease", "dead", lb.Options{})
	lbtest.MustAcquire(t, live, "a", "l1")
	lbtest.MustAcquire(t, dead, "a", "d1")
	lbtest.MustAcquire(t, dead, "b", "d2")
	dead.Close() // stops renewing, releases nothing
	lbtest.WantLoad(t, live, []string{"a", "b"}, []int{2, 1})

	s := lbtest.MustSnapshot(t, live)
	for _, h := range s.Holds {
		if !h.Start.Equal(base) || !h.Expires.Equal(base.Add(3*time.Second)) {
			t.Fatalf("hold %+v: want start %v and expiry 3s later", h, base)
		}
		if want := map[string]string{"l1": "live", "d1": "dead", "d2": "dead"}[h.CallID]; h.Node != want {
			t.Fatalf("hold %+v: node %q, want %q", h, h.Node, want)
		}
	}

	at(2 * time.Second)
	live.renew()
	at(2999 * time.Millisecond)
	lbtest.WantLoad(t, live, []string{"a", "b"}, []int{2, 1})
	at(3 * time.Second) // the dead node's leases lapse now
	lbtest.WantLoad(t, live, []string{"a", "b"}, []int{1, 0})
	for i := 4; i <= 40; i += 2 { // many lease periods, renewed each time
		at(time.Duration(i) * time.Second)
		live.renew()
		lbtest.WantLoad(t, live, []string{"a"}, []int{1})
	}
	if n := live.heldCount(); n != 1 {
		t.Fatalf("live renews %d holds, want 1", n)
	}
	// Released elsewhere: the owner's next renewal forgets it.
	lbtest.MustRelease(t, openRedis(t, "lease", "redis://"+m.Addr(), lb.Options{Node: "other"}), "a", "l1", true)
	live.renew()
	if n := live.heldCount(); n != 0 {
		t.Fatalf("live still renews %d holds after a release elsewhere", n)
	}
}

func TestRedisMaxHoldAge(t *testing.T) {
	m := miniredis.RunT(t)
	base := time.Now().Truncate(time.Second)
	m.SetTime(base)
	r := miniLease(t, m, "age", "n1", lb.Options{Lease: 2 * time.Second, MaxHoldAge: 5 * time.Second})
	lbtest.MustAcquire(t, r, "a", "c1")
	for _, d := range []time.Duration{1, 2, 3, 4} {
		m.SetTime(base.Add(d * time.Second))
		r.renew()
	}
	if s := lbtest.MustSnapshot(t, r); len(s.Holds) != 1 || !s.Holds[0].Expires.Equal(base.Add(5*time.Second)) {
		t.Fatalf("holds = %+v: want expiry capped at start+MaxHoldAge", s.Holds)
	}
	m.SetTime(base.Add(4999 * time.Millisecond))
	lbtest.WantLoad(t, r, []string{"a"}, []int{1})
	m.SetTime(base.Add(5 * time.Second)) // as Memory: gone when the age is reached
	r.renew()
	lbtest.WantLoad(t, r, []string{"a"}, []int{0})
	if n := r.heldCount(); n != 0 {
		t.Fatalf("still renewing %d holds past their maximum age", n)
	}
}

// TestRedisReapIsBounded checks that one operation drops at most reapLimit
// lapsed holds, and that the renewal tick drops the rest.
func TestRedisReapIsBounded(t *testing.T) {
	m := miniredis.RunT(t)
	base := time.Now().Truncate(time.Second)
	m.SetTime(base)
	dead := miniLease(t, m, "reap", "dead", lb.Options{})
	const n = reapLimit*2 + 50
	for i := range n {
		lbtest.MustAcquire(t, dead, "a", fmt.Sprintf("c%d", i))
	}
	dead.Close()
	live := miniLease(t, m, "reap", "live", lb.Options{})
	lbtest.MustAcquire(t, live, "b", "keep")
	m.SetTime(base.Add(time.Minute))
	lbtest.WantLoad(t, live, []string{"a"}, []int{n - reapLimit})
	// The renewal reaps up to renewReapLimit, and takes back the live
	// node's own hold, whose lease lapsed while its call is still up.
	live.renew()
	lbtest.WantLoad(t, live, []string{"a", "b"}, []int{0, 1})
}

func TestRedisCrossNode(t *testing.T) {
	m := miniredis.RunT(t)
	ctx := context.Background()
	url := "redis://" + m.Addr()
	a := openRedis(t, "x", url, lb.Options{Node: "A", DefaultCapacity: 1})
	b := openRedis(t, "x", url, lb.Options{Node: "B", DefaultCapacity: 1})
	lbtest.MustAcquire(t, a, "d1", "c1")
	if _, err := b.Next(ctx, []string{"d1"}, "c2"); !errors.Is(err, lb.ErrAtCapacity) {
		t.Fatalf("B took A's last slot: %v", err)
	}
	// The same call through another node is the same hold, counted once.
	if got := lbtest.MustNext(t, b, []string{"d2", "d1"}, "c1"); got != "d1" {
		t.Fatalf("Next via B = %q, want d1", got)
	}
	if ok, err := b.Acquire(ctx, "d1", "c1"); ok || err != nil {
		t.Fatalf("Acquire via B = %v, %v", ok, err)
	}
	if b.heldCount() != 0 {
		t.Fatal("B renews a hold that A owns")
	}
	// Drained state is shared.
	if err := b.Drain(ctx, "d2"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Acquire(ctx, "d2", "c3"); !errors.Is(err, lb.ErrDrained) {
		t.Fatalf("A acquired a destination B drained: %v", err)
	}
	// Capacities are each node's own.
	c := openRedis(t, "x", url, lb.Options{Node: "C", DefaultCapacity: 2})
	lbtest.MustAcquire(t, c, "d1", "c4")
	lbtest.WantLoad(t, a, []string{"d1"}, []int{2})
}

// TestRedisScriptFlush checks that EVALSHA falls back to EVAL after the
// script cache is flushed (a restart or failover does the same).
func TestRedisScriptFlush(t *testing.T) {
	m := miniredis.RunT(t)
	testScriptFlush(t, "redis://"+m.Addr(), func() {
		if _, err := redistest.Do(m.Addr(), "SCRIPT", "FLUSH"); err != nil {
			t.Fatal(err)
		}
	})
}

func testScriptFlush(t *testing.T, url string, flush func()) {
	t.Helper()
	r := openRedis(t, uniqueName("flush"), url, lb.Options{Tie: lb.TieList})
	lbtest.MustAcquire(t, r, "a", "c1")
	flush()
	if got := lbtest.MustNext(t, r, []string{"a", "b"}, "c2"); got != "b" {
		t.Fatalf("Next after flush = %q", got)
	}
	flush()
	lbtest.WantLoad(t, r, []string{"a", "b"}, []int{1, 1})
	flush()
	lbtest.MustRelease(t, r, "a", "c1", true)
	flush()
	if n, err := r.Reset(context.Background(), "b"); n != 1 || err != nil {
		t.Fatalf("Reset after flush = %d, %v", n, err)
	}
	flush()
	lbtest.MustSnapshot(t, r)
}

// TestRedisReplyChecks feeds malformed replies to every parser: they must
// be errors wrapping ErrBackend, never panics.
func TestRedisReplyChecks(t *testing.T) {
	r := &Redis{name: "x"}
	const rec = "dest=a\ncnt=1\ntalking=0\ndrained=0\nended=0\nseq=1\nlast=1\nstarted=1\nanswered=0\nscore=0\nmissed=0\nback=0"
	const hold = "dest=a\ncall=b\nstart=1\nstate=ringing\nnode=n\nexpires=1"
	for _, c := range []struct{ mem, holds []string }{
		{mem: []string{"a"}},                                           // no fields
		{mem: []string{"dest=a\ncnt=1\ndrained=0"}},                    // too few
		{mem: []string{"a 1"}},                                         // not name=value
		{mem: []string{strings.Replace(rec, "score=0", "score=x", 1)}}, // a score that is no number
		{mem: []string{strings.Replace(rec, "drained=0", "drained=2", 1)}},
		{mem: []string{strings.Replace(rec, "cnt=1", "cnt=-1", 1)}},
		{mem: []string{rec + "\nextra=1"}},                             // a field it does not know
		{mem: []string{strings.Replace(rec, "talking=0", "cnt=1", 1)}}, // one field twice
		{holds: []string{"x"}},
		{holds: []string{"dest=a\ncall=b"}},
		{holds: []string{strings.Replace(hold, "dest=a\n", "", 1)}},
		{holds: []string{strings.Replace(hold, "state=ringing", "state=q", 1)}},
		{holds: []string{strings.Replace(hold, "expires=1", "dest=a", 1)}},
	} {
		if _, err := r.parseSnapshot(c.mem, c.holds, 1, 0); !errors.Is(err, lb.ErrBackend) {
			t.Errorf("parseSnapshot(%q, %q) err = %v", c.mem, c.holds, err)
		}
	}
	s, err := r.parseSnapshot(
		[]string{"dest=d\ncnt=1\ntalking=1\ndrained=1\nended=0\nseq=2\nlast=5\nstarted=2\nanswered=1\nscore=1\nmissed=2\nback=9"},
		[]string{"dest=d\ncall=c\nstart=5\nstate=talking\nnode=node with spaces\nexpires=9"}, 4, 0)
	if err != nil || s.Holds[0].Node != "node with spaces" || s.Holds[0].State != lb.StateTalking ||
		s.Destinations[0].Talking != 1 || !s.Destinations[0].Drained || s.Destinations[0].Started != 2 ||
		s.Destinations[0].Unanswered != 2 || !s.Destinations[0].BackoffUntil.Equal(time.UnixMilli(9)) {
		t.Errorf("parseSnapshot = %+v, %v", s, err)
	}
	if _, ok := stringsOf([]any{"a", int64(1)}); ok {
		t.Error("stringsOf accepted an integer")
	}
}

func TestRedisDoesNotKeepCallerMemory(t *testing.T) {
	m := miniredis.RunT(t)
	r := openRedis(t, "mem", "redis://"+m.Addr(), lb.Options{})
	buf := []byte("dest-1\ncall-1")
	dest := unsafe.String(&buf[0], 6)
	call := unsafe.String(&buf[7], 6)
	got := lbtest.MustNext(t, r, []string{dest}, call)
	copy(buf, "XXXXXXXXXXXXX")
	if got != "dest-1" {
		t.Fatalf("Next returned %q: a view of the caller's memory", got)
	}
	r.mu.Lock()
	_, ok := r.held["dest-1\ncall-1"]
	r.mu.Unlock()
	if !ok {
		t.Fatal("the renewal set lost its copy when the caller reused its memory")
	}
}

// Regression: a lapsed hold that no reap had reached yet (reaping is
// bounded per call) still counted as held, so a live node's Acquire of the
// same call id returned "already held" for a hold about to vanish, and
// Release reported true for it.
func TestRedisLapsedButUnreapedHoldIsGone(t *testing.T) {
	m := miniredis.RunT(t)
	base := time.Now().Truncate(time.Second)
	m.SetTime(base)
	live := miniLease(t, m, "unreaped", "live", lb.Options{})
	dead := miniLease(t, m, "unreaped", "dead", lb.Options{})
	// Far more lapsed holds than the probes below reap; the probes' call
	// ids sort last, so bounded reaping reaches them last.
	for i := 0; i < 4*reapLimit; i++ {
		lbtest.MustAcquire(t, dead, "a", fmt.Sprintf("d%04d", i))
	}
	for _, c := range []string{"zz-acquire", "zz-next", "zz-release"} {
		lbtest.MustAcquire(t, dead, "a", c)
	}
	dead.Close()
	m.SetTime(base.Add(10 * time.Second)) // every dead hold lapsed

	ctx := context.Background()
	if removed, err := live.Release(ctx, "a", "zz-release"); err != nil || removed {
		t.Fatalf("Release of a lapsed hold = %v, %v; want false (nothing held)", removed, err)
	}
	added, err := live.Acquire(ctx, "a", "zz-acquire")
	if err != nil || !added {
		t.Fatalf("Acquire of a lapsed hold's call id = %v, %v; want a new hold", added, err)
	}
	if d, err := live.Next(ctx, []string{"x", "a"}, "zz-next"); err != nil || d != "x" {
		t.Fatalf("Next with a lapsed hold's call id = %q, %v; want a fresh choice (x)", d, err)
	}
	for i := 0; i < 5; i++ { // later operations reap the rest
		live.Load(ctx, []string{"a"})
	}
	lbtest.WantLoad(t, live, []string{"a", "x"}, []int{1, 1})
}

// Regression: Reset dropped the holds it found but left a count
// that had drifted from them, so a destination could stay "full" forever.
func TestRedisResetRepairsDriftedCount(t *testing.T) {
	m := miniredis.RunT(t)
	name := uniqueName("drift")
	b := openRedis(t, name, "redis://"+m.Addr(), lb.Options{})
	lbtest.MustAcquire(t, b, "a", "c1")
	// Simulate drift: a count with no holds behind it.
	m.HSet(b.keys[4], "a", "3 0 0")
	lbtest.WantLoad(t, b, []string{"a"}, []int{3})
	n, err := b.Reset(context.Background(), "a")
	if err != nil || n != 1 {
		t.Fatalf("Reset = %d, %v; want 1 hold dropped", n, err)
	}
	lbtest.WantLoad(t, b, []string{"a"}, []int{0})
}

// TestRedisRenewalTakesBackLostHolds: a failover to a replica that had not
// received a hold (asynchronous replication) loses it while its call is up.
// The node's next renewal takes it back, unless an operator reset it, it
// passed its maximum age, or another node released it: those are noted as
// gone for good and the node forgets them.
func TestRedisRenewalTakesBackLostHolds(t *testing.T) {
	m := miniredis.RunT(t)
	a := miniLease(t, m, "lost", "fs1", lb.Options{DefaultCapacity: 1})
	b := miniLease(t, m, "lost", "fs2", lb.Options{DefaultCapacity: 1})
	ctx := context.Background()
	lbtest.MustAcquire(t, a, "user/1", "c1")
	lbtest.MustAcquire(t, a, "user/2", "c2")
	if _, err := a.Answered(ctx, "user/2", "c2"); err != nil {
		t.Fatal(err)
	}
	m.FlushAll() // the new master never had them
	lbtest.WantLoad(t, b, []string{"user/1", "user/2"}, []int{0, 0})
	a.renew()
	lbtest.WantLoad(t, b, []string{"user/1", "user/2"}, []int{1, 1})
	if _, err := b.Acquire(ctx, "user/1", "x"); !errors.Is(err, lb.ErrAtCapacity) {
		t.Fatalf("another node's acquire after the take-back: %v, want ErrAtCapacity", err)
	}
	if d := lbtest.DestOf(lbtest.MustSnapshot(t, b), "user/2"); d == nil || d.Talking != 1 {
		t.Fatalf("user/2 = %+v, want its hold back as talking", d)
	}
	// Reset by an operator: gone for good.
	if n, err := b.Reset(ctx, "user/1"); n != 1 || err != nil {
		t.Fatalf("Reset = %d, %v", n, err)
	}
	a.renew()
	lbtest.WantLoad(t, b, []string{"user/1"}, []int{0})
	// Released by another node: gone for good too.
	lbtest.MustRelease(t, b, "user/2", "c2", true)
	a.renew()
	lbtest.WantLoad(t, b, []string{"user/2"}, []int{0})
	if n := a.heldCount(); n != 0 {
		t.Fatalf("fs1 still renews %d holds", n)
	}
}

// The scripts' limits are Go's constants, passed in (scripts.go), never
// numbers of their own.
func TestScriptLimitsAreGos(t *testing.T) {
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer c.Close()
	got, err := newScript("return {MAX_IDLE, GONE_KEEP, MAX_DOUBLINGS}").Run(context.Background(), c, balancerKeys("p:", "n")).Int64Slice()
	if err != nil || len(got) != 3 || got[0] != maxIdle || got[1] != goneKeep.Milliseconds() ||
		got[2] != lb.MaxNoAnswerBackoffDoublings {
		t.Fatalf("the scripts see MAX_IDLE, GONE_KEEP, MAX_DOUBLINGS = %v, %v; want %d, %d, %d", got, err, maxIdle,
			goneKeep.Milliseconds(), lb.MaxNoAnswerBackoffDoublings)
	}
	for name, text := range map[string]string{"prelude": preludeLua, "ops": opsLua, "renew": renewLua,
		"snapshot": snapshotLua, "drain": drainLua, "reset": resetLua} {
		if regexp.MustCompile(`(?m)^\s*(local\s+)?[\w, ]*\b(MAX_IDLE|GONE_KEEP)\b[^=\n]*=[^=]`).MatchString(text) {
			t.Errorf("%s.lua sets a limit of its own", name)
		}
	}
}

// An operation, admission or state the scripts do not know fails the
// script, so that no hold is ever taken without the checks its name asks
// for (a misspelt "checked" admitting past capacity, say).
func TestScriptsRefuseUnknownNames(t *testing.T) {
	m := miniredis.RunT(t)
	r := openRedis(t, "names", "redis://"+m.Addr(), lb.Options{DefaultCapacity: 1})
	lbtest.MustAcquire(t, r, "a", "c1")
	for _, op := range []redisOp{
		{kind: "n", args: []any{"c2", "", "", "a"}}, // a name of an earlier key layout's scripts
		acquireOp("c2", 1, "a", lb.Admission(7), lb.StateRinging, "0"),
		acquireOp("c2", 1, "a", lb.Checked, "on-hold", "0"),
	} {
		if _, err := r.runOps(context.Background(), "test", op); !errors.Is(err, lb.ErrBackend) {
			t.Errorf("%s %v: %v, want an error of the script", op.kind, op.args, err)
		}
	}
	lbtest.WantLoad(t, r, []string{"a"}, []int{1})
}
