package lb_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/ringlb/ringlb/lb"
	"github.com/ringlb/ringlb/lb/lbtest"
)

// fakeClock is a settable clock for Memory.SetClock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

var t0 = time.Date(2026, 5, 20, 12, 0, 0, 0, time.UTC)

// newFakeMemory returns a Memory whose clock the test sets.
func newFakeMemory(t *testing.T, opts lb.Options) (*lb.Memory, *fakeClock) {
	t.Helper()
	m, err := lb.NewMemory(t.Name(), opts)
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{now: t0}
	m.SetClock(clk.Now)
	t.Cleanup(func() { m.Close() })
	return m, clk
}

// memStep is one row of a step table: at a time after t0, do op and compare
// the printed result.
type memStep struct {
	at   time.Duration
	op   string // acquire, release, next, order, load, reset, drain, undrain, away, rejoin, answered, unanswered, talk, score
	arg  string // destination(s), comma-separated
	call string
	want string // fmt.Sprint of the results
}

// atCapacity is what a step that finds nobody to offer reads.
var atCapacity = lb.ErrAtCapacity.Error()

func runSteps(t *testing.T, m *lb.Memory, clk *fakeClock, steps []memStep) {
	t.Helper()
	ctx := context.Background()
	for i, s := range steps {
		clk.Set(t0.Add(s.at))
		dests := strings.Split(s.arg, ",")
		var got string
		switch s.op {
		case "acquire":
			ok, err := m.Acquire(ctx, s.arg, s.call)
			got = fmt.Sprint(ok, " ", errText(err))
		case "release":
			ok, err := m.Release(ctx, s.arg, s.call)
			got = fmt.Sprint(ok, " ", errText(err))
		case "next":
			d, err := m.Next(ctx, dests, s.call)
			got = fmt.Sprint(d, " ", errText(err))
		case "order":
			o, err := m.Order(ctx, dests)
			got = fmt.Sprint(o, " ", errText(err))
		case "load":
			l, err := m.Load(ctx, dests)
			got = fmt.Sprint(l, " ", errText(err))
		case "reset":
			n, err := m.Reset(ctx, s.arg)
			got = fmt.Sprint(n, " ", errText(err))
		case "drain":
			got = errText(m.Drain(ctx, s.arg))
		case "undrain":
			got = errText(m.Undrain(ctx, s.arg))
		case "away":
			got = errText(m.Away(ctx, s.arg))
		case "rejoin":
			got = errText(m.Rejoin(ctx, s.arg))
		case "unanswered":
			ok, err := m.Unanswered(ctx, s.arg, s.call)
			got = fmt.Sprint(ok, " ", errText(err))
		case "score": // the snapshot's score, unanswered offers in a row, back-off end after t0
			d := lbtest.DestOf(lbtest.MustSnapshot(t, m), s.arg)
			if d == nil {
				got = "unknown"
				break
			}
			back := time.Duration(0)
			if !d.BackoffUntil.IsZero() {
				back = d.BackoffUntil.Sub(t0)
			}
			got = fmt.Sprintf("%.3g %d %v", d.Score, d.Unanswered, back)
		case "out": // whether the snapshot says it is left out for missed offers
			d := lbtest.DestOf(lbtest.MustSnapshot(t, m), s.arg)
			got = fmt.Sprint(d != nil && d.Out)
		case "answered":
			ok, err := m.Answered(ctx, s.arg, s.call)
			got = fmt.Sprint(ok, " ", errText(err))
		case "talk": // a whole answered call, in one step
			_, err := m.Acquire(ctx, s.arg, s.call)
			if err == nil {
				_, err = m.Answered(ctx, s.arg, s.call)
			}
			if err == nil {
				_, err = m.Release(ctx, s.arg, s.call)
			}
			got = errText(err)
		default:
			t.Fatalf("step %d: unknown op %q", i, s.op)
		}
		got = strings.TrimSpace(got)
		if got != s.want {
			t.Fatalf("step %d (%v %s %s %s): got %q, want %q", i, s.at, s.op, s.arg, s.call, got, s.want)
		}
	}
}

// errText names the sentinel an error wraps, so tables stay short.
func errText(err error) string {
	for _, e := range []error{lb.ErrNoDestinations, lb.ErrAtCapacity, lb.ErrDrained, lb.ErrInvalidArgument, lb.ErrClosed, lb.ErrBackend} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return ""
}

