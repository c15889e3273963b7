package metrics

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/ringlb/ringlb/internal/hostlog"
	"github.com/ringlb/ringlb/lb"
)

// serveTest starts an endpoint of g on a free loopback port, stopped at
// the end of the test, and returns it and its /metrics URL.
func serveTest(t *testing.T, g prometheus.Gatherer, lim limits) (*endpoint, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := start(ln, g, lim)
	go func() { _ = e.srv.Serve(e.conns) }()
	t.Cleanup(func() { _ = e.srv.Close() })
	return e, "http://" + ln.Addr().String() + "/metrics"
}

// testLimits are the endpoint's limits, but for a wait for a rendering,
// and a time to write it, long enough for any gather on a loaded machine.
func testLimits() limits {
	lim := defaultLimits
	lim.wait = time.Minute
	lim.write = 2 * time.Minute
	return lim
}

// gathererOf is a Prometheus registry of a Collector of bals.
func gathererOf(bals Balancers) *prometheus.Registry {
	pr := prometheus.NewRegistry()
	pr.MustRegister(NewCollector(bals))
	return pr
}

// withMembers opens a memory balancer of n members (user/1000...) in reg,
// each with a call up, and returns it and its members.
func withMembers(t testing.TB, reg *lb.Registry, name string, n int) (*lb.Named, []string) {
	t.Helper()
	b, err := reg.Open(name, lb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	members := make([]string, n)
	for i := range members {
		members[i] = fmt.Sprintf("user/%d", 1000+i)
		if _, err := b.Acquire(context.Background(), members[i], "standing"); err != nil {
			t.Fatal(err)
		}
	}
	return b, members
}

// get scrapes url with c and returns the status and body.
func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	res, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(body)
}

// sample returns the value of the sample line that starts with series
// (name and labels as rendered), or -1 when there is none.
func sample(text, series string) float64 {
	for l := range strings.Lines(text) {
		if rest, ok := strings.CutPrefix(l, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

// waitFor polls cond until it holds, failing the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within a minute", what)
		}
	}
}

// countingGatherer counts the gathers of g, and the most at once.
type countingGatherer struct {
	g                           prometheus.Gatherer
	total, inFlight, mostAtOnce atomic.Int64
	hold                        chan struct{} // when set, a gather waits for it to close
}

func (c *countingGatherer) Gather() ([]*dto.MetricFamily, error) {
	n := c.inFlight.Add(1)
	defer c.inFlight.Add(-1)
	for m := c.mostAtOnce.Load(); n > m && !c.mostAtOnce.CompareAndSwap(m, n); m = c.mostAtOnce.Load() {
	}
	c.total.Add(1)
	if c.hold != nil {
		<-c.hold
	}
	return c.g.Gather()
}

// The usual ways of writing every interface are refused, naming the way to
// ask for it; AllInterfaces asks for it.
func TestListenEveryInterface(t *testing.T) {
	for _, row := range []struct{ addr, says string }{
		{":0", `"*:0"`},
		{"0.0.0.0:0", `"*:0"`},
		{"[::]:0", `"*:0"`},
		{"[0:0::0]:0", `"*:0"`},
		{"9361", "missing port"},
		{"", "missing port"},
		{"127.0.0.1", "missing port"},
		{"local\xffhost:0", `"local\xffhost:0" is not valid UTF-8`},
	} {
		ln, err := listen(row.addr)
		if err == nil {
			ln.Close()
			t.Errorf("listen(%q) accepted", row.addr)
			continue
		}
		if !errors.Is(err, lb.ErrInvalidArgument) || !strings.Contains(err.Error(), row.says) {
			t.Errorf("listen(%q) = %v, want ErrInvalidArgument that says %s", row.addr, err, row.says)
		}
	}
	ln, err := listen("*:0")
	if err != nil {
		t.Fatalf("listen(*:0): %v", err)
	}
	defer ln.Close()
	if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsUnspecified() {
		t.Fatalf("*:0 listens on %v, not every interface", ln.Addr())
	}
	// Loopback is reached through it.
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	c, err := net.Dial("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	for _, addr := range []string{"127.0.0.1:0", "localhost:0", "[::1]:0"} {
		ln, err := listen(addr)
		if err != nil {
			if addr == "[::1]:0" && strings.Contains(err.Error(), "cannot assign") {
				continue // no IPv6 loopback here
			}
			t.Errorf("listen(%q): %v", addr, err)
			continue
		}
		ln.Close()
	}
}

