package ring

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/ringlb/ringlb/lb"
)

func TestParseTimeout(t *testing.T) {
	for in, want := range map[float64]time.Duration{0: DefaultTimeout, 1: time.Second, 12.9: 12 * time.Second, 3600: time.Hour} {
		if got, err := ParseTimeout(in); err != nil || got != want {
			t.Errorf("ParseTimeout(%v) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []float64{0.5, -1, 3601} {
		if _, err := ParseTimeout(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseTimeout(%v) accepted", in)
		}
	}
}

func TestReason(t *testing.T) {
	for _, tc := range []struct {
		causes       []string
		reason, last string
	}{
		{nil, ReasonFailed, "NONE"},
		{[]string{"USER_BUSY", "AT_CAPACITY"}, ReasonAllBusy, "AT_CAPACITY"},
		{[]string{"USER_BUSY", "NO_ANSWER"}, ReasonNoAnswer, "NO_ANSWER"},
		{[]string{"NO_USER_RESPONSE", "CALL_REJECTED"}, ReasonNoAnswer, "CALL_REJECTED"},
		{[]string{"USER_BUSY", "NORMAL_TEMPORARY_FAILURE"}, ReasonFailed, "NORMAL_TEMPORARY_FAILURE"},
		{[]string{"UNALLOCATED_NUMBER"}, ReasonFailed, "UNALLOCATED_NUMBER"},
	} {
		if r, l := Reason(tc.causes); r != tc.reason || l != tc.last {
			t.Errorf("Reason(%v) = %s, %s; want %s, %s", tc.causes, r, l, tc.reason, tc.last)
		}
	}
}

// flaky is a balancer whose backend fails for the destinations in down.
type flaky struct {
	Holder
	down map[string]bool
}

func (f flaky) Acquire(ctx context.Context, dest, callID string) (bool, error) {
	if f.down[dest] {
		return false, fmt.Errorf("ringlb: redis: acquire: %w", lb.ErrBackend)
	}
	return f.Holder.Acquire(ctx, dest, callID)
}

// newBalancer returns a memory balancer sharing loads with no other test's.
func newBalancer(t *testing.T, opts lb.Options) *lb.Memory {
	t.Helper()
	m, err := lb.NewScope(nil).Open(t.Name(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestPick(t *testing.T) {
	ctx := context.Background()
	m := newBalancer(t, lb.Options{DefaultCapacity: 1, Tie: lb.TieList})
	if _, err := m.Acquire(ctx, "a", "other"); err != nil { // a is full
		t.Fatal(err)
	}
	if err := m.Drain(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	members := []string{"a", "b", "c", "d"}

	d, skipped, err := Pick(ctx, m, ModeSequential, members, "call1")
	if d != "c" || !reflect.DeepEqual(skipped, []string{"a", "b"}) || err != nil {
		t.Fatalf("sequential: %q, %v, %v; want c after skipping a (full) and b (drained)", d, skipped, err)
	}
	d, skipped, err = Pick(ctx, m, ModeBalancing, members, "call2")
	if d != "d" || skipped != nil || err != nil {
		t.Fatalf("balancing: %q, %v, %v; want d, the only one with room", d, skipped, err)
	}
	d, skipped, err = Pick(ctx, m, ModeBalancing, []string{"a", "b"}, "call3")
	if d != "" || !reflect.DeepEqual(skipped, []string{"a", "b"}) || err != nil {
		t.Fatalf("balancing, all full: %q, %v, %v", d, skipped, err)
	}
	d, skipped, err = Pick(ctx, m, ModeSequential, []string{"a"}, "call4")
	if d != "" || !reflect.DeepEqual(skipped, []string{"a"}) || err != nil {
		t.Fatalf("sequential, all full: %q, %v, %v", d, skipped, err)
	}
	if _, _, err := Pick(ctx, flaky{m, map[string]bool{"x": true}}, ModeSequential, []string{"x"}, "call5"); !errors.Is(err, lb.ErrBackend) {
		t.Fatalf("backend down: %v", err)
	}
	if _, _, err := Pick(ctx, m, ModeParallel, members, "call6"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("parallel: %v", err)
	}
}

func TestHoldAll(t *testing.T) {
	ctx := context.Background()
	m := newBalancer(t, lb.Options{DefaultCapacity: 1})
	if _, err := m.Acquire(ctx, "b", "other"); err != nil {
		t.Fatal(err)
	}
	states, err := HoldAll(ctx, m, []string{"a", "b", "c"}, "call")
	if err != nil || !reflect.DeepEqual(states, []MemberState{Held, Skipped, Held}) {
		t.Fatalf("HoldAll = %v, %v", states, err)
	}
	states, err = HoldAll(ctx, flaky{m, map[string]bool{"e": true}}, []string{"d", "e", "f"}, "call2")
	if !errors.Is(err, lb.ErrBackend) || !reflect.DeepEqual(states, []MemberState{Held, Unheld, Unheld}) {
		t.Fatalf("HoldAll with the backend failing at e = %v, %v", states, err)
	}
	loads, _ := m.Load(ctx, []string{"d", "f"})
	if !reflect.DeepEqual(loads, []int{1, 0}) {
		t.Fatalf("loads %v: f must not be held", loads)
	}
}

func TestTaggedDialString(t *testing.T) {
	got, err := TaggedDialString([]string{"user/1001", "loopback/9/ctx"}, Parallel,
		[][2]string{{"ignore_early_media", "true"}}, 20, "ringlb_dest")
	want := "{ignore_early_media=true}[leg_timeout=20,ringlb_dest=user/1001]user/1001,[leg_timeout=20,ringlb_dest=loopback/9/ctx]loopback/9/ctx"
	if err != nil || got != want {
		t.Fatalf("TaggedDialString = %q, %v\nwant %q", got, err, want)
	}
	if got, err := TaggedDialString([]string{"user/1"}, Sequential, nil, 0, "ringlb_dest"); err != nil || got != "[ringlb_dest=user/1]user/1" {
		t.Fatalf("no timeout: %q, %v", got, err)
	}
	if _, err := TaggedDialString([]string{"user/1"}, Parallel, nil, 0, "bad tag"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad tag: %v", err)
	}
}
