package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ringlb/ringlb/sim"
)

// TestSmallRun is what `make sim` runs in CI, at a small size.
func TestSmallRun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "sim.md")
	var stdout, stderr strings.Builder
	code := run([]string{"-calls", "300", "-seed", "2", "-per-agent", "-out", out}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	got := stdout.String()
	for _, want := range []string{
		"Model: seed 2; 300 calls, Poisson 60/h",
		"| policy | answered |",
		"| ringlb |", "| ringlb-list |", "| genesis |", "| sequential |", "| random |",
		"| agent |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	// The Redis policy either ran or says why not.
	if !strings.Contains(got, "| ringlb-redis-3node |") && !strings.Contains(got, "ringlb-redis-3node was not run") {
		t.Errorf("output neither has the Redis row nor says why:\n%s", got)
	}
	file, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(file) != got {
		t.Error("-out file differs from stdout")
	}
}

func TestWithoutRedis(t *testing.T) {
	var stdout, stderr strings.Builder
	if code := run([]string{"-calls", "50", "-redis=false"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	if strings.Contains(stdout.String(), "redis") {
		t.Errorf("-redis=false still mentions Redis:\n%s", stdout.String())
	}
}

func TestCustomGroups(t *testing.T) {
	var stdout, stderr strings.Builder
	code := run([]string{"-calls", "50", "-redis=false", "-groups", "front=a,b,c@2; back=c,d"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "front 67% [a b c], back 33% [c d]") {
		t.Errorf("groups not in the header:\n%s", stdout.String())
	}
}

func TestBadArguments(t *testing.T) {
	for _, args := range [][]string{
		{"-no-such-flag"},
		{"-calls", "10", "extra"},
		{"-groups", "nomembers"},
		{"-answer-max", "30s"},
		{"-seeds", "0"},
		{"-scale", "0"},
		{"-bound-runs", "-1"},
		{"-scenario", "nope"},
	} {
		var stdout, stderr strings.Builder
		if code := run(args, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// The whole report, at a small size: every trace, the summaries, the bound
// and the chart.
func TestWholeReport(t *testing.T) {
	dir := t.TempDir()
	md, svg := filepath.Join(dir, "balance.md"), filepath.Join(dir, "balance.svg")
	var stdout, stderr strings.Builder
	code := run([]string{"-scenario", "all", "-calls", "200", "-seeds", "2", "-scale", "0.125", "-bound-runs", "30",
		"-out", md, "-svg", svg}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	got := stdout.String()
	want := []string{"# Balance", "### The bound", "seeds 1, 2 for every trace", "seeds meeting the target",
		"## The default call centre and its variations"}
	for _, s := range append(sim.Scenarios(), sim.Shifts()...) {
		want = append(want, "| "+s.Name+" |")
	}
	for _, s := range sim.Shifts() {
		want = append(want, "## Shift trace "+s.Name+":")
	}
	want = append(want, "1002 back at 30m0s", "ringlb-redis-3node against ringlb-no-fading",
		"Talk ties on mixed, occupancy max/min over every agent", "| seed | ringlb | ringlb with talk ties | talk ties, answering agents | bound (answering agents) |")
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("report lacks %q", w)
		}
	}
	chart, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(chart), "Shift traces: max/min per seed of ringlb") {
		t.Error("chart lacks the shift panel")
	}
}

// One shift trace with the research variants.
func TestShiftWithVariants(t *testing.T) {
	var stdout, stderr strings.Builder
	code := run([]string{"-scenario", "never-answers", "-seeds", "1", "-scale", "0.125", "-bound=false", "-variants", "-redis=false"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	got := stdout.String()
	for _, w := range []string{"## Shift trace never-answers:", "1001 does not answer 100 % of calls", "## Research: tie rules on every trace",
		"| rule: fewest, half-life 4h, lowest when chosen |", "| rule: talk, no fading, zero in the first hour, lift to the mean on return |"} {
		if !strings.Contains(got, w) {
			t.Errorf("output lacks %q:\n%s", w, got)
		}
	}
}