// An idle keep-alive connection is closed after the idle timeout.
func TestIdleConnectionClosed(t *testing.T) {
	lim := testLimits()
	lim.idle = 300 * time.Millisecond
	_, url := serveTest(t, gathererOf(&lb.Registry{}), lim)
	closed := make(chan time.Time, 1)
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &closeWatch{Conn: c, closed: closed}, nil
		},
	}}
	defer client.CloseIdleConnections()
	if status, _ := get(t, client, url); status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	idle := time.Now()
	select {
	case at := <-closed:
		if d := at.Sub(idle); d < lim.idle/2 {
			t.Fatalf("closed %v after the response, before the idle timeout %v", d, lim.idle)
		}
	case <-time.After(time.Minute):
		t.Fatal("idle keep-alive connection still open after a minute")
	}
}

// closeWatch reports when its peer closes it: the client's transport reads
// an idle connection all the time, to notice just that.
type closeWatch struct {
	net.Conn
	closed chan time.Time
	once   sync.Once
}

func (c *closeWatch) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		c.once.Do(func() { c.closed <- time.Now() })
	}
	return n, err
}

// More idle keep-alive connections than the endpoint keeps: the longest
// idle make room for new ones, so scrapes keep working and no more than
// maxConns are open. With every slot busy, a new connection is closed at
// once and counted.
func TestConnectionCap(t *testing.T) {
	lim := testLimits()
	lim.maxConns = 8
	e, url := serveTest(t, gathererOf(&lb.Registry{}), lim)
	for range 3 * lim.maxConns {
		c := &http.Client{Transport: &http.Transport{}}
		defer c.CloseIdleConnections()
		if status, _ := get(t, c, url); status != http.StatusOK {
			t.Fatalf("status %d", status)
		}
		if n := e.conns.open(); n > lim.maxConns {
			t.Fatalf("%d connections open, cap %d", n, lim.maxConns)
		}
	}
	// Every slot taken by a request under way (waiting for a gather).
	cg := &countingGatherer{g: gathererOf(&lb.Registry{}), hold: make(chan struct{})}
	lim.wait = time.Minute
	e, url = serveTest(t, cg, lim)
	host := strings.TrimPrefix(strings.TrimSuffix(url, "/metrics"), "http://")
	var busy []net.Conn
	for range lim.maxConns {
		c, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := fmt.Fprintf(c, "GET /metrics HTTP/1.1\r\nHost: %s\r\n\r\n", host); err != nil {
			t.Fatal(err)
		}
		busy = append(busy, c)
	}
	waitFor(t, "requests under way on every slot", func() bool {
		e.conns.mu.Lock()
		defer e.conns.mu.Unlock()
		active := 0
		for _, in := range e.conns.conns {
			if in.state == http.StateActive {
				active++
			}
		}
		return active == lim.maxConns
	})
	c, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(time.Minute))
	if n, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a connection over the cap was not closed at once (%d bytes, %v)", n, err)
	}
	if got := e.expo.ct.connsRefused.Load(); got != 1 {
		t.Fatalf("connections refused = %d, want 1", got)
	}
	// The requests are answered, and keep their connections: a new
	// scrape takes the place of an idle one, and counts the refusal.
	close(cg.hold)
	for _, c := range busy {
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("status %d", res.StatusCode)
		}
	}
	_, body := get(t, &http.Client{}, url)
	if v := sample(body, `ringlb_metrics_refused_total{reason="connections"}`); v != 1 {
		t.Fatalf("ringlb_metrics_refused_total{reason=connections} = %v, want 1:\n%s", v, body)
	}
}

