package redislb

import (
	"context"
	"errors"
	"fmt"
	"net/url"
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

// openRedis opens a Redis balancer on url with opts and closes it when
// the test ends.
func openRedis(t testing.TB, name, url string, opts lb.Options) *Redis {
	t.Helper()
	opts.URL = url
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
		return openRedis(t, uniqueName("conf"), "redis://"+m.Addr(), opts)
	})
}

func TestConformanceRedisServer(t *testing.T) {
	srv := redistest.Start(t)
	lbtest.Conformance(t, func(t *testing.T, opts lb.Options) lb.Balancer {
		return openRedis(t, uniqueName("conf"), srv.URL(), opts)
	})
}

func TestRedisURLs(t *testing.T) {
	for _, tc := range []struct {
		url   string
		check func(*redis.UniversalOptions) bool
	}{
		{"redis://127.0.0.1:6379/2", func(o *redis.UniversalOptions) bool {
			return o.Addrs[0] == "127.0.0.1:6379" && o.DB == 2 && o.MasterName == "" && !o.IsClusterMode
		}},
		{"redis://u:p%40ss@h", func(o *redis.UniversalOptions) bool {
			return o.Addrs[0] == "h:6379" && o.Username == "u" && o.Password == "p@ss"
		}},
		{"rediss://h:6380/0", func(o *redis.UniversalOptions) bool { return o.TLSConfig != nil && o.TLSConfig.ServerName == "h" }},
		{"redis://h/0?pool_size=7", func(o *redis.UniversalOptions) bool { return o.PoolSize == 7 }},
		{"unix:///run/redis.sock?db=3", func(o *redis.UniversalOptions) bool { return o.Addrs[0] == "/run/redis.sock" && o.DB == 3 }},
		{"redis+sentinel://:secret@s1:26379,s2:26380,s3/1?master_name=mymaster&sentinel_password=sp", func(o *redis.UniversalOptions) bool {
			return len(o.Addrs) == 3 && o.Addrs[2] == "s3:26379" && o.MasterName == "mymaster" && o.Password == "secret" &&
				o.SentinelPassword == "sp" && o.DB == 1
		}},
		{"redis+cluster://n1:7000,n2:7001", func(o *redis.UniversalOptions) bool {
			return len(o.Addrs) == 2 && o.IsClusterMode && o.MasterName == ""
		}},
		{"redis+cluster://n1:7000", func(o *redis.UniversalOptions) bool { return len(o.Addrs) == 1 && o.IsClusterMode }},
		{"rediss+cluster://u:p@n1:7000,n2:7000/", func(o *redis.UniversalOptions) bool {
			return o.IsClusterMode && o.TLSConfig != nil && o.Username == "u" && o.Password == "p"
		}},
	} {
		o, err := redisUniversalOptions(tc.url, 123*time.Millisecond)
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		if !tc.check(o) {
			t.Errorf("%s: options %+v", tc.url, o)
		}
		// Every operation is bounded and never retried.
		if o.DialTimeout != 123*time.Millisecond || o.ReadTimeout != o.DialTimeout || o.WriteTimeout != o.DialTimeout ||
			o.PoolTimeout != o.DialTimeout || o.MaxRetries != -1 || !o.ContextTimeoutEnabled {
			t.Errorf("%s: timeouts/retries %+v", tc.url, o)
		}
	}
	for _, bad := range []string{
		"redis://h/0?foo=1",
		"redis://h:notaport/0",
		"redis://h/abc",
		"unix://relative.sock",
		"redis+sentinel://s1:26379/0",
		"redis+sentinel://s1:26379/0?master_name=m&bogus=1",
		"redis+sentinel://s1:26379,,s2/0?master_name=m",
		"redis+sentinel://s1:99999/0?master_name=m",
		"redis+sentinel://s1/x?master_name=m",
		"redis+cluster://n1:7000/3",
		"redis+cluster://n1:7000?master_name=m",
		"redis+cluster://",
		"redis+cluster://n1:7000#frag",
		"memcached://h",
		"no-scheme",
	} {
		_, err := New("x", lb.Options{URL: bad})
		if !errors.Is(err, lb.ErrInvalidArgument) {
			t.Errorf("New(%q) err = %v, want ErrInvalidArgument", bad, err)
		}
	}
	// A password never shows in an error.
	_, err := New("x", lb.Options{URL: "redis+sentinel://u:hunter2@s1/0"})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %v: want one without the password", err)
	}
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
	if r.keys[0] != "ringlb:{sales}:3:exp" || r2.keys[1] != "myapp:lb:{sales}:3:mem" {
		t.Fatalf("keys = %v, %v", r.keys, r2.keys)
	}
	lbtest.MustAcquire(t, r, "a", "c1")
	lbtest.MustAcquire(t, r2, "a", "c1") // another prefix is another balancer
	if err := r.Drain(context.Background(), "b"); err != nil {
		t.Fatal(err)
	}
	for _, k := range m.Keys() {
		if !strings.HasPrefix(k, "ringlb:{sales}:") && !strings.HasPrefix(k, "myapp:lb:{sales}:") {
			t.Fatalf("key %q outside the balancer's hash tag", k)
		}
	}
}