// TestMemoryFewestFades: answered counts halve every half-life, so the
// ranking describes the recent shift.
func TestMemoryFewestFades(t *testing.T) {
	m, clk := newFakeMemory(t, lb.Options{HalfLife: time.Hour})
	h := time.Hour
	runSteps(t, m, clk, []memStep{
		{0, "talk", "a", "1", ""},
		{0, "talk", "a", "2", ""},
		{0, "talk", "a", "3", ""},
		{0, "talk", "a", "4", ""},
		{1 * h, "talk", "b", "5", ""},
		{1 * h, "talk", "b", "6", ""},
		// At 1 h: a weighs 2 (4 halved), b 2 but answered later: a first.
		{1*h + time.Second, "order", "b,a", "", "[a b]"},
		{2 * h, "talk", "b", "7", ""},
		// At 3 h: a 0.5, b 0.5 + 1 = 1.5 (two at 1 h, one at 2 h).
		{3 * h, "order", "b,a", "", "[a b]"},
		{3 * h, "talk", "a", "8", ""},
		{3 * h, "talk", "a", "9", ""},
		// a 2.5 now, b 1.5.
		{3 * h, "order", "a,b", "", "[b a]"},
		// Never faded: counts stay raw.
	})
	raw, clk2 := newFakeMemory(t, lb.Options{HalfLife: -1})
	runSteps(t, raw, clk2, []memStep{
		{0, "talk", "a", "1", ""},
		{0, "talk", "a", "2", ""},
		{100 * h, "talk", "b", "3", ""},
		{100 * h, "order", "a,b", "", "[b a]"},
	})
}

// TestMemoryFewestSteps: ties go to the fewest answered calls, then lru;
// load comes first; a member first chosen mid-shift starts level with the
// least busy of its group.
func TestMemoryFewestSteps(t *testing.T) {
	m, clk := newFakeMemory(t, lb.Options{HalfLife: -1, StartWindow: -1})
	s := time.Second
	runSteps(t, m, clk, []memStep{
		{0, "talk", "a", "1", ""},
		{1 * s, "talk", "a", "2", ""},
		{2 * s, "talk", "b", "3", ""},
		{3 * s, "order", "a,b", "", "[b a]"},    // b answered fewer
		{3 * s, "acquire", "b", "busy", "true"}, // load first
		{3 * s, "order", "a,b", "", "[a b]"},
		{4 * s, "release", "b", "busy", "true"}, // rang, never answered: no count
		{4 * s, "order", "a,b", "", "[b a]"},
		{5 * s, "talk", "b", "4", ""}, // 2 each: lru, a's last call is older
		{5 * s, "order", "b,a", "", "[a b]"},
		// c joins: it ranks level with the least answered (2), and comes
		// first as never used; once chosen it keeps that level.
		{6 * s, "next", "a,b,c", "5", "c"},
		{6 * s, "answered", "c", "5", "true"},
		{7 * s, "release", "c", "5", "true"},
		{7 * s, "order", "c,b,a", "", "[a b c]"}, // c has 3, a and b 2
	})
}

// TestMemoryWrapupWindow: a member is left out from the end of an answered
// call until its wrap-up has passed, exactly.
func TestMemoryWrapupWindow(t *testing.T) {
	m, clk := newFakeMemory(t, lb.Options{Tie: lb.TieList, DefaultWrapup: 30 * time.Second,
		Wrapup: map[string]time.Duration{"b": 5 * time.Second}})
	s := time.Second
	runSteps(t, m, clk, []memStep{
		{0, "acquire", "a", "c1", "true"},
		{0, "answered", "a", "c1", "true"},
		{0, "answered", "a", "c1", "false"},
		{10 * s, "release", "a", "c1", "true"},
		{10 * s, "order", "a,b", "", "[b]"},
		{10 * s, "talk", "b", "c2", ""},
		{10 * s, "next", "a,b", "c3", atCapacity},
		{15 * s, "order", "a,b", "", "[b]"},
		{40*s - 1, "order", "a,b", "", "[b]"},
		{40 * s, "order", "a,b", "", "[a b]"},
		// A ring never answered leaves no wrap-up.
		{41 * s, "acquire", "a", "c4", "true"},
		{42 * s, "release", "a", "c4", "true"},
		{42 * s, "next", "a,b", "c5", "a"},
	})
}