// Concurrent scrapes cause one gather at a time, and share it.
func TestConcurrentScrapesOneGather(t *testing.T) {
	var reg lb.Registry
	withMembers(t, &reg, "sales", 1000)
	const scrapers, each = 16, 4
	run := func(t *testing.T, fresh time.Duration) (*countingGatherer, []string) {
		cg := &countingGatherer{g: gathererOf(&reg)}
		lim := testLimits()
		lim.fresh = fresh
		lim.maxConns = scrapers
		_, url := serveTest(t, cg, lim)
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: scrapers}}
		defer client.CloseIdleConnections()
		bodies := make([]string, scrapers*each)
		var wg sync.WaitGroup
		for i := range scrapers {
			wg.Go(func() {
				for j := range each {
					res, err := client.Get(url)
					if err != nil {
						t.Error(err)
						return
					}
					b, err := io.ReadAll(res.Body)
					res.Body.Close()
					if err != nil || res.StatusCode != http.StatusOK {
						t.Errorf("scrape: %d %v", res.StatusCode, err)
					}
					bodies[i*each+j] = string(b)
				}
			})
		}
		wg.Wait()
		if m := cg.mostAtOnce.Load(); m != 1 {
			t.Errorf("%d gathers at once", m)
		}
		return cg, bodies
	}
	t.Run("shared", func(t *testing.T) {
		cg, bodies := run(t, time.Hour)
		if n := cg.total.Load(); n != 1 {
			t.Fatalf("%d scrapes within the freshness made %d gathers, want 1", scrapers*each, n)
		}
		for _, b := range bodies {
			if b != bodies[0] {
				t.Fatal("scrapes of one gather differ")
			}
		}
		if !strings.Contains(bodies[0], `ringlb_active_calls{balancer="sales",dest="user/1999"} 1`) ||
			sample(bodies[0], "ringlb_metrics_gathers_total") != 1 {
			t.Fatalf("shared rendering:\n%.2000s", bodies[0])
		}
	})
	t.Run("always new", func(t *testing.T) {
		cg, _ := run(t, 0)
		if n := cg.total.Load(); n < 1 || n > scrapers*each {
			t.Fatalf("%d gathers for %d scrapes", n, scrapers*each)
		}
	})
}

// A scrape that gets no rendering within its wait is answered 503 and
// counted; the gather under way is not doubled.
func TestScrapeBusy(t *testing.T) {
	cg := &countingGatherer{g: gathererOf(&lb.Registry{}), hold: make(chan struct{})}
	lim := testLimits()
	lim.wait = 100 * time.Millisecond
	e, url := serveTest(t, cg, lim)
	for range 2 {
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
			t.Fatalf("status %d, Retry-After %q; want 503 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
		}
	}
	if n := cg.total.Load(); n != 1 {
		t.Fatalf("%d gathers, want the one under way", n)
	}
	close(cg.hold)
	waitFor(t, "the gather to end", func() bool {
		e.expo.mu.Lock()
		defer e.expo.mu.Unlock()
		return e.expo.gathered == nil
	})
	status, body := get(t, &http.Client{}, url)
	if status != http.StatusOK || sample(body, `ringlb_metrics_refused_total{reason="busy"}`) != 2 {
		t.Fatalf("status %d:\n%s", status, body)
	}
}