// miniLease opens a balancer on m with its own node name and a 3 s lease.
// Its timeout is generous (these tests measure none), so that a loaded
// machine does not fail them.
func miniLease(t *testing.T, m *miniredis.Miniredis, name, node string, opts lb.Options) *Redis {
	t.Helper()
	opts.Node = node
	if opts.Lease == 0 {
		opts.Lease = 3 * time.Second
	}
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	return openRedis(t, name, "redis://"+m.Addr(), opts)
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
	const rec = "dest=a\ncnt=1\ntalking=0\ndrained=0\nwrap=0\nseq=1\nlast=1\nstarted=1\nanswered=0\nscore=0"
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
		[]string{"dest=d\ncnt=1\ntalking=1\ndrained=1\nwrap=0\nseq=2\nlast=5\nstarted=2\nanswered=1\nscore=1"},
		[]string{"dest=d\ncall=c\nstart=5\nstate=talking\nnode=node with spaces\nexpires=9"}, 4, 0)
	if err != nil || s.Holds[0].Node != "node with spaces" || s.Holds[0].State != lb.StateTalking ||
		s.Destinations[0].Talking != 1 || !s.Destinations[0].Drained || s.Destinations[0].Started != 2 {
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

// FuzzRedisURL feeds arbitrary text to the URL parser: it must never panic,
// and what it accepts must name at least one address.
func FuzzRedisURL(f *testing.F) {
	for _, s := range []string{
		"redis://127.0.0.1:6379/0",
		"rediss://:pw@host:6380/2?dial_timeout=1s",
		"unix:///run/redis.sock?db=1",
		"redis+sentinel://:pw@s1:26379,s2:26379/0?master_name=mymaster",
		"redis+cluster://n1:7000,n2:7001",
		"redis+cluster://n1:7000,,",
		"redis://%zz",
		"http://x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		uo, err := redisUniversalOptions(raw, lb.DefaultTimeout)
		if err != nil {
			if !errors.Is(err, lb.ErrInvalidArgument) {
				t.Fatalf("%q: error %v does not wrap ErrInvalidArgument", raw, err)
			}
			return
		}
		if uo == nil || len(uo.Addrs) == 0 {
			t.Fatalf("%q accepted without an address", raw)
		}
	})
}

// secretURLs are malformed and odd URLs, each carrying the secret
// "hunter2pw" somewhere a person would put a password.
var secretURLs = []string{
	"redis://user:hunter2pw@host:badport/0",
	"redis://:hunter2pw@host:6379/0?bogus=1",
	"redis:/:hunter2pw@127.0.0.1:6379/0",
	"redis::hunter2pw@127.0.0.1",
	"redis://:hunter2pw/x@127.0.0.1:6379/0?bogus=1",
	"redis://:hunter2pw?x@127.0.0.1:6379/0?bogus=1",
	"redis://:hunter2pw#x@127.0.0.1:6379/0?bogus=1",
	"redis://:hunter2pw%zz@127.0.0.1:6379/0",
	"redis://:hunter2pw@@127.0.0.1:6379/0?bogus=1",
	"redis+cluster://:hunter2pw/x@h1,h2",
	"redis+cluster://:hunter2pw@n1:70000",
	"redis+cluster://:hunter2pw@[::1:7000",
	"redis+sentinel://:hunter2pw@s1:26379/0?master_name=m&sentinel_password=hunter2pw&bogus=1",
	"redis+sentinel://s1:26379/0?master_name=m&sentinel_password=hunter2pw&x=%zz",
	"redis+sentinel://s1:26379/x?master_name=m&sentinel_password=hunter2pw",
	"redis+sentinel://s1:26379/0?sentinel_password=hunter2pw",
	"redis+sentinel://s1:26379/0?master_name=m&sentinel_password=hunter2pw&sentinel_password=other",
	"redis+sentinel://s1:26379/0?master_name=m&sentinel_password=hunter2&pw&x=1",
	"redis://h:6379/0?password=hunter2pw&bogus=1",
	"redis://h:6379/0?password=hunter2pw%zz",
	"redis://h:6379/0?Password=hunter2pw;bogus",
	"redis://h:6379/x?password=hunter2pw",
	"http://:hunter2pw@host/",
	"hunter2pw@host",
	"redis://:hunter2pw@%zz",
	"redis://:hunter2pw@/tmp/x",
	"unix://:hunter2pw@relative/path",
	"redis://:hunter2pw@h:1/0#frag",
	"redis://:hunter2pw\x01@h:1/0",
	"redis://:hunter2\"pw\"@h:1/0?bogus",
	"redis://:" + url.PathEscape("hunter2pw/?#") + "@h:1/0?bogus=1",
}

