package hostlog

import (
	"sync"
	"testing"
)

// capture installs a sink that records lines, and removes it at the end.
func capture(t *testing.T) func() []string {
	t.Helper()
	var mu sync.Mutex
	var got []string
	SetSink(func(level Level, line string) {
		mu.Lock()
		got = append(got, level.String()+" "+line)
		mu.Unlock()
	})
	t.Cleanup(func() { SetSink(nil) })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

func TestConditionLogsTransitionsOnly(t *testing.T) {
	lines := capture(t)
	var c Condition
	steps := []struct {
		set     bool
		msg     string
		logged  bool
		wantLen int
	}{
		{true, "port in use", true, 1},
		{true, "port in use", false, 1},
		{true, "port in use", false, 1},
		{true, "another reason", true, 2},
		{false, "fixed", true, 3},
		{false, "fixed", false, 3},
		{true, "port in use", true, 4},
	}
	for i, s := range steps {
		var logged bool
		if s.set {
			logged = c.Set(Warning, s.msg)
		} else {
			logged = c.Clear(s.msg)
		}
		if logged != s.logged || len(lines()) != s.wantLen {
			t.Fatalf("step %d: logged %v, %d lines %q; want %v, %d", i, logged, len(lines()), lines(), s.logged, s.wantLen)
		}
	}
	want := []string{"WARNING port in use", "WARNING another reason", "NOTICE fixed", "WARNING port in use"}
	for i, l := range lines() {
		if l != want[i] {
			t.Errorf("line %d = %q, want %q", i, l, want[i])
		}
	}
}

func TestConditionUnderManyCallersLogsOnce(t *testing.T) {
	lines := capture(t)
	var c Condition
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				c.Set(Warning, "redis evicts keys")
			}
		}()
	}
	wg.Wait()
	if n := len(lines()); n != 1 {
		t.Fatalf("%d lines for one condition set 1,600 times, want 1", n)
	}
	if ok, msg := c.Active(); !ok || msg != "redis evicts keys" {
		t.Fatalf("Active() = %v, %q", ok, msg)
	}
}

func TestLinesCountsPerLevel(t *testing.T) {
	capture(t)
	before := Lines(Error)
	Printf(Error, "x %d", 1)
	Printf(Error, "x %d", 2)
	if got := Lines(Error) - before; got != 2 {
		t.Fatalf("Lines(Error) grew by %d, want 2", got)
	}
	if Lines(Level(99)) != 0 {
		t.Fatal("unknown level has a count")
	}
}