// slowReader connects with a small receive window, asks for the metrics,
// and reads them one byte a second. first gets the result of its first
// read: nil when served, an error when refused.
func slowReader(t *testing.T, host string, first chan<- error) net.Conn {
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	c, err := d.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(c, "GET /metrics HTTP/1.1\r\nHost: %s\r\n\r\n", host); err != nil {
		first <- err
		return c
	}
	go func() {
		b := make([]byte, 1)
		for i := 0; ; i++ {
			_, err := c.Read(b)
			if i == 0 {
				first <- err
			}
			if err != nil {
				return
			}
			time.Sleep(time.Second)
		}
	}()
	return c
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// Many slow readers (one byte a second, small receive windows) hold one
// shared rendering: the live heap stays within a few renderings, and a
// next+release loop goes on meanwhile.
func TestSlowReadersBounded(t *testing.T) {
	var reg lb.Registry
	b, _ := withMembers(t, &reg, "sales", 10000)
	lim := testLimits()
	e, url := serveTest(t, gathererOf(&reg), lim)
	status, body := get(t, &http.Client{}, url)
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	size := uint64(len(body))
	body = ""
	base := liveHeap()

	var ops atomic.Int64
	ctx, stop := context.WithCancel(context.Background())
	var loop sync.WaitGroup
	defer func() { stop(); loop.Wait() }()
	loop.Go(func() {
		group := []string{"user/1000", "user/1001", "user/1002"}
		for i := 0; ctx.Err() == nil; i++ {
			id := "c" + strconv.Itoa(i)
			d, err := b.Next(ctx, group, id)
			if err == nil {
				_, err = b.Release(ctx, d, id)
			}
			if err != nil {
				t.Error(err)
				return
			}
			ops.Add(1)
		}
	})

	const readers = 100
	host := strings.TrimPrefix(strings.TrimSuffix(url, "/metrics"), "http://")
	first := make(chan error, readers)
	for range readers {
		c := slowReader(t, host, first)
		defer c.Close()
	}
	served := 0
	for range readers {
		select {
		case err := <-first:
			if err == nil {
				served++
			}
		case <-time.After(time.Minute):
			t.Fatal("a slow reader got neither a byte nor a refusal within a minute")
		}
	}
	if served == 0 || served > lim.maxConns {
		t.Fatalf("%d slow readers served at once, want 1..%d", served, lim.maxConns)
	}
	if n := e.expo.ct.gathers.Load(); n >= 10 {
		t.Errorf("%d gathers for %d slow readers", n, readers)
	}
	grown := int64(liveHeap()) - int64(base)
	if bound := int64(3*size + 16<<20); grown > bound {
		t.Fatalf("live heap grew %d MiB with %d slow readers (renderings of %d KiB), bound %d MiB",
			grown>>20, served, size>>10, bound>>20)
	}
	t.Logf("%d slow readers served, %d refused; rendering %d KiB; live heap %+d KiB", served, readers-served, size>>10, grown>>10)
	before := ops.Load()
	waitFor(t, "next+release to go on while slow readers hold the endpoint", func() bool { return ops.Load() >= before+1000 })
}

// corrupted is a balancer whose snapshot shows one member more, named
// name: how a backend bug that let a bad name past the checks would look.
type corrupted struct {
	lb.Balancer
	name string
}

func (c corrupted) Snapshot(ctx context.Context) (lb.Snapshot, error) {
	s, err := c.Balancer.Snapshot(ctx)
	s.Destinations = append(s.Destinations, lb.DestStatus{Dest: c.name, Active: 1})
	return s, err
}

// plusBalancers is a registry with extra balancers made by hand.
type plusBalancers struct {
	*lb.Registry
	extra []*lb.Named
}

func (p *plusBalancers) Names() []string {
	names := p.Registry.Names()
	for _, n := range p.extra {
		names = append(names, n.Name)
	}
	return names
}

func (p *plusBalancers) Lookup(name string) *lb.Named {
	for _, n := range p.extra {
		if n.Name == name {
			return n
		}
	}
	return p.Registry.Lookup(name)
}

// failing is a collector whose one metric fails.
type failing struct{ desc *prometheus.Desc }

func (f failing) Describe(ch chan<- *prometheus.Desc) { ch <- f.desc }
func (f failing) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.NewInvalidMetric(f.desc, errors.New("its source is gone"))
}

// captureLog records hostlog's lines until the end of the test.
func captureLog(t *testing.T) func() []string {
	var mu sync.Mutex
	var lines []string
	hostlog.SetSink(func(level hostlog.Level, line string) {
		mu.Lock()
		lines = append(lines, level.String()+" "+line)
		mu.Unlock()
	})
	t.Cleanup(func() { hostlog.SetSink(nil) })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), lines...)
	}
}

