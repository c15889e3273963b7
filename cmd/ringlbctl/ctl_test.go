package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringlb/ringlb/internal/redistest"
	"github.com/ringlb/ringlb/internal/version"
	"github.com/ringlb/ringlb/lb"
	"github.com/ringlb/ringlb/lb/redislb"
)

// These tests run the built ringlbctl binary, as an operator would, against
// a redis-server each test starts on a free loopback port. The nodes of a
// deployment are redislb.New balancers in the test process, so every check
// that "another node sees it" crosses a process boundary.

var ctlBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ringlbctl-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctlBin = filepath.Join(dir, "ringlbctl")
	out, err := exec.Command(goTool(), "build", "-o", ctlBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build ringlbctl: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// startRedis starts a private redis-server for the test (skipped without
// one, failed when CI is set) and returns its URL.
func startRedis(t *testing.T) string {
	t.Helper()
	return redistest.Start(t).URL()
}

// freePort returns a loopback port that nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func ctlRun(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(ctlBin, append([]string{"--timeout=60s"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RINGLB_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("run ringlbctl %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

// ctlOK runs the binary and fails the test unless it exits 0.
func ctlOK(t *testing.T, url string, args ...string) string {
	t.Helper()
	out, errOut, code := ctlRun(t, []string{"RINGLB_URL=" + url}, args...)
	if code != 0 {
		t.Fatalf("ringlbctl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// node opens the balancer as a switch would.
func node(t *testing.T, url, name, nodeName string) lb.Balancer {
	t.Helper()
	// A generous timeout: a loaded test machine is no reason to fail.
	b, err := redislb.New(name, lb.Options{URL: url, Node: nodeName, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func acquire(t *testing.T, b lb.Balancer, dest, call string) {
	t.Helper()
	if ok, err := b.Acquire(context.Background(), dest, call); err != nil || !ok {
		t.Fatalf("acquire %s %s: %v %v", dest, call, ok, err)
	}
}

// salesFixture is a balancer "sales" with holds from two nodes:
// user/1001 two calls (fs1), user/1002 one (fs1), user/1003 one (fs2).
func salesFixture(t *testing.T) (url string, fs1 lb.Balancer) {
	url = startRedis(t)
	fs1 = node(t, url, "sales", "fs1")
	fs2 := node(t, url, "sales", "fs2")
	acquire(t, fs1, "user/1001", "call-a")
	acquire(t, fs1, "user/1001", "call-b")
	if ok, err := fs1.Answered(context.Background(), "user/1001", "call-b"); !ok || err != nil {
		t.Fatalf("Answered = %v, %v", ok, err)
	}
	acquire(t, fs1, "user/1002", "call-c")
	acquire(t, fs2, "user/1003", "call-d")
	return url, fs1
}

// row reports whether out has a table row with these cells, separated by
// the tabwriter's spaces.
func row(out string, cells ...string) bool {
	q := make([]string, len(cells))
	for i, c := range cells {
		q[i] = regexp.QuoteMeta(c)
	}
	return regexp.MustCompile(`(?m)^` + strings.Join(q, ` +`) + `( |$)`).MatchString(out)
}

type statusDoc struct {
	Balancer     string `json:"balancer"`
	Backend      string `json:"backend"`
	Prefix       string `json:"prefix"`
	Destinations []struct {
		Dest     string     `json:"dest"`
		Active   int        `json:"active"`
		Drained  bool       `json:"drained"`
		Started  int64      `json:"started"`
		LastHold *time.Time `json:"last_hold"`
		// Unanswered and BackoffUntil: the no-answer back-off.
		Unanswered   int        `json:"unanswered"`
		BackoffUntil *time.Time `json:"backoff_until"`
	} `json:"destinations"`
	Holds []struct {
		Dest    string     `json:"dest"`
		CallID  string     `json:"call_id"`
		Node    string     `json:"node"`
		Start   time.Time  `json:"start"`
		Age     *int64     `json:"age_seconds"`
		Expires *time.Time `json:"expires"`
	} `json:"holds"`
}

func statusOf(t *testing.T, url string, args ...string) statusDoc {
	t.Helper()
	out := ctlOK(t, url, append([]string{"status", "--json"}, args...)...)
	var doc statusDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	return doc
}

func (d statusDoc) dest(t *testing.T, dest string) (active int, drained bool) {
	t.Helper()
	for _, x := range d.Destinations {
		if x.Dest == dest {
			return x.Active, x.Drained
		}
	}
	t.Fatalf("status has no %s: %+v", dest, d.Destinations)
	return 0, false
}

func TestStatusShowsHolds(t *testing.T) {
	url, _ := salesFixture(t)
	out := ctlOK(t, url, "status", "--balancer", "sales")
	for _, want := range [][]string{
		{"DEST", "ACTIVE", "RINGING", "TALKING", "DRAINED", "STARTED", "ANSWERED", "SCORE", "WRAP-UP", "LAST CALL"},
		{"user/1001", "2", "1", "1", "no", "2", "1", "1.0", "-"},
		{"user/1002", "1", "1", "0", "no", "1", "0", "0.0", "-"},
		{"user/1003", "1", "1", "0", "no", "1", "0", "0.0", "-"},
	} {
		if !row(out, want...) {
			t.Errorf("status: no row %q in\n%s", want, out)
		}
	}
	if !strings.Contains(out, "3 destinations, 0 drained, 4 active calls (3 ringing, 1 talking)") {
		t.Errorf("status: no summary line in\n%s", out)
	}
	if !strings.HasPrefix(out, `balancer sales (redis, prefix "ringlb:")`) {
		t.Errorf("status: header: %q", strings.SplitN(out, "\n", 2)[0])
	}
}

func TestHoldsListsEveryHold(t *testing.T) {
	url, _ := salesFixture(t)
	out := ctlOK(t, url, "holds", "-b", "sales")
	for _, want := range [][]string{
		{"DEST", "CALL ID", "STATE", "NODE", "AGE", "LAPSES IN"},
		{"user/1001", "call-a", "ringing", "fs1"},
		{"user/1001", "call-b", "talking", "fs1"},
		{"user/1002", "call-c", "ringing", "fs1"},
		{"user/1003", "call-d", "ringing", "fs2"},
	} {
		if !row(out, want...) {
			t.Errorf("holds: no row %q in\n%s", want, out)
		}
	}
	if !strings.Contains(out, "4 holds") {
		t.Errorf("holds: no count in\n%s", out)
	}

	// Destinations as arguments narrow the list; flags may follow them.
	out = ctlOK(t, url, "holds", "user/1003", "-b", "sales")
	if !row(out, "user/1003", "call-d", "ringing", "fs2") || strings.Contains(out, "call-a") || !strings.Contains(out, "1 hold\n") {
		t.Errorf("holds user/1003:\n%s", out)
	}
}

func TestJSONParses(t *testing.T) {
	url, _ := salesFixture(t)
	doc := statusOf(t, url, "-b", "sales")
	if doc.Balancer != "sales" || doc.Backend != "redis" || doc.Prefix != "ringlb:" {
		t.Errorf("status --json header: %+v", doc)
	}
	if len(doc.Destinations) != 3 || len(doc.Holds) != 4 {
		t.Fatalf("status --json: %d destinations, %d holds; want 3, 4", len(doc.Destinations), len(doc.Holds))
	}
	if a, d := doc.dest(t, "user/1001"); a != 2 || d {
		t.Errorf("user/1001: active %d drained %v", a, d)
	}
	for _, h := range doc.Holds {
		if h.Start.IsZero() || h.Age == nil || *h.Age < 0 || h.Expires == nil || !h.Expires.After(h.Start) {
			t.Errorf("hold %+v: want start, age_seconds >= 0 and a lease expiry after start", h)
		}
	}

	out := ctlOK(t, url, "holds", "-b", "sales", "--json", "user/1001")
	var hd struct {
		Balancer string            `json:"balancer"`
		Holds    []json.RawMessage `json:"holds"`
	}
	if err := json.Unmarshal([]byte(out), &hd); err != nil || hd.Balancer != "sales" || len(hd.Holds) != 2 {
		t.Errorf("holds --json user/1001: %v %+v\n%s", err, hd, out)
	}

	out = ctlOK(t, url, "drain", "-b", "sales", "--json", "user/1002")
	var dd struct {
		Balancer     string `json:"balancer"`
		Action       string `json:"action"`
		Destinations []struct {
			Dest    string `json:"dest"`
			Drained bool   `json:"drained"`
			Changed bool   `json:"changed"`
			Known   bool   `json:"known"`
			Active  int    `json:"active"`
		} `json:"destinations"`
	}
	if err := json.Unmarshal([]byte(out), &dd); err != nil || dd.Action != "drain" || len(dd.Destinations) != 1 {
		t.Fatalf("drain --json: %v\n%s", err, out)
	}
	if r := dd.Destinations[0]; r.Dest != "user/1002" || !r.Drained || !r.Changed || !r.Known || r.Active != 1 {
		t.Errorf("drain --json: %+v", r)
	}

	out = ctlOK(t, url, "rejoin", "-b", "sales", "user/1003")
	if !strings.Contains(out, "sales: user/1003 rejoins: lifted to the mean score of its group at its next ranking") {
		t.Errorf("rejoin: %q", out)
	}
	out = ctlOK(t, url, "away", "-b", "sales", "--json", "user/1003")
	var ad struct {
		Action       string `json:"action"`
		Destinations []struct {
			Dest string `json:"dest"`
			Away bool   `json:"away"`
		} `json:"destinations"`
	}
	if err := json.Unmarshal([]byte(out), &ad); err != nil || ad.Action != "away" || len(ad.Destinations) != 1 ||
		!ad.Destinations[0].Away {
		t.Errorf("away --json: %v %+v\n%s", err, ad, out)
	}

	out = ctlOK(t, url, "reset", "-b", "sales", "--json", "user/1001")
	var rd struct {
		Action       string `json:"action"`
		Destinations []struct {
			Dest    string `json:"dest"`
			Dropped int    `json:"dropped"`
		} `json:"destinations"`
	}
	if err := json.Unmarshal([]byte(out), &rd); err != nil || rd.Action != "reset" ||
		len(rd.Destinations) != 1 || rd.Destinations[0].Dropped != 2 {
		t.Errorf("reset --json: %v %+v\n%s", err, rd, out)
	}
}

func TestDrainIsSeenByOtherProcesses(t *testing.T) {
	url, fs1 := salesFixture(t)
	ctx := context.Background()
	dests := []string{"user/1001", "user/1002", "user/1003"}

	out := ctlOK(t, url, "drain", "-b", "sales", "user/1001")
	if want := "sales: drained user/1001 (2 active calls keep counting until they end)\n"; out != want {
		t.Errorf("drain: got %q, want %q", out, want)
	}
	// A node process sees it at once...
	order, err := fs1.Order(ctx, dests)
	if err != nil || slices.Contains(order, "user/1001") {
		t.Errorf("node after drain: order %v, %v; want user/1001 left out", order, err)
	}
	if _, err := fs1.Acquire(ctx, "user/1001", "call-new"); !errors.Is(err, lb.ErrDrained) {
		t.Errorf("node after drain: acquire gave %v, want ErrDrained", err)
	}
	// ...and so does a second ringlbctl process, with the calls still counted.
	if a, d := statusOf(t, url, "-b", "sales").dest(t, "user/1001"); a != 2 || !d {
		t.Errorf("second ringlbctl after drain: active %d drained %v; want 2, true", a, d)
	}
	if out := ctlOK(t, url, "drain", "-b", "sales", "user/1001"); out != "sales: user/1001 was already drained\n" {
		t.Errorf("second drain: %q", out)
	}

	out = ctlOK(t, url, "undrain", "-b", "sales", "user/1001")
	if out != "sales: undrained user/1001\n" {
		t.Errorf("undrain: %q", out)
	}
	order, err = fs1.Order(ctx, dests)
	if err != nil || !slices.Contains(order, "user/1001") {
		t.Errorf("node after undrain: order %v, %v; want user/1001 back", order, err)
	}
	if _, d := statusOf(t, url, "-b", "sales").dest(t, "user/1001"); d {
		t.Error("second ringlbctl after undrain: still drained")
	}
	if out := ctlOK(t, url, "undrain", "-b", "sales", "user/1001"); out != "sales: user/1001 was not drained\n" {
		t.Errorf("second undrain: %q", out)
	}
}

func TestDrainOfANewDestinationSaysSo(t *testing.T) {
	url, _ := salesFixture(t)
	out := ctlOK(t, url, "drain", "-b", "sales", "user/1002", "user/1009")
	want := "sales: drained user/1002 (1 active call keeps counting until it ends)\n" +
		"sales: drained user/1009 (new to this balancer: check the spelling)\n"
	if out != want {
		t.Errorf("drain: got\n%s\nwant\n%s", out, want)
	}
}

func TestResetDropsHolds(t *testing.T) {
	url, fs1 := salesFixture(t)
	out := ctlOK(t, url, "reset", "-b", "sales", "user/1001")
	if out != "sales: reset user/1001, dropped 2 holds\n" {
		t.Errorf("reset: %q", out)
	}
	loads, err := fs1.Load(context.Background(), []string{"user/1001", "user/1002", "user/1003"})
	if err != nil || !slices.Equal(loads, []int{0, 1, 1}) {
		t.Errorf("node after reset: loads %v, %v; want [0 1 1]", loads, err)
	}
	doc := statusOf(t, url, "-b", "sales")
	for _, h := range doc.Holds {
		if h.Dest == "user/1001" {
			t.Errorf("hold left after reset: %+v", h)
		}
	}
	if len(doc.Holds) != 2 {
		t.Errorf("after reset: %d holds, want 2", len(doc.Holds))
	}
	// The ctl is a node too, but one that never holds anything.
	for _, h := range doc.Holds {
		if strings.HasPrefix(h.Node, "ringlbctl") {
			t.Errorf("the ctl left a hold: %+v", h)
		}
	}
	if out := ctlOK(t, url, "reset", "-b", "sales", "user/1001"); out != "sales: reset user/1001, dropped 0 holds\n" {
		t.Errorf("second reset: %q", out)
	}
}

func TestPrefixSelectsTheKeys(t *testing.T) {
	url := startRedis(t)
	b, err := redislb.New("support", lb.Options{URL: url, KeyPrefix: "pbx1:", Node: "fs1", Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	acquire(t, b, "user/2001", "call-x")
	if _, _, code := ctlRun(t, []string{"RINGLB_URL=" + url}, "status", "-b", "support"); code != exitUnknown {
		t.Errorf("status with the default prefix: exit %d, want %d", code, exitUnknown)
	}
	out := ctlOK(t, url, "status", "-b", "support", "--prefix", "pbx1:")
	if !row(out, "user/2001", "1", "1", "0", "no", "1") {
		t.Errorf("status --prefix pbx1: \n%s", out)
	}
}

func TestUnknownBalancerExits3(t *testing.T) {
	url, _ := salesFixture(t)
	env := []string{"RINGLB_URL=" + url}
	for _, args := range [][]string{
		{"status", "-b", "sale"},
		{"holds", "-b", "sale"},
		{"drain", "-b", "sale", "user/1001"},
		{"undrain", "-b", "sale", "user/1001"},
		{"reset", "-b", "sale", "user/1001"},
		{"status", "-b", "sales", "--prefix", "other:"},
	} {
		out, errOut, code := ctlRun(t, env, args...)
		if code != exitUnknown || out != "" || !strings.Contains(errOut, `no balancer "sale`) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 3 and a message", args, code, out, errOut)
		}
	}
	// --force drains a balancer before its first call; then it is known.
	if _, errOut, _ := ctlRun(t, env, "drain", "-b", "fresh", "user/1"); !strings.Contains(errOut, "--force") {
		t.Errorf("drain of an unknown balancer does not mention --force: %q", errOut)
	}
	ctlOK(t, url, "drain", "-b", "fresh", "--force", "user/1")
	if _, d := statusOf(t, url, "-b", "fresh").dest(t, "user/1"); !d {
		t.Error("drain --force did not drain")
	}
}

func TestUnreachableRedisExits1(t *testing.T) {
	port := freePort(t) // closed again: nothing listens there
	url := fmt.Sprintf("redis://:s3cret@127.0.0.1:%d/0", port)
	sentinel := fmt.Sprintf("redis+sentinel://127.0.0.1:%d/0?master_name=m&sentinel_password=s3cret", port)
	for _, args := range [][]string{
		{"status", "-b", "sales", "--url", url},
		{"drain", "-b", "sales", "--url", url, "user/1001"},
		{"status", "-b", "sales", "--url", sentinel},
	} {
		out, errOut, code := ctlRun(t, nil, args...)
		if code != exitFailed || out != "" {
			t.Errorf("%v: exit %d, stdout %q; want exit 1, no output", args, code, out)
		}
		if !strings.HasPrefix(errOut, "ringlbctl: "+args[0]+" sales: cannot reach Redis at redis") ||
			!strings.Contains(errOut, "connection refused") {
			t.Errorf("%v: stderr %q; want a clear message", args, errOut)
		}
		if strings.Contains(errOut, "s3cret") {
			t.Errorf("%v: stderr shows the password: %q", args, errOut)
		}
		if strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: want one line on stderr, got %q", args, errOut)
		}
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	url := "redis://127.0.0.1:1/0" // never reached: usage is checked first
	env := []string{"RINGLB_URL=" + url}
	for _, tc := range []struct {
		args []string
		env  []string
		msg  string
	}{
		{nil, env, "Usage:"},
		{[]string{"frob", "-b", "sales"}, env, `unknown command "frob"`},
		{[]string{"status"}, env, "--balancer is required"},
		{[]string{"drain", "-b", "sales"}, env, "drain: missing DEST"},
		{[]string{"reset", "-b", "sales"}, env, "reset: missing DEST"},
		{[]string{"status", "-b", "sales", "extra"}, env, `unexpected argument "extra"`},
		{[]string{"status", "-b", "sales", "--force"}, env, "--force does not apply"},
		{[]string{"status", "-b", "sales", "--verbose"}, env, "flag provided but not defined: -verbose"},
		{[]string{"status", "-b", "sales"}, nil, "no Redis URL"},
		{[]string{"status", "-b", "sales", "--url", "http://127.0.0.1:6379"}, nil, `scheme "http"`},
		{[]string{"status", "-b", "sales", "--url", "redis://127.0.0.1:6379/0?bogus=1"}, nil, "bogus"},
		{[]string{"status", "-b", "sales", "--prefix", ""}, env, "key_prefix"},
		{[]string{"status", "-b", "sa{les}"}, env, "brace"},
		{[]string{"status", "-b", "sales", "--timeout", "0s"}, env, "--timeout"},
		{[]string{"help", "frob"}, env, `help: unknown command "frob"`},
	} {
		out, errOut, code := ctlRun(t, tc.env, tc.args...)
		if code != exitUsage || out != "" || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.args, code, out, errOut, tc.msg)
		}
		if tc.args != nil && !strings.Contains(errOut, "ringlbctl help") {
			t.Errorf("%q: stderr %q does not point to help", tc.args, errOut)
		}
	}
}

func TestHelpShowsExamples(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--help"}, "ringlbctl status --balancer sales"},
		{[]string{"help"}, "Exit codes:"},
		{[]string{"-h"}, "Commands:"},
		{[]string{"help", "drain"}, "ringlbctl drain --balancer sales user/1002"},
		{[]string{"drain", "--help"}, "ringlbctl drain --balancer sales user/1002"},
		{[]string{"help", "status"}, "--json | jq"},
		{[]string{"help", "holds"}, "ringlbctl holds -b sales user/1002"},
		{[]string{"help", "undrain"}, "ringlbctl undrain --balancer sales user/1002"},
		{[]string{"reset", "-h"}, "ringlbctl reset --balancer sales user/1002"},
	} {
		out, errOut, code := ctlRun(t, nil, tc.args...)
		if code != 0 || errOut != "" || !strings.Contains(out, tc.want) || !strings.Contains(out, "Examples:") {
			t.Errorf("%q: exit %d, stderr %q; want exit 0 and %q in\n%s", tc.args, code, errOut, tc.want, out)
		}
	}
}

func TestVersionPrintsTheModulesVersion(t *testing.T) {
	out, errOut, code := ctlRun(t, nil, "--version")
	if code != exitOK || errOut != "" || out != "ringlbctl "+version.Version+"\n" {
		t.Errorf("--version: exit %d, stdout %q, stderr %q; want exit 0 and %q", code, out, errOut, "ringlbctl "+version.Version)
	}
	out, errOut, code = ctlRun(t, nil, "status", "--version")
	if code != exitUsage || out != "" || !strings.Contains(errOut, "--version takes no command") {
		t.Errorf("status --version: exit %d, stdout %q, stderr %q; want a usage error", code, out, errOut)
	}
}

// The man page (docs/ringlbctl.1, shipped in the Debian package) describes
// every command and flag the command knows.
func TestManPageDescribesEveryCommandAndFlag(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "ringlbctl.1"))
	if err != nil {
		t.Fatal(err)
	}
	man := string(raw)
	for _, c := range commands {
		if !regexp.MustCompile(`(?m)^\.TP\n\.B[IR]? ` + c.name + `\b`).MatchString(man) {
			t.Errorf("the man page has no entry for the command %s", c.name)
		}
	}
	flags := append([]string{"version"}, commonFlags...)
	for _, c := range commands {
		flags = append(flags, c.flags...)
	}
	for _, f := range flags {
		dashes := `\-\-`
		if len(f) == 1 {
			dashes = `\-`
		}
		if !regexp.MustCompile(`(?m)^\.(TP\n\.)?B[IR]? .*` + regexp.QuoteMeta(dashes+f) + `\b`).MatchString(man) {
			t.Errorf("the man page does not describe the flag %s%s", strings.ReplaceAll(dashes, `\`, ""), f)
		}
	}
}

// status --json shows a member's unanswered offers in a row and when its
// back-off ends, which Redis stores; not whether it is out (max_no_answer
// is each node's), nor does the table.
func TestStatusShowsNoAnswerBackoff(t *testing.T) {
	url := startRedis(t)
	fs1 := node(t, url, "sales", "fs1")
	ctx := context.Background()
	for i := range 3 {
		call := fmt.Sprint("miss", i)
		acquire(t, fs1, "user/1001", call)
		if ok, err := fs1.Unanswered(ctx, "user/1001", call); !ok || err != nil {
			t.Fatalf("Unanswered = %v, %v", ok, err)
		}
	}
	doc := statusOf(t, url, "--balancer", "sales")
	for _, d := range doc.Destinations {
		if d.Dest != "user/1001" {
			continue
		}
		if d.Unanswered != 3 || d.BackoffUntil == nil || time.Until(*d.BackoffUntil) < time.Minute {
			t.Fatalf("user/1001: %d unanswered, back-off until %v; want 3 and about 2 minutes", d.Unanswered, d.BackoffUntil)
		}
		if out := ctlOK(t, url, "status", "--balancer", "sales"); !row(out, "user/1001", "0", "0", "0", "no") {
			t.Errorf("status table:\n%s", out)
		}
		return
	}
	t.Fatalf("no user/1001 in %+v", doc.Destinations)
}
