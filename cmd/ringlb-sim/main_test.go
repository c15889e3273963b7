package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	} {
		var stdout, stderr strings.Builder
		if code := run(args, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
