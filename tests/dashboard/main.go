// Command dashboard checks every query of the Grafana dashboard
// (docs/grafana-ringlb.json) against a real Prometheus (Debian's
// prometheus package) scraping real switch processes: two Lua interpreters
// loading the real ringlb.so (node.lua), one taking calls and one idle,
// each with a memory and a Redis balancer on a redis-server started here.
//
//	go run ./tests/dashboard -so build/lua5.3 -lua lua5.3
//
// Once Prometheus has scraped both long enough for rates, it runs each
// panel's expressions through the HTTP API, as Grafana would: with every
// balancer selected (the variable's All) each must return data; with each
// balancer alone none may return NaN (an instant query at the end and a
// range query over the whole run), and a panel left with no data at all
// must say why (fieldConfig.defaults.noValue) instead of showing an empty
// graph. Every wait is on a condition, with a deadline far above what it
// needs on a busy machine.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ringlb/ringlb/internal/redistest"
)

// nodeSeconds bounds each switch process's life: it stops by itself after
// that even if this check dies; the check itself kills it when done.
const nodeSeconds = 600

func main() {
	soDir := flag.String("so", "build/lua5.3", "directory of the ringlb.so to load")
	interp := flag.String("lua", "lua5.3", "Lua interpreter that loads it")
	dashboard := flag.String("dashboard", "docs/grafana-ringlb.json", "the dashboard to check")
	promBin := flag.String("prometheus", "prometheus", "the Prometheus server binary")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up after this long")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	c := &check{}
	err := run(ctx, c, *soDir, *interp, *dashboard, *promBin)
	if err != nil {
		c.failed++
		fmt.Printf("FAIL %v\n", err)
	}
	fmt.Printf("dashboard: %d passed, %d failed\n", c.passed, c.failed)
	if c.failed > 0 {
		os.Exit(1)
	}
}

type check struct{ passed, failed int }

func (c *check) ok(cond bool, format string, args ...any) {
	if cond {
		c.passed++
		fmt.Printf("ok   "+format+"\n", args...)
	} else {
		c.failed++
		fmt.Printf("FAIL "+format+"\n", args...)
	}
}