// A secret in a URL never reaches an error message (and so the switch's
// log), whatever is wrong with the URL.
func TestRedisURLErrorsHidePasswords(t *testing.T) {
	for _, raw := range secretURLs {
		_, err := lb.ParseOptions([][2]string{{"url", raw}})
		if err == nil {
			r, err2 := New("x", lb.Options{URL: raw})
			if err2 == nil {
				r.Close()
				continue // odd but valid: nothing to report
			}
			err = err2
		}
		if !errors.Is(err, lb.ErrInvalidArgument) {
			t.Errorf("%q: %v does not wrap ErrInvalidArgument", raw, err)
		}
		for _, leak := range []string{"hunter2", "unter2p"} {
			if strings.Contains(err.Error(), leak) {
				t.Errorf("%q: error shows the password: %v", raw, err)
			}
		}
		if shown := RedactURL(raw); strings.Contains(shown, "hunter2") {
			t.Errorf("RedactURL(%q) = %q", raw, shown)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
		{"redis://u:pw@127.0.0.1:6379/0", "redis://xxxxx@127.0.0.1:6379/0"},
		{"redis:/:pw@127.0.0.1:6379/0", "redis://xxxxx@127.0.0.1:6379/0"},
		{"redis+sentinel://h:1,h:2/0?master_name=m&sentinel_password=pw&sentinel_username=u",
			"redis+sentinel://h:1,h:2/0?master_name=m&sentinel_password=xxxxx"},
		{"redis://h/0?password=a&b", "redis://h/0?password=xxxxx"},
		{"redis://:a@b@h/0", "redis://xxxxx@h/0"},
		{"redis://h/0#secret", "redis://h/0#xxxxx"},
	} {
		if got := RedactURL(tc.raw); got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.raw, got, tc.want)
		}
	}
}

// FuzzRedisURLSecret puts an arbitrary password into the places URLs carry
// one, with arbitrary text around it: no error and no redacted form may
// show it.
func FuzzRedisURLSecret(f *testing.F) {
	f.Add("hunter2pw", uint8(0), "")
	f.Add("p/w?x#y", uint8(1), "?bogus=1")
	f.Add("a&b=c", uint8(5), "&x=%zz")
	f.Add("pa%41ss", uint8(2), ":badport")
	f.Add("x@y:z", uint8(6), "")
	forms := []func(p, tail string) string{
		func(p, tail string) string { return "redis://:" + p + "@127.0.0.1:6379/0" + tail },
		func(p, tail string) string { return "redis:/:" + p + "@127.0.0.1:6379/0" + tail },
		func(p, tail string) string { return "redis::" + p + "@host" + tail },
		func(p, tail string) string { return "redis://user:" + p + "@h:1/0" + tail },
		func(p, tail string) string { return "redis+cluster://:" + p + "@h1:1,h2:2" + tail },
		func(p, tail string) string {
			return "redis+sentinel://h:1/0?master_name=m&sentinel_password=" + p + tail
		},
		func(p, tail string) string { return "redis://h:1/0?password=" + p + tail },
		func(p, tail string) string { return "rediss+cluster://u:" + p + "@[::1]:7000,[::1]:7001" + tail },
		func(p, tail string) string { return "unix://:" + p + "@/tmp/redis.sock" + tail },
	}
	f.Fuzz(func(t *testing.T, pass string, form uint8, tail string) {
		build := forms[int(form)%len(forms)]
		raw := build(pass, tail)
		without := build("", tail)
		secrets := []string{pass}
		if d, err := url.PathUnescape(pass); err == nil {
			secrets = append(secrets, d)
		}
		var texts []string
		if _, err := lb.ParseOptions([][2]string{{"url", raw}}); err != nil {
			texts = append(texts, err.Error())
		}
		if _, err := redisUniversalOptions(raw, lb.DefaultTimeout); err != nil {
			texts = append(texts, err.Error())
		}
		texts = append(texts, RedactURL(raw))
		for _, s := range secrets {
			// A secret that the URL holds anyway, or that any text would
			// hold (a short or common one), proves nothing.
			if len(s) < 4 || strings.Contains(without, s) || strings.Contains("url xxxxx: ", s) ||
				strings.Contains(s, "xxxxx") {
				continue
			}
			for _, text := range texts {
				if strings.Contains(text, s) {
					t.Fatalf("%q: shows the secret %q: %s", raw, s, text)
				}
			}
		}
	})
}

func TestRedisClusterTLSServerNameIPv6(t *testing.T) {
	uo, err := redisUniversalOptions("rediss+cluster://[::1]:7000,[::1]:7001", lb.DefaultTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if uo.TLSConfig == nil || uo.TLSConfig.ServerName != "::1" {
		t.Fatalf("ServerName = %+v", uo.TLSConfig)
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
	m.HSet(lb.DefaultKeyPrefix+"{"+name+"}:3:mem", "a", "3 0 0 1 0 0 0 0 1 0")
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
