package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/ringlb/ringlb/internal/hostlog"
	"github.com/ringlb/ringlb/lb"
	_ "github.com/ringlb/ringlb/lb/redislb" // the Redis backend, which a url selects
)

// scrape returns the text a Prometheus server would read from a collector
// of reg.
func scrape(t *testing.T, reg *lb.Registry) string {
	t.Helper()
	pr := prometheus.NewRegistry()
	pr.MustRegister(NewCollector(reg))
	srv := httptest.NewServer(promhttp.HandlerFor(pr, promhttp.HandlerOpts{}))
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return string(body)
}

func has(t *testing.T, text string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(text, l+"\n") {
			t.Errorf("metrics lack %q:\n%s", l, text)
		}
	}
}

func TestCollector(t *testing.T) {
	var reg lb.Registry
	ctx := context.Background()
	b, err := reg.Open("sales", lb.Options{Capacity: map[string]int{"user/1": 2}, NoAnswerBackoff: time.Hour, MaxNoAnswer: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Acquire(ctx, "user/1", "c1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Next(ctx, []string{"user/1", "user/2"}, "c2"); err != nil {
		t.Fatal(err)
	}
	if err := b.Drain(ctx, "user/3"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Next(ctx, []string{"user/3"}, "c3"); !errors.Is(err, lb.ErrAtCapacity) {
		t.Fatal(err)
	}
	if _, err := b.Next(ctx, []string{""}, "c4"); !errors.Is(err, lb.ErrInvalidArgument) {
		t.Fatal(err)
	}
	if _, err := b.Acquire(ctx, "user/4", "miss"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Unanswered(ctx, "user/4", "miss"); err != nil {
		t.Fatal(err)
	}
	b.NoteFallback()
	text := scrape(t, &reg)
	if !regexp.MustCompile(`ringlb_no_answer_out_seconds\{balancer="sales",dest="user/4"\} 35\d\d(\.\d+)?(e\+03)?\n`).MatchString(text) &&
		!regexp.MustCompile(`ringlb_no_answer_out_seconds\{balancer="sales",dest="user/4"\} 3\.\d+e\+03\n`).MatchString(text) {
		t.Errorf("no ringlb_no_answer_out_seconds of about an hour for user/4:\n%s", text)
	}
	has(t, text,
		`ringlb_active_calls{balancer="sales",dest="user/1"} 1`,
		`ringlb_active_calls{balancer="sales",dest="user/2"} 1`,
		`ringlb_capacity{balancer="sales",dest="user/1"} 2`,
		`ringlb_drained{balancer="sales",dest="user/3"} 1`,
		`ringlb_no_answer_out_seconds{balancer="sales",dest="user/1"} 0`,
		`ringlb_calls_started_total{balancer="sales",dest="user/2"} 1`,
		`ringlb_next_total{balancer="sales",outcome="chosen"} 1`,
		`ringlb_next_total{balancer="sales",outcome="at_capacity"} 1`,
		`ringlb_next_total{balancer="sales",outcome="invalid"} 1`,
		`ringlb_operation_seconds_count{balancer="sales",op="next"} 3`,
		`ringlb_operation_seconds_count{balancer="sales",op="acquire"} 2`,
		`ringlb_snapshot_error{balancer="sales"} 0`,
		`ringlb_fallbacks_total{balancer="sales"} 1`,
	)
	// The lines written to the host's log, by level.
	hostlog.SetSink(func(hostlog.Level, string) {})
	defer hostlog.SetSink(nil)
	warnings := hostlog.Lines(hostlog.Warning)
	hostlog.Printf(hostlog.Warning, "a warning for the metrics test")
	has(t, scrape(t, &reg), `ringlb_log_lines_total{level="WARNING"} `+strconv.FormatUint(warnings+1, 10),
		`ringlb_log_lines_total{level="ERR"} `+strconv.FormatUint(hostlog.Lines(hostlog.Error), 10))
	// A scrape is no operation of the balancer's own.
	if !strings.Contains(scrape(t, &reg), `ringlb_operation_seconds_count{balancer="sales",op="snapshot"} 0`+"\n") {
		t.Error("scrapes counted as snapshots")
	}
	// Released calls, and destinations the memory bound forgets, go.
	if _, err := b.Release(ctx, "user/2", "c2"); err != nil {
		t.Fatal(err)
	}
	has(t, scrape(t, &reg), `ringlb_active_calls{balancer="sales",dest="user/2"} 0`)
}

func TestServe(t *testing.T) {
	// Every interface only when asked for: nothing is started.
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0"} {
		if _, err := Serve(addr); !errors.Is(err, lb.ErrInvalidArgument) || !strings.Contains(err.Error(), `"*:0"`) {
			t.Fatalf("Serve(%q): %v; want ErrInvalidArgument that names *:0", addr, err)
		}
	}
	// A port in use: a clean error, nothing started.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if _, err := Serve(busy.Addr().String()); !errors.Is(err, lb.ErrInvalidArgument) {
		t.Fatalf("Serve on a port in use: %v", err)
	}
	addr, err := Serve("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := Serve("127.0.0.1:0"); err != nil || again != addr {
		t.Fatalf("Serve again = %q, %v; want %q", again, err, addr)
	}
	if again, err := Serve(addr); err != nil || again != addr {
		t.Fatalf("Serve of the bound address = %q, %v", again, err)
	}
	if _, err := Serve("127.0.0.1:1"); !errors.Is(err, ErrServing) {
		t.Fatalf("Serve elsewhere: %v, want ErrServing", err)
	}
	if _, err := lb.Default.Open("metrics-serve-test", lb.Options{}); err != nil {
		t.Fatal(err)
	}
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), `ringlb_snapshot_error{balancer="metrics-serve-test"} 0`) ||
		!strings.Contains(string(body), "go_goroutines") {
		t.Fatalf("served metrics:\n%s", body)
	}
}