// The dashboard's parts this check reads.
type board struct {
	Templating struct {
		List []struct {
			Name, Type, Query string
		}
	}
	Panels []struct {
		Title       string
		FieldConfig struct {
			Defaults struct {
				NoValue string `json:"noValue"`
			}
		} `json:"fieldConfig"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string
		}
	}
}

func run(ctx context.Context, c *check, soDir, interp, dashboard, promBin string) error {
	raw, err := os.ReadFile(dashboard)
	if err != nil {
		return err
	}
	var b board
	if err := json.Unmarshal(raw, &b); err != nil {
		return fmt.Errorf("%s: %w", dashboard, err)
	}
	if _, err := exec.LookPath(promBin); err != nil {
		return fmt.Errorf("%s not installed (Debian package prometheus; scripts/deps.sh installs it): %w", promBin, err)
	}
	tmp, err := os.MkdirTemp("", "ringlb-dashboard-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	rs, err := redistest.Launch()
	if err != nil {
		return err
	}
	defer rs.Stop()
	redisURL := "redis://" + rs.Addr + "/0"

	var targets []string
	for _, mode := range []string{"busy", "idle"} {
		addr, stop, err := startNode(ctx, soDir, interp, mode, redisURL, filepath.Join(tmp, mode+".log"))
		if err != nil {
			return err
		}
		defer stop()
		targets = append(targets, addr)
	}
	prom, stop, err := startPrometheus(ctx, promBin, tmp, targets)
	if err != nil {
		return err
	}
	defer stop()
	start := time.Now()

	// Wait until both targets are up and rates exist: the busy node's
	// counters have moved between scrapes, the idle node's have stood
	// still for two.
	for _, q := range []string{
		`count(up{job="ringlb"} == 1) == 2`,
		`sum(rate(ringlb_calls_answered_total{balancer="busy-redis"}[5m])) > 0`,
		`sum(rate(ringlb_calls_answered_total{balancer="busy-mem"}[5m])) > 0`,
		`sum(rate(ringlb_handoffs_total[5m])) > 0`,
		`count(rate(ringlb_next_total{balancer="idle-redis"}[5m])) > 0`,
	} {
		if err := waitFor(ctx, prom, q); err != nil {
			return fmt.Errorf("%w\n%s", err, diagnose(prom, tmp))
		}
	}
	fmt.Printf("scraped: both switch processes up after %.1f s\n", time.Since(start).Seconds())
	idle, err := prom.query(ctx, `sum(rate(ringlb_operation_seconds_count{balancer=~"idle-.*"}[5m]))`)
	c.ok(err == nil && len(idle) == 1 && idle[0].Value[1] == "0",
		"the idle process is idle: no operations in the window (%v %v)", idle, err)

	// The new panels' metrics move on the busy switch. Over the window, not
	// at the last scrape: the busy switch's calls come and go, and at one
	// instant none of busy-redis's may be answered (more often the slower
	// the machine runs its loop).
	for _, q := range []string{
		`max_over_time(ringlb_talking_calls{balancer="busy-redis"}[5m]) > 0`,
		`max_over_time(ringlb_wrapup_seconds{balancer="busy-mem"}[5m]) > 0`,
		`sum(increase(ringlb_calls_answered_total{balancer="busy-mem"}[5m])) > 0`,
	} {
		r, err := prom.query(ctx, q)
		c.ok(err == nil && len(r) > 0, "busy switch: %s (%v)", q, err)
	}

	// The balancer variable, as Grafana fills it.
	var balancers []string
	for _, v := range b.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := regexp.MustCompile(`^label_values\((\w+), *(\w+)\)$`).FindStringSubmatch(v.Query)
		if m == nil || v.Name != "balancer" {
			return fmt.Errorf("dashboard variable %s: query %q is not label_values(METRIC, balancer); teach this check", v.Name, v.Query)
		}
		balancers, err = prom.labelValues(ctx, m[2], m[1])
		if err != nil {
			return err
		}
	}
	want := []string{"busy-mem", "busy-redis", "idle-mem", "idle-redis"}
	c.ok(slices.Equal(balancers, want), "variable balancer lists %v (want %v)", balancers, want)

	end := time.Now()
	selections := []struct{ name, regex string }{{"All", "(" + strings.Join(quoteAll(balancers), "|") + ")"}}
	for _, name := range balancers {
		selections = append(selections, struct{ name, regex string }{name, quote(name)})
	}
	for _, p := range b.Panels {
		for _, sel := range selections {
			series := 0
			for _, t := range p.Targets {
				if sel.name != "All" && !strings.Contains(t.Expr, "$") {
					// Not per balancer (the worker threads): the same for
					// every selection, checked with All.
					series++
					continue
				}
				expr, err := substitute(t.Expr, map[string]string{"balancer": sel.regex})
				if err != nil {
					c.ok(false, "%q %s: %v", p.Title, t.RefID, err)
					continue
				}
				inst, err1 := prom.query(ctx, expr)
				rng, err2 := prom.queryRange(ctx, expr, start, end)
				if err := errors.Join(err1, err2); err != nil {
					c.ok(false, "%q %s (%s): %v", p.Title, t.RefID, sel.name, err)
					continue
				}
				series += len(inst)
				nan := nanSeries(inst, rng)
				c.ok(len(nan) == 0, "%q %s (%s): %d series now, no NaN now or over the run%s",
					p.Title, t.RefID, sel.name, len(inst), list(" - NaN in ", nan))
				if sel.name == "All" {
					c.ok(len(inst) > 0, "%q %s (All): returns data", p.Title, t.RefID)
				}
			}
			if series == 0 {
				c.ok(p.FieldConfig.Defaults.NoValue != "",
					"%q (%s): no data, and the panel says why instead (noValue %q)", p.Title, sel.name, p.FieldConfig.Defaults.NoValue)
			}
		}
	}
	return nil
}

// startNode starts node.lua in mode and returns the metrics address it
// serves, and a function that stops it.
func startNode(ctx context.Context, soDir, interp, mode, redisURL, logPath string) (string, func(), error) {
	cmd := exec.Command(interp, "tests/dashboard/node.lua", soDir, mode, redisURL, strconv.Itoa(nodeSeconds))
	// Every call crosses to ringlb's worker threads, as from a realtime
	// switch thread, so the hand-off metrics move.
	cmd.Env = append(os.Environ(), "RINGLB_DISPATCH=workers", "LUA_PATH=", "LUA_CPATH=")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logf, err := os.Create(logPath)
	if err != nil {
		return "", nil, err
	}
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("%s node.lua %s: %w", interp, mode, err)
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); logf.Close() }
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "bound "); ok {
				addr <- a
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if ok {
			return a, stop, nil
		}
		stop()
		log, _ := os.ReadFile(logPath)
		return "", nil, fmt.Errorf("node.lua %s exited before serving metrics: %s", mode, log)
	case <-ctx.Done():
		stop()
		return "", nil, fmt.Errorf("node.lua %s: no metrics endpoint: %w", mode, ctx.Err())
	}
}

type promAPI struct{ base string }

// startPrometheus starts Prometheus on a free loopback port, scraping
// targets every two seconds, with its data in dir; it returns its API and a
// function that stops it.
func startPrometheus(ctx context.Context, bin, dir string, targets []string) (*promAPI, func(), error) {
	cfg := filepath.Join(dir, "prometheus.yml")
	quoted := make([]string, len(targets))
	for i, t := range targets {
		quoted[i] = strconv.Quote(t)
	}
	conf := fmt.Sprintf("global:\n  scrape_interval: 2s\n  scrape_timeout: 2s\n  evaluation_interval: 2s\n"+
		"scrape_configs:\n  - job_name: ringlb\n    static_configs:\n      - targets: [%s]\n", strings.Join(quoted, ", "))
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		return nil, nil, err
	}
	var lastErr error
	// The free port can be taken between finding and binding it: try again.
	for attempt := 0; attempt < 5; attempt++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		addr := ln.Addr().String()
		ln.Close()
		logPath := filepath.Join(dir, "prometheus.log")
		logf, err := os.Create(logPath)
		if err != nil {
			return nil, nil, err
		}
		cmd := exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
			"--web.listen-address="+addr, "--log.level=warn")
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			logf.Close()
			return nil, nil, err
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		stop := func() { _ = cmd.Process.Kill(); <-exited; logf.Close() }
		p := &promAPI{base: "http://" + addr}
		for {
			select {
			case <-exited:
				log, _ := os.ReadFile(logPath)
				lastErr = fmt.Errorf("prometheus exited: %s", log)
			case <-ctx.Done():
				stop()
				return nil, nil, fmt.Errorf("prometheus never got ready: %w", ctx.Err())
			case <-time.After(200 * time.Millisecond):
				if p.get(ctx, "/-/ready", nil) == nil {
					return p, stop, nil
				}
				continue
			}
			break
		}
		logf.Close()
	}
	return nil, nil, lastErr
}

// sample is one series of an instant query; Value is [time, "value"].
type sample struct {
	Metric map[string]string
	Value  [2]any
}

// rangeSeries is one series of a range query.
type rangeSeries struct {
	Metric map[string]string
	Values [][2]any
}

func (p *promAPI) get(ctx context.Context, path string, into any) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
	}
	if into == nil {
		return nil
	}
	var r struct {
		Status, Error string
		Data          json.RawMessage
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	if r.Status != "success" {
		return fmt.Errorf("GET %s: %s", path, r.Error)
	}
	return json.Unmarshal(r.Data, into)
}

func (p *promAPI) query(ctx context.Context, expr string) ([]sample, error) {
	var d struct {
		ResultType string
		Result     []sample
	}
	if err := p.get(ctx, "/api/v1/query?"+url.Values{"query": {expr}}.Encode(), &d); err != nil {
		return nil, fmt.Errorf("%s: %w", expr, err)
	}
	if d.ResultType != "vector" {
		return nil, fmt.Errorf("%s: a %s, not an instant vector", expr, d.ResultType)
	}
	return d.Result, nil
}

func (p *promAPI) queryRange(ctx context.Context, expr string, start, end time.Time) ([]rangeSeries, error) {
	var d struct{ Result []rangeSeries }
	v := url.Values{"query": {expr}, "start": {unix(start)}, "end": {unix(end)}, "step": {"1"}}
	if err := p.get(ctx, "/api/v1/query_range?"+v.Encode(), &d); err != nil {
		return nil, fmt.Errorf("%s: %w", expr, err)
	}
	return d.Result, nil
}

func (p *promAPI) labelValues(ctx context.Context, label, metric string) ([]string, error) {
	var vals []string
	err := p.get(ctx, "/api/v1/label/"+label+"/values?"+url.Values{"match[]": {metric}}.Encode(), &vals)
	slices.Sort(vals)
	return vals, err
}

// waitFor polls expr until it returns a series.
func waitFor(ctx context.Context, p *promAPI, expr string) error {
	for {
		r, err := p.query(ctx, expr)
		if err == nil && len(r) > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %v %v)", expr, ctx.Err(), r, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// diagnose tells why a wait failed: the targets' health as Prometheus
// sees it, and the switch processes' output.
func diagnose(p *promAPI, dir string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var b strings.Builder
	var t struct {
		ActiveTargets []struct {
			ScrapeURL, Health, LastError string
		}
	}
	if err := p.get(ctx, "/api/v1/targets", &t); err != nil {
		fmt.Fprintf(&b, "targets: %v\n", err)
	}
	for _, a := range t.ActiveTargets {
		fmt.Fprintf(&b, "target %s: %s %s\n", a.ScrapeURL, a.Health, a.LastError)
	}
	for _, name := range []string{"busy.log", "idle.log", "prometheus.log"} {
		log, _ := os.ReadFile(filepath.Join(dir, name))
		fmt.Fprintf(&b, "%s: %s\n", name, log)
	}
	return b.String()
}

// substitute replaces the dashboard variables in expr; a variable it has
// no value for is an error, so a new variable cannot go unchecked.
func substitute(expr string, vars map[string]string) (string, error) {
	var missing []string
	out := regexp.MustCompile(`\$\{(\w+)\}|\$(\w+)`).ReplaceAllStringFunc(expr, func(m string) string {
		name := strings.Trim(m, "${}")
		v, ok := vars[name]
		if !ok {
			missing = append(missing, m)
			return m
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("no value for dashboard variable %s", strings.Join(missing, ", "))
	}
	return out, nil
}

// nanSeries names the series that hold NaN in an instant or range result.
func nanSeries(inst []sample, rng []rangeSeries) []string {
	var bad []string
	for _, s := range inst {
		if s.Value[1] == "NaN" {
			bad = append(bad, fmt.Sprint(s.Metric))
		}
	}
	for _, s := range rng {
		for _, v := range s.Values {
			if v[1] == "NaN" {
				bad = append(bad, fmt.Sprintf("%v at %v", s.Metric, v[0]))
				break
			}
		}
	}
	return bad
}

// quote is a value as Grafana puts it into a regex matcher: regex-escaped,
// inside a PromQL string.
func quote(s string) string {
	return strings.ReplaceAll(regexp.QuoteMeta(s), `\`, `\\`)
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = quote(s)
	}
	return out
}

func unix(t time.Time) string { return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64) }

func list(prefix string, items []string) string {
	if len(items) == 0 {
		return ""
	}
	return prefix + strings.Join(items, "; ")
}