func TestMemoryHoldExpiry(t *testing.T) {
	m, clk := newFakeMemory(t, lb.Options{Tie: lb.TieList, MaxHoldAge: 10 * time.Second, DefaultCapacity: 2})
	runSteps(t, m, clk, []memStep{
		{0, "acquire", "a", "c1", "true"},
		{5 * time.Second, "acquire", "a", "c2", "true"},
		{5 * time.Second, "next", "a,b", "c3", "b"},
		{9999 * time.Millisecond, "load", "a,b", "", "[2 1]"},
		{9999 * time.Millisecond, "acquire", "a", "c4", "false " + atCapacity},
		// A hold expires when its age reaches MaxHoldAge, not after.
		{10 * time.Second, "load", "a,b", "", "[1 1]"},
		{10 * time.Second, "acquire", "a", "c4", "true"},
		// c1 lost its hold, so Next holds anew instead of returning a.
		{11 * time.Second, "next", "a,b", "c1", "b"},
		{11 * time.Second, "order", "a,b", "", "[]"},
		{15 * time.Second, "order", "a,b", "", "[a b]"},
		{15 * time.Second, "next", "b,a", "c2", "b"},
		{25 * time.Second, "load", "a,b", "", "[0 0]"},
	})
}

// TestMemoryReleaseAfterExpiry pins a bug: Release and Reset counted a hold
// that had outlived MaxHoldAge, which Load no longer counted (and the
// Redis backend had already reaped), so Release reported true for a hold
// that no longer existed.
func TestMemoryReleaseAfterExpiry(t *testing.T) {
	m, clk := newFakeMemory(t, lb.Options{MaxHoldAge: 10 * time.Second})
	runSteps(t, m, clk, []memStep{
		{0, "acquire", "a", "c1", "true"},
		{0, "acquire", "a", "c2", "true"},
		{1 * time.Second, "acquire", "a", "c3", "true"},
		{10 * time.Second, "release", "a", "c1", "false"},
		{10 * time.Second, "reset", "a", "", "1"},
		{10 * time.Second, "load", "a", "", "[0]"},
		{10 * time.Second, "release", "a", "c3", "false"},
	})
}

func TestMemoryNeverExpires(t *testing.T) {
	m, clk := newFakeMemory(t, lb.Options{MaxHoldAge: -1})
	runSteps(t, m, clk, []memStep{
		{0, "acquire", "a", "c1", "true"},
		{1000 * time.Hour, "load", "a", "", "[1]"},
		{1000 * time.Hour, "release", "a", "c1", "true"},
	})
	clk.Set(t0)
	s, err := m.Snapshot(context.Background())
	if err != nil || len(s.Holds) != 0 {
		t.Fatalf("snapshot = %+v, %v", s, err)
	}
}

func TestMemoryLRUWithClock(t *testing.T) {
	// lru ranks by the order holds started, whatever the clock says: two
	// holds in the same nanosecond still take turns.
	m, clk := newFakeMemory(t, lb.Options{})
	runSteps(t, m, clk, []memStep{
		{0, "next", "a,b,c", "c1", "a"},
		{0, "release", "a", "c1", "true"},
		{0, "next", "a,b,c", "c2", "b"},
		{0, "release", "b", "c2", "true"},
		{0, "order", "a,b,c", "", "[c a b]"},
		{time.Second, "next", "a,b,c", "c3", "c"},
		{time.Second, "next", "a,b,c", "c4", "a"},
		{time.Second, "order", "c,b,a", "", "[b c a]"},
	})
}

func TestMemorySnapshotTimes(t *testing.T) {
	m, clk := newFakeMemory(t, lb.Options{MaxHoldAge: time.Hour})
	ctx := context.Background()
	if _, err := m.Acquire(ctx, "a", "c1"); err != nil {
		t.Fatal(err)
	}
	clk.Set(t0.Add(time.Minute))
	if _, err := m.Next(ctx, []string{"a", "b"}, "c2"); err != nil {
		t.Fatal(err)
	}
	clk.Set(t0.Add(2 * time.Minute))
	s, err := m.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Holds) != 2 || s.Backend != "memory" || s.Name != t.Name() {
		t.Fatalf("snapshot = %+v", s)
	}
	h := s.Holds[0]
	if h.Dest != "a" || h.CallID != "c1" || h.Node != "local" || !h.Start.Equal(t0) || !h.Expires.Equal(t0.Add(time.Hour)) {
		t.Fatalf("hold = %+v", h)
	}
	b := lbtest.DestOf(s, "b")
	if b == nil || !b.LastHold.Equal(t0.Add(time.Minute)) || b.Started != 1 || b.Active != 1 {
		t.Fatalf("b = %+v", b)
	}
	clk.Set(t0.Add(time.Hour))
	s, _ = m.Snapshot(ctx)
	if len(s.Holds) != 1 || s.Holds[0].CallID != "c2" {
		t.Fatalf("after an hour, holds = %+v", s.Holds)
	}
}