// A member or balancer name that is not valid UTF-8 (put straight into a
// balancer's state, past the checks at the entry points), and a collector
// that fails, leave out their own series only: every other metric is
// served, the text parses (and passes promtool where it is installed),
// the series left out are counted, and the condition is logged once.
func TestBadNamesLeaveTheRest(t *testing.T) {
	lines := captureLog(t)
	var reg, inner lb.Registry
	ctx := context.Background()
	sales, _ := withMembers(t, &reg, "sales", 3)
	if _, err := sales.Next(ctx, []string{"user/1000", "user/1001"}, "call-1"); err != nil {
		t.Fatal(err)
	}
	withMembers(t, &inner, "corrupt", 2)
	withMembers(t, &inner, "badname", 2)
	bals := &plusBalancers{Registry: &reg, extra: []*lb.Named{
		{Balancer: corrupted{inner.Lookup("corrupt").Balancer, "user/\xff\xfe"}, Name: "corrupt"},
		{Balancer: inner.Lookup("badname").Balancer, Name: "bad\xc3\x28name"},
	}}
	oldPool := Pool
	Pool = func() PoolStats { return PoolStats{Workers: 3, HandOffs: 7} }
	defer func() { Pool = oldPool }()
	pr := prometheus.NewRegistry()
	pr.MustRegister(NewCollector(bals), collectors.NewGoCollector(),
		failing{prometheus.NewDesc("test_failing", "A metric whose source fails.", nil, nil)})
	lim := testLimits()
	lim.fresh = 0 // every scrape gathers
	_, url := serveTest(t, pr, lim)

	// The series a balancer has without members, and a member's.
	balancerSeries := 1 + len(lb.NextOutcomeNames) + 2*len(lb.OpNames) + 1
	wantDropped := memberSeries + // the corrupt member
		balancerSeries + 2*memberSeries + // the badly named balancer
		1 // the failing collector
	for scrape := 1; scrape <= 3; scrape++ {
		status, body := get(t, &http.Client{}, url)
		if status != http.StatusOK {
			t.Fatalf("status %d", status)
		}
		has(t, body,
			`ringlb_active_calls{balancer="sales",dest="user/1000"} 2`,
			`ringlb_active_calls{balancer="sales",dest="user/1002"} 1`,
			`ringlb_next_total{balancer="sales",outcome="chosen"} 1`,
			`ringlb_snapshot_error{balancer="sales"} 0`,
			`ringlb_active_calls{balancer="corrupt",dest="user/1000"} 2`, // sales's call-1 too: loads are the process's
			`ringlb_active_calls{balancer="corrupt",dest="user/1001"} 1`,
			`ringlb_snapshot_error{balancer="corrupt"} 0`,
			`ringlb_workers 3`,
			`ringlb_handoffs_total 7`,
			`ringlb_metrics_dropped_total `+strconv.Itoa(scrape*wantDropped),
		)
		if !strings.Contains(body, "go_goroutines ") {
			t.Error("Go's runtime metrics left out")
		}
		if strings.Contains(body, `balancer="bad`) || strings.Contains(body, "\xff") || strings.Contains(body, "test_failing") {
			t.Errorf("bad series served:\n%s", body)
		}
		checkExposition(t, body)
	}
	got := lines()
	if len(got) != 1 || !strings.HasPrefix(got[0], "WARNING ringlb: metrics: series left out of the scrapes") ||
		!strings.Contains(got[0], `\xc3(name`) {
		t.Fatalf("logged %q; want one warning that names the first bad name", got)
	}
	t.Logf("logged once: %s", got[0])
	// Once every name renders, that is logged once too.
	bals.extra = nil
	pr.Unregister(failing{prometheus.NewDesc("test_failing", "A metric whose source fails.", nil, nil)})
	for range 2 {
		_, body := get(t, &http.Client{}, url)
		has(t, body, `ringlb_metrics_dropped_total `+strconv.Itoa(3*wantDropped))
	}
	if got := lines(); len(got) != 2 || !strings.Contains(got[1], "every metric is served again") {
		t.Fatalf("logged %q", got)
	}
}