// BenchmarkNextReleaseScraped measures next+release on a balancer of 100
// destinations with 100 calls up, alone and while another goroutine scrapes
// the metrics ten times a second (150 times what a 15 s scrape interval
// asks): what scrapes cost the calls.
func BenchmarkNextReleaseScraped(b *testing.B) {
	for _, scraping := range []bool{false, true} {
		name := "alone"
		if scraping {
			name = "scraped"
		}
		b.Run(name, func(b *testing.B) {
			var reg lb.Registry
			ctx := context.Background()
			n, dests := withMembers(b, &reg, "bench", 100)
			group := dests[:10]
			stop := make(chan struct{})
			done := make(chan int)
			if scraping {
				pr := prometheus.NewRegistry()
				pr.MustRegister(NewCollector(&reg))
				go func() {
					scrapes := 0
					for {
						select {
						case <-stop:
							done <- scrapes
							return
						default:
						}
						if _, err := pr.Gather(); err != nil {
							b.Error(err)
						}
						scrapes++
						time.Sleep(100 * time.Millisecond)
					}
				}()
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				id := "c" + strconv.Itoa(i)
				d, err := n.Next(ctx, group, id)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := n.Release(ctx, d, id); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if scraping {
				close(stop)
				b.ReportMetric(float64(<-done)/b.Elapsed().Seconds(), "scrapes/s")
			}
		})
	}
}

// The Grafana dashboard in docs/ is valid JSON and asks only for metrics
// that the collector serves.
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile("../../docs/grafana-ringlb.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("docs/grafana-ringlb.json: %v", err)
	}
	served := map[string]bool{}
	descs := make(chan *prometheus.Desc, 64)
	NewCollector(&lb.Registry{}).Describe(descs)
	close(descs)
	for d := range descs {
		name := strings.TrimPrefix(d.String(), `Desc{fqName: "`)
		name = name[:strings.IndexByte(name, '"')]
		served[name] = true
	}
	re := regexp.MustCompile(`ringlb_[a-z_]+`)
	n := 0
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range re.FindAllString(tg.Expr, -1) {
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_count"), "_sum")
				if !served[base] {
					t.Errorf("panel %q asks for %s, which is not served", p.Title, m)
				}
				n++
			}
		}
	}
	if n == 0 {
		t.Fatal("the dashboard asks for no ringlb metric")
	}
}

// TestCollectorRedis: a Redis balancer also shows its queued releases,
// holds taken back and how its operations shared script calls.
func TestCollectorRedis(t *testing.T) {
	m := miniredis.RunT(t)
	var reg lb.Registry
	defer reg.Close("support")
	ctx := context.Background()
	b, err := reg.Open("support", lb.Options{URL: "redis://" + m.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"c1", "c2", "c3"} {
		d, err := b.Next(ctx, []string{"user/1", "user/2"}, c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Release(ctx, d, c); err != nil {
			t.Fatal(err)
		}
	}
	// One caller at a time: every operation had a script call of its own.
	has(t, scrape(t, &reg),
		`ringlb_release_retries_queued{balancer="support"} 0`,
		`ringlb_holds_taken_back_total{balancer="support"} 0`,
		`ringlb_redis_batches_total{balancer="support"} 6`,
		`ringlb_redis_batched_operations_total{balancer="support"} 6`,
	)
}