// TestMemoryKeepsCopies checks that strings kept beyond a call do not alias
// the caller's memory, which the C ABI frees after the call.
func TestMemoryKeepsCopies(t *testing.T) {
	// Regression: Answered stored the caller's call id as the map key (a
	// map assignment replaces a string key), so the tracker's holds in
	// FreeSWITCH turned to garbage and were never released.
	ops := map[string]func(m *lb.Memory, dest, callID string) error{
		"acquire+answered": func(m *lb.Memory, dest, callID string) error {
			if _, err := m.Acquire(context.Background(), dest, callID); err != nil {
				return err
			}
			_, err := m.Answered(context.Background(), dest, callID)
			return err
		},
		"count+answered": func(m *lb.Memory, dest, callID string) error {
			if _, err := m.Count(context.Background(), dest, callID); err != nil {
				return err
			}
			_, err := m.Answered(context.Background(), dest, callID)
			return err
		},
		"next": func(m *lb.Memory, dest, callID string) error {
			_, err := m.Next(context.Background(), []string{dest}, callID)
			return err
		},
	}
	for name, op := range ops {
		m, _ := newFakeMemory(t, lb.Options{})
		buf := []byte("dest-1")
		call := []byte("call-1")
		dest := unsafe.String(&buf[0], len(buf))
		callID := unsafe.String(&call[0], len(call))
		if err := op(m, dest, callID); err != nil {
			t.Fatal(err)
		}
		copy(buf, "XXXXXX")
		copy(call, "YYYYYY")
		s := lbtest.MustSnapshot(t, m)
		if len(s.Holds) != 1 || s.Holds[0].Dest != "dest-1" || s.Holds[0].CallID != "call-1" {
			t.Fatalf("%s: holds after the caller reused its memory = %+v", name, s.Holds)
		}
		lbtest.MustRelease(t, m, "dest-1", "call-1", true)
	}
}