// checkExposition parses text as Prometheus does, and with promtool where
// it is installed.
func checkExposition(t *testing.T, text string) {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	if _, err := p.TextToMetricFamilies(strings.NewReader(text)); err != nil {
		t.Fatalf("exposition does not parse: %v", err)
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		return
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// Members past the limit, and families past the size limit, are left out
// and counted; the rest, and the endpoint's own figures, are served.
func TestLimitsLeaveTheRest(t *testing.T) {
	captureLog(t)
	var reg lb.Registry
	withMembers(t, &reg, "a", 4)
	withMembers(t, &reg, "b", 4)
	c := NewCollector(&reg)
	c.maxMembers = 6
	pr := prometheus.NewRegistry()
	pr.MustRegister(c)
	lim := testLimits()
	lim.fresh = 0
	_, url := serveTest(t, pr, lim)
	_, body := get(t, &http.Client{}, url)
	has(t, body,
		`ringlb_active_calls{balancer="a",dest="user/1003"} 1`,
		`ringlb_active_calls{balancer="b",dest="user/1001"} 1`,
		`ringlb_snapshot_error{balancer="b"} 0`,
		`ringlb_metrics_dropped_total `+strconv.Itoa(2*memberSeries))
	if n := strings.Count(body, "\nringlb_active_calls{"); n != 6 {
		t.Fatalf("not 6 members:\n%s", body)
	}
	checkExposition(t, body)

	// A size limit the member families do not fit in.
	lim.maxBytes = 6 << 10
	_, url = serveTest(t, pr, lim)
	_, body = get(t, &http.Client{}, url)
	if len(body) > lim.maxBytes {
		t.Fatalf("rendering of %d bytes, limit %d", len(body), lim.maxBytes)
	}
	if !strings.Contains(body, "ringlb_metrics_dropped_total ") || !strings.Contains(body, "ringlb_metrics_gathers_total 1\n") {
		t.Fatalf("the endpoint's own figures left out:\n%s", body)
	}
	if strings.Contains(body, "ringlb_operation_seconds_bucket") {
		t.Fatalf("a family over the limit served:\n%s", body)
	}
	checkExposition(t, body)
}

// Slow readers of a rendering keep it current until they are done, so at
// most two renderings are alive; the scrape after them gets a new one.
func TestRenderingsAlive(t *testing.T) {
	cg := &countingGatherer{g: gathererOf(&lb.Registry{})}
	lim := testLimits()
	lim.fresh = 0
	x := newExposition(cg, lim, &counters{})
	take := func() *rendering {
		rd, err := x.take(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return rd
	}
	r1 := take() // a slow reader keeps writing r1
	r2 := take() // a new gather replaces it
	if r1 == r2 || cg.total.Load() != 2 {
		t.Fatalf("gathers %d; want a second rendering", cg.total.Load())
	}
	r3 := take() // r1 is still written: r2 is served again
	if r3 != r2 || cg.total.Load() != 2 {
		t.Fatalf("a third rendering while the first is written (gathers %d)", cg.total.Load())
	}
	x.release(r1)
	x.release(r2)
	x.release(r3)
	if r4 := take(); r4 == r2 || cg.total.Load() != 3 {
		t.Fatalf("no new rendering after the slow reader finished (gathers %d)", cg.total.Load())
	}
}

// The endpoint's own figures, at their largest values, fit the room the
// rendering keeps for them: so they are served whatever the families
// before them took.
func TestOwnFiguresFitTheirRoom(t *testing.T) {
	ct := &counters{}
	for _, c := range []*atomic.Uint64{&ct.gathers, &ct.dropped, &ct.busy, &ct.connsRefused} {
		c.Store(math.MaxUint64)
	}
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, textFormat)
	for _, mf := range newExposition(nil, testLimits(), ct).ownFamilies() {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	if b.Len() > ownFiguresRoom {
		t.Fatalf("own figures take %d bytes, room %d:\n%s", b.Len(), ownFiguresRoom, b.String())
	}
}