// TestMemoryStress runs many goroutines of Next and Release under -race:
// no destination ever holds more than its capacity, and all loads end at 0.
func TestMemoryStress(t *testing.T) {
	m, err := lb.NewMemory("stress", lb.Options{DefaultCapacity: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	lbtest.Stress(t, m, 32, 400)
}

// Regression: the memory backend kept state for every destination string it
// ever saw (300,000 dynamic numbers: 133 MB). Idle destinations beyond
// MaxIdle are forgotten, the one idle longest first; held and drained ones
// never are, and a forgotten one ranks as never used, where lru puts the
// one idle longest anyway.
func TestMemoryForgetsIdleDestinations(t *testing.T) {
	m, clk := newFakeMemory(t, lb.Options{Tie: lb.TieLRU, MaxIdle: 2})
	ctx := context.Background()
	runSteps(t, m, clk, []memStep{
		{0, "next", "a,b,c,d", "c1", "a"},
		{0, "release", "a", "c1", "true"},
		{0, "next", "a,b,c,d", "c2", "b"},
		{0, "release", "b", "c2", "true"},
		{0, "next", "a,b,c,d", "c3", "c"},
		{0, "release", "c", "c3", "true"},
	})
	if got := lb.Known(m); got != "b,c" {
		t.Fatalf("known = %q, want b,c (a idle longest, forgotten)", got)
	}
	runSteps(t, m, clk, []memStep{
		{0, "order", "c,b,a", "", "[a b c]"}, // a: as never used; then b, c by their last hold
		{0, "acquire", "x", "held", "true"},
		{0, "drain", "y", "", ""},
		{0, "next", "p", "c4", "p"},
		{0, "release", "p", "c4", "true"},
		{0, "next", "q", "c5", "q"},
		{0, "release", "q", "c5", "true"},
	})
	if got := lb.Known(m); got != "p,q,x,y" {
		t.Fatalf("known = %q, want p,q (idle, newest) and x (held), y (drained)", got)
	}
	if err := m.Undrain(ctx, "y"); err != nil {
		t.Fatal(err)
	}
	if got := lb.Known(m); got != "q,x,y" {
		t.Fatalf("known = %q after undrain: want y newest idle, p forgotten", got)
	}
	// Expiry makes a destination idle too.
	m2, clk2 := newFakeMemory(t, lb.Options{MaxIdle: 1, MaxHoldAge: time.Minute})
	runSteps(t, m2, clk2, []memStep{
		{0, "acquire", "a", "c1", "true"},
		{0, "acquire", "b", "c2", "true"},
		{2 * time.Minute, "load", "a,b", "", "[0 0]"},
	})
	if got := lb.Known(m2); got != "b" && got != "a" {
		t.Fatalf("known = %q, want one of a, b", got)
	}
}

func TestMemorySnapshotIsConsistentWhileSliced(t *testing.T) {
	m, _ := newFakeMemory(t, lb.Options{})
	ctx := context.Background()
	const n = 3*lb.SnapshotSlice + 7
	for i := 0; i < n; i++ {
		lbtest.MustAcquire(t, m, fmt.Sprintf("d%05d", i), "c")
	}
	s := lbtest.MustSnapshot(t, m)
	if len(s.Destinations) != n || len(s.Holds) != n {
		t.Fatalf("snapshot has %d destinations and %d holds, want %d each", len(s.Destinations), len(s.Holds), n)
	}
	// Calls get in while it runs: no deadlock, all consistent afterwards.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 20; i++ {
			if _, err := m.Snapshot(ctx); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := 0; i < 2000; i++ {
		d := fmt.Sprintf("e%d", i%50)
		lbtest.MustAcquire(t, m, d, "x")
		lbtest.MustRelease(t, m, d, "x", true)
	}
	<-done
}

// TestMemoryStartWindow: members first ranked in the balancer's first
// hour start at zero, scored when first ranked (by Order too, not only
// when chosen); a member first ranked later starts level with the lowest
// score of those it is ranked with, so it does not take every tie until
// it has caught up.
func TestMemoryStartWindow(t *testing.T) {
	m, clk := newFakeMemory(t, lb.Options{HalfLife: -1})
	min, h := time.Minute, time.Hour
	runSteps(t, m, clk, []memStep{
		{0, "talk", "a", "1", ""},
		{0, "talk", "a", "2", ""},
		{0, "order", "a", "", "[a]"}, // the balancer's first ranking: its hour starts
		{10 * min, "order", "a,b", "", "[b a]"},
		{10 * min, "score", "b", "", "0 0 0s"}, // ranked, never chosen: scored at zero
		{59 * min, "order", "a,b,e", "", "[b e a]"},
		{59 * min, "score", "e", "", "0 0 0s"},
		{2 * h, "talk", "b", "3", ""},
		{2 * h, "talk", "b", "4", ""},
		// c, first ranked after the hour, starts at the lowest of a, b, e:
		// e's 0, which e keeps from its first ranking.
		{2 * h, "order", "a,b,c", "", "[c a b]"}, // c 2 (lowest of a 2, b 2), never used; then lru
		{2 * h, "score", "c", "", "2 0 0s"},
		{2 * h, "next", "a,b,e", "5", "e"},
		{2 * h, "score", "e", "", "0 0 0s"},
	})
	// Without a window every member starts at the lowest.
	m2, clk2 := newFakeMemory(t, lb.Options{HalfLife: -1, StartWindow: -1})
	runSteps(t, m2, clk2, []memStep{
		{0, "talk", "a", "1", ""},
		{0, "talk", "a", "2", ""},
		{0, "order", "a,b", "", "[b a]"}, // b never used: first on lru
		{0, "score", "b", "", "2 0 0s"},
	})
}

// TestMemoryRejoinLiftsToMean: a member back from an absence (undrain,
// rejoin, or its first call after Away) is lifted at its next ranking to
// the mean score of the members it is ranked with, never lowered.
func TestMemoryRejoinLiftsToMean(t *testing.T) {
	m, clk := newFakeMemory(t, lb.Options{HalfLife: -1, StartWindow: -1})
	s := time.Second
	runSteps(t, m, clk, []memStep{
		{0, "order", "c", "", "[c]"}, // scored at 0
		{0, "order", "d", "", "[d]"},
		{0, "order", "e", "", "[e]"},
		{1 * s, "talk", "a", "1", ""},
		{1 * s, "talk", "a", "2", ""},
		{1 * s, "talk", "a", "3", ""},
		{1 * s, "talk", "a", "4", ""},
		{1 * s, "talk", "b", "5", ""},
		{1 * s, "talk", "b", "6", ""},
		// Undrain: c rejoins at the mean of a (4) and b (2).
		{2 * s, "drain", "c", "", ""},
		{2 * s, "undrain", "c", "", ""},
		{3 * s, "order", "a,b,c", "", "[b c a]"},
		{3 * s, "score", "c", "", "3 0 0s"},
		// Once lifted it stays: no second lift.
		{4 * s, "order", "a,b,c", "", "[b c a]"},
		// Rejoin: the same, on request; never drained needed.
		{5 * s, "rejoin", "d", "", ""},
		{5 * s, "order", "a,b,d", "", "[b d a]"},
		{5 * s, "score", "d", "", "3 0 0s"},
		// Away: nothing until its next call shows it back.
		{6 * s, "away", "e", "", ""},
		{6 * s, "order", "a,b,e", "", "[e b a]"},
		{7 * s, "talk", "e", "7", ""}, // back: 1
		{8 * s, "order", "a,b,e", "", "[b e a]"},
		{8 * s, "score", "e", "", "3 0 0s"},
		// Never lowered: a, above the mean, rejoins where it was.
		{9 * s, "rejoin", "a", "", ""},
		{9 * s, "order", "a,b", "", "[b a]"},
		{9 * s, "score", "a", "", "4 0 0s"},
		{9 * s, "rejoin", "bad\tname", "", "invalid argument"},
	})
}

// TestMemoryNoAnswerBackoff: an offer that rang out puts its member after
// its equally loaded peers for the back-off, doubling with each one in a
// row, capped, and reset by an answer; load still comes first, and a
// release (the caller gone, a busy reject) costs nothing.
func TestMemoryNoAnswerBackoff(t *testing.T) {
	m, clk := newFakeMemory(t, lb.Options{Tie: lb.TieList, NoAnswerBackoff: 30 * time.Second})
	s := time.Second
	runSteps(t, m, clk, []memStep{
		{0, "next", "a,b,c", "1", "a"},
		{1 * s, "unanswered", "a", "1", "true"},
		{1 * s, "score", "a", "", "0 1 31s"},
		{2 * s, "order", "a,b,c", "", "[b c a]"},
		{2 * s, "acquire", "b", "x", "true"},
		{2 * s, "order", "a,b,c", "", "[c a b]"}, // load first
		{2 * s, "release", "b", "x", "true"},
		{31*s - 1, "order", "a,b,c", "", "[b c a]"},
		{31 * s, "order", "a,b,c", "", "[a b c]"},
		// A second one in a row: 60 s.
		{40 * s, "next", "a,b,c", "2", "a"},
		{40 * s, "unanswered", "a", "2", "true"},
		{100*s - 1, "order", "a,b,c", "", "[b c a]"},
		{100 * s, "order", "a,b,c", "", "[a b c]"},
		// A release that is not a no-answer leaves it as it was.
		{100 * s, "next", "a,b,c", "3", "a"},
		{100 * s, "release", "a", "3", "true"},
		{100 * s, "score", "a", "", "0 2 0s"}, // over: the snapshot shows none
		// An answer resets it.
		{101 * s, "talk", "a", "4", ""},
		{101 * s, "score", "a", "", "1 0 0s"}, // list ties still keep the answered score
		{102 * s, "next", "a,b,c", "5", "a"},
		{102 * s, "unanswered", "a", "5", "true"},
		{102 * s, "score", "a", "", "1 1 2m12s"},
		// Not held: nothing to count.
		{103 * s, "unanswered", "a", "5", "false"},
		{103 * s, "unanswered", "a", "bad\tcall", "false invalid argument"},
		// An answered hold that ends is no unanswered offer.
		{104 * s, "acquire", "b", "6", "true"},
		{104 * s, "answered", "b", "6", "true"},
		{105 * s, "unanswered", "b", "6", "true"},
		{105 * s, "score", "b", "", "1 0 0s"},
	})
	// Capped at 2^6 times: the ninth in a row backs off 32 min.
	m2, clk2 := newFakeMemory(t, lb.Options{Tie: lb.TieList})
	runSteps(t, m2, clk2, append(ringOuts("a", 9), memStep{0, "score", "a", "", "0 9 32m0s"}))
	// Negative: none.
	m3, clk3 := newFakeMemory(t, lb.Options{Tie: lb.TieList, NoAnswerBackoff: -1})
	runSteps(t, m3, clk3, []memStep{
		{0, "next", "a,b", "1", "a"},
		{0, "unanswered", "a", "1", "true"},
		{0, "order", "a,b", "", "[a b]"},
		{0, "score", "a", "", "0 1 0s"},
	})
}

// TestMemoryMaxNoAnswer: a member that left MaxNoAnswer offers in a row
// unanswered is not offered while its back-off runs, even when nobody else
// can take the call; when the back-off ends it is tried once more, and a
// miss leaves it out for twice as long. A call that holds it keeps it; an
// answer, a rejoin or an undrain makes it a member like the others.
func TestMemoryMaxNoAnswer(t *testing.T) {
	m, clk := newFakeMemory(t, lb.Options{Tie: lb.TieList, NoAnswerBackoff: 30 * time.Second,
		MaxNoAnswer: 2, DefaultCapacity: 1})
	s := time.Second
	runSteps(t, m, clk, []memStep{
		{0, "next", "a,b,c", "1", "a"},
		{0, "unanswered", "a", "1", "true"},
		{0, "order", "a,b,c", "", "[b c a]"}, // one miss: after its peers
		{0, "out", "a", "", "false"},
		{1 * s, "acquire", "a", "2", "true"},
		{1 * s, "unanswered", "a", "2", "true"}, // two in a row: out for 60 s
		{1 * s, "score", "a", "", "0 2 1m1s"},
		{1 * s, "out", "a", "", "true"},
		{2 * s, "order", "a,b,c", "", "[b c]"},
		{2 * s, "acquire", "b", "x", "true"},
		{2 * s, "acquire", "c", "y", "true"},
		{3 * s, "next", "a,b,c", "3", atCapacity}, // a is out
		{3 * s, "load", "a,b,c", "", "[0 1 1]"},
		// A call that holds it already gets it again, as Next says (the
		// held-elsewhere case is lbtest's OutForNoAnswerKeptByTheCallHoldingIt).
		{3 * s, "acquire", "a", "4", "true"},
		{3 * s, "next", "a,b,c", "4", "a"},
		{3 * s, "release", "a", "4", "true"},
		{61*s - 1, "next", "a,b,c", "5", atCapacity},
		// The back-off over, one more try; it misses: out for 120 s.
		{61 * s, "out", "a", "", "false"},
		{61 * s, "next", "a,b,c", "5", "a"},
		{62 * s, "unanswered", "a", "5", "true"},
		{62 * s, "score", "a", "", "0 3 3m2s"},
		{62 * s, "order", "a,b,c", "", "[]"},
		// Rejoin: back at once.
		{63 * s, "rejoin", "a", "", ""},
		{63 * s, "out", "a", "", "false"},
		{63 * s, "score", "a", "", "0 0 0s"},
		{63 * s, "order", "a,b,c", "", "[a]"},
		{64 * s, "release", "b", "x", "true"},
		{64 * s, "release", "c", "y", "true"},
		// Out again, then undrained: back as well.
		{65 * s, "acquire", "a", "6", "true"},
		{65 * s, "unanswered", "a", "6", "true"},
		{65 * s, "acquire", "a", "7", "true"},
		{65 * s, "unanswered", "a", "7", "true"},
		{65 * s, "order", "a,b,c", "", "[b c]"},
		{66 * s, "drain", "a", "", ""},
		{66 * s, "undrain", "a", "", ""},
		{66 * s, "order", "a,b,c", "", "[a b c]"},
		// And answering ends it.
		{67 * s, "acquire", "b", "8", "true"},
		{67 * s, "unanswered", "b", "8", "true"},
		{67 * s, "acquire", "b", "9", "true"},
		{67 * s, "unanswered", "b", "9", "true"},
		{67 * s, "order", "a,b,c", "", "[a c]"},
		{68 * s, "talk", "b", "10", ""},
		{68 * s, "order", "a,b,c", "", "[a b c]"},
	})
	// Never: a member that keeps missing is still offered, after its peers.
	m2, clk2 := newFakeMemory(t, lb.Options{Tie: lb.TieList, MaxNoAnswer: -1})
	runSteps(t, m2, clk2, append(ringOuts("a", 5),
		memStep{0, "order", "a,b", "", "[b a]"}, memStep{0, "out", "a", "", "false"}))
	// The default is three.
	m3, clk3 := newFakeMemory(t, lb.Options{Tie: lb.TieList})
	runSteps(t, m3, clk3, append(ringOuts("a", 2), memStep{0, "order", "a,b", "", "[b a]"},
		memStep{0, "acquire", "a", "c2", "true"}, memStep{0, "unanswered", "a", "c2", "true"},
		memStep{0, "order", "a,b", "", "[b]"}))
}

// A no-answer back-off of 1.4e8 s or more, doubled 64 times, overflowed
// the memory backend's clock while Redis kept it: the limit is lb's, for
// the Go API as for the text form.
func TestMemoryRefusesBackoffBeyondTheLimit(t *testing.T) {
	for _, b := range []time.Duration{lb.MaxNoAnswerBackoff + time.Second, 200_000_000 * time.Second} {
		if _, err := lb.NewMemory(t.Name(), lb.Options{NoAnswerBackoff: b}); !errors.Is(err, lb.ErrInvalidArgument) {
			t.Errorf("NoAnswerBackoff %v: err = %v, want ErrInvalidArgument", b, err)
		}
	}
	m, clk := newFakeMemory(t, lb.Options{Tie: lb.TieList, NoAnswerBackoff: lb.MaxNoAnswerBackoff})
	runSteps(t, m, clk, append(ringOuts("a", 9), memStep{0, "score", "a", "", "0 9 64h0m0s"}))
}

// ringOuts returns the steps of n offers to dest in a row that ring out.
func ringOuts(dest string, n int) []memStep {
	var steps []memStep
	for i := range n {
		call := fmt.Sprint("c", i)
		steps = append(steps, memStep{0, "acquire", dest, call, "true"}, memStep{0, "unanswered", dest, call, "true"})
	}
	return steps
}

// TestMemoryTalkTie: talk ties rank by talk time (hold start to release of
// answered calls, faded), not by calls.
func TestMemoryTalkTie(t *testing.T) {
	m, clk := newFakeMemory(t, lb.Options{Tie: lb.TieTalk, HalfLife: time.Hour, StartWindow: -1})
	s := time.Second
	runSteps(t, m, clk, []memStep{
		{0, "order", "a,b", "", "[a b]"},
		{0, "acquire", "a", "1", "true"},
		{2 * s, "answered", "a", "1", "true"},
		{300 * s, "release", "a", "1", "true"}, // 300 s
		{300 * s, "score", "a", "", "300 0 0s"},
		{300 * s, "acquire", "b", "2", "true"},
		{300 * s, "answered", "b", "2", "true"},
		{360 * s, "release", "b", "2", "true"},
		{360 * s, "acquire", "b", "3", "true"},
		{360 * s, "answered", "b", "3", "true"},
		{420 * s, "release", "b", "3", "true"}, // 120 s in two calls
		{420 * s, "order", "a,b", "", "[b a]"},
		// A call in progress adds nothing until it ends; a ring never
		// answered adds nothing.
		{420 * s, "acquire", "b", "4", "true"},
		{420 * s, "release", "b", "4", "true"},
		{3600*s + 300*s, "score", "a", "", "150 0 0s"}, // an hour later: halved
	})
}

// A talk call over which the wall clock stepped back by more than the call
// lasted added a negative talk time: the score became NaN, which spread to
// the members started at the lowest score and broke the snapshot's JSON.
func TestMemoryTalkTieClockStepsBack(t *testing.T) {
	m, clk := newFakeMemory(t, lb.Options{Tie: lb.TieTalk, HalfLife: time.Hour, StartWindow: -1})
	s := time.Second
	runSteps(t, m, clk, []memStep{
		{100 * s, "acquire", "a", "1", "true"},
		{100 * s, "answered", "a", "1", "true"},
		{40 * s, "release", "a", "1", "true"}, // the clock went back 60 s
		{40 * s, "score", "a", "", "0 0 0s"},
		{40 * s, "order", "a,b,c", "", "[b c a]"}, // a tie at zero: least recent first
		{40 * s, "score", "b", "", "0 0 0s"},
		{40 * s, "acquire", "a", "2", "true"},
		{40 * s, "answered", "a", "2", "true"},
		{50 * s, "release", "a", "2", "true"},
		{50 * s, "score", "a", "", "10 0 0s"},
	})
	snap := lbtest.MustSnapshot(t, m)
	if _, err := json.Marshal(snap); err != nil {
		t.Fatalf("snapshot does not marshal: %v", err)
	}
}

// Ranking scores the members it has never seen (fewest ties score them
// when first ranked): their state is bounded by MaxIdle like any other.
func TestMemoryRankingStateIsBounded(t *testing.T) {
	m, clk := newFakeMemory(t, lb.Options{MaxIdle: 5})
	for i := range 20 {
		dests := make([]string, 10)
		for j := range dests {
			dests[j] = fmt.Sprintf("sofia/gateway/gw/+1555%04d", 10*i+j)
		}
		runSteps(t, m, clk, []memStep{{0, "order", strings.Join(dests, ","), "", fmt.Sprint(dests)}})
	}
	if n := len(strings.Split(lb.Known(m), ",")); n > 5 {
		t.Fatalf("%d destinations known after ranking 200, want at most MaxIdle (5)", n)
	}
}
