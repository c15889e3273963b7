package lb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// testConformance runs the behaviour every Balancer must share against the
// balancers open returns. open must apply opts (plus whatever its backend
// needs, such as a URL), give each call a fresh, empty balancer, and close
// it when the test ends.
func testConformance(t *testing.T, open func(t *testing.T, opts Options) Balancer) {
	ctx := context.Background()

	t.Run("OrderByLoad", func(t *testing.T) {
		b := open(t, Options{Tie: TieList})
		mustAcquire(t, b, "a", "a1")
		mustAcquire(t, b, "a", "a2")
		mustAcquire(t, b, "b", "b1")
		wantOrder(t, b, []string{"a", "b", "c"}, []string{"c", "b", "a"})
		wantLoad(t, b, []string{"a", "b", "c", "zzz"}, []int{2, 1, 0, 0})
		if got := mustNext(t, b, []string{"a", "b", "c"}, "n1"); got != "c" {
			t.Fatalf("Next = %q, want c", got)
		}
		if got := mustNext(t, b, []string{"a", "b"}, "n2"); got != "b" {
			t.Fatalf("Next = %q, want b", got)
		}
		wantLoad(t, b, []string{"a", "b", "c"}, []int{2, 2, 1})
	})

	t.Run("EmptyLists", func(t *testing.T) {
		b := open(t, Options{})
		got, err := b.Order(ctx, nil)
		if err != nil || got == nil || len(got) != 0 {
			t.Fatalf("Order(nil) = %#v, %v; want empty, nil", got, err)
		}
		loads, err := b.Load(ctx, []string{})
		if err != nil || loads == nil || len(loads) != 0 {
			t.Fatalf("Load([]) = %#v, %v; want empty, nil", loads, err)
		}
		if _, err := b.Next(ctx, nil, "c1"); !errors.Is(err, ErrNoDestinations) {
			t.Fatalf("Next(nil) err = %v, want ErrNoDestinations", err)
		}
	})

	t.Run("TieLRUTakesTurns", func(t *testing.T) {
		// Three idle agents and calls that never overlap: every agent must
		// get every third call (genesis gives them all to the first).
		b := open(t, Options{Tie: TieLRU})
		dests := []string{"a", "b", "c"}
		var got []string
		for i := range 9 {
			call := fmt.Sprintf("call%d", i)
			got = append(got, mustNext(t, b, dests, call))
			mustRelease(t, b, got[i], call, true)
		}
		want := []string{"a", "b", "c", "a", "b", "c", "a", "b", "c"}
		if !slices.Equal(got, want) {
			t.Fatalf("lru picks = %v, want %v", got, want)
		}
		// Never-used destinations come first, in list order; then the one
		// used longest ago.
		wantOrder(t, b, []string{"x", "c", "a", "y", "b"}, []string{"x", "y", "a", "b", "c"})
		// Load still comes before recency.
		mustAcquire(t, b, "a", "busy")
		wantOrder(t, b, dests, []string{"b", "c", "a"})
	})

	t.Run("AnsweredStates", func(t *testing.T) {
		b := open(t, Options{})
		mustAcquire(t, b, "a", "c1")
		mustAcquire(t, b, "a", "c2")
		if ok, err := b.Answered(ctx, "a", "c1"); !ok || err != nil {
			t.Fatalf("Answered = %v, %v; want true", ok, err)
		}
		for _, c := range []struct{ dest, call string }{{"a", "c1"}, {"a", "nope"}, {"zz", "c1"}} {
			if ok, err := b.Answered(ctx, c.dest, c.call); ok || err != nil {
				t.Fatalf("Answered(%s, %s) again or unheld = %v, %v; want false, nil", c.dest, c.call, ok, err)
			}
		}
		if _, err := b.Answered(ctx, "", "c1"); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("Answered(\"\") err = %v", err)
		}
		s := mustSnapshot(t, b)
		d := destOf(s, "a")
		if d == nil || d.Active != 2 || d.Ringing != 1 || d.Talking != 1 || d.Answered != 1 {
			t.Fatalf("a = %+v; want 2 active: 1 ringing, 1 talking, 1 answered", d)
		}
		states := map[string]string{}
		for _, h := range s.Holds {
			states[h.CallID] = h.State
		}
		if states["c1"] != StateTalking || states["c2"] != StateRinging {
			t.Fatalf("hold states = %v", states)
		}
		wantLoad(t, b, []string{"a"}, []int{2}) // both states count
		mustRelease(t, b, "a", "c1", true)
		d = destOf(mustSnapshot(t, b), "a")
		if d.Active != 1 || d.Ringing != 1 || d.Talking != 0 || d.Answered != 1 || d.Score <= 0 {
			t.Fatalf("after release a = %+v", d)
		}
	})

	t.Run("TieFewestAnswered", func(t *testing.T) {
		// Equally loaded: the one with fewer answered calls goes first,
		// whatever lru says; unanswered rings do not count.
		b := open(t, Options{Tie: TieFewest})
		dests := []string{"a", "b", "c"}
		answer := func(dest, call string) {
			t.Helper()
			mustAcquire(t, b, dest, call)
			if ok, err := b.Answered(ctx, dest, call); !ok || err != nil {
				t.Fatalf("Answered(%s) = %v, %v", dest, ok, err)
			}
			mustRelease(t, b, dest, call, true)
		}
		answer("a", "1")
		answer("a", "2")
		answer("a", "3")
		answer("b", "4")
		answer("b", "5")
		answer("c", "6") // most recent: last by lru, first by count
		for range 3 {
			mustAcquire(t, b, "c", "ring") // rang, never answered
			mustRelease(t, b, "c", "ring", true)
		}
		wantOrder(t, b, dests, []string{"c", "b", "a"})
		if got := mustNext(t, b, dests, "n1"); got != "c" {
			t.Fatalf("Next = %q, want c (fewest answered calls)", got)
		}
		// Load still comes first.
		wantOrder(t, b, dests, []string{"b", "a", "c"})
		// Equal counts fall back to lru: b's last call is older than c's.
		mustRelease(t, b, "c", "n1", true)
		answer("c", "7")
		wantOrder(t, b, dests, []string{"b", "c", "a"})
	})

	t.Run("TieFewestLateJoiner", func(t *testing.T) {
		// A member first seen mid-shift starts level with the least
		// answered of its group, not at zero: it takes its turn, then the
		// others get theirs.
		b := open(t, Options{Tie: TieFewest})
		for i, d := range []string{"a", "a", "a", "b", "b"} {
			call := fmt.Sprint("old", i)
			mustAcquire(t, b, d, call)
			b.Answered(ctx, d, call)
			mustRelease(t, b, d, call, true)
		}
		dests := []string{"a", "b", "new"}
		got := mustNext(t, b, dests, "j1")
		if got != "new" {
			t.Fatalf("Next = %q, want new (level with b, never used)", got)
		}
		b.Answered(ctx, got, "j1")
		mustRelease(t, b, got, "j1", true)
		if got := mustNext(t, b, dests, "j2"); got != "b" {
			t.Fatalf("Next = %q, want b: new joined at b's count and answered one since", got)
		}
	})

	t.Run("Wrapup", func(t *testing.T) {
		b := open(t, Options{Tie: TieList, DefaultWrapup: time.Hour, Wrapup: map[string]time.Duration{"q": 0}})
		dests := []string{"a", "b", "q"}
		for _, d := range dests {
			mustAcquire(t, b, d, "x")
		}
		b.Answered(ctx, "a", "x")
		b.Answered(ctx, "q", "x")
		for _, d := range dests {
			mustRelease(t, b, d, "x", true)
		}
		// a talked and is in wrap-up; b only rang; q has none.
		wantOrder(t, b, dests, []string{"b", "q"})
		if got := mustNext(t, b, []string{"a", "q"}, "n"); got != "q" {
			t.Fatalf("Next = %q, want q (a in wrap-up)", got)
		}
		if _, err := b.Next(ctx, []string{"a"}, "n2"); !errors.Is(err, ErrAtCapacity) {
			t.Fatalf("Next([a]) err = %v, want ErrAtCapacity while a wraps up", err)
		}
		// A direct call still counts: wrap-up is not load.
		mustAcquire(t, b, "a", "direct")
		wantLoad(t, b, []string{"a"}, []int{1})
		if d := destOf(mustSnapshot(t, b), "a"); d == nil || !d.WrapupUntil.After(time.Now().Add(50*time.Minute)) {
			t.Fatalf("a = %+v, want wrap-up shown about an hour ahead", d)
		}
	})

	t.Run("CountIgnoresDrainAndCapacity", func(t *testing.T) {
		b := open(t, Options{DefaultCapacity: 1})
		mustAcquire(t, b, "a", "ringlb")
		if err := b.Drain(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		// A call the switch reports exists: it counts even on a full,
		// drained member.
		if ok, err := b.Count(ctx, "a", "direct"); !ok || err != nil {
			t.Fatalf("Count = %v, %v; want true", ok, err)
		}
		if ok, err := b.Count(ctx, "a", "direct"); ok || err != nil {
			t.Fatalf("Count again = %v, %v; want false, nil", ok, err)
		}
		wantLoad(t, b, []string{"a"}, []int{2})
		if _, err := b.Count(ctx, "a", ""); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("Count with no call id err = %v", err)
		}
		mustRelease(t, b, "a", "direct", true)
		wantLoad(t, b, []string{"a"}, []int{1})
	})

	t.Run("UserDomains", func(t *testing.T) {
		b := open(t, Options{Tie: TieList, Capacity: map[string]int{"user/1001@example.com": 1}})
		mustAcquire(t, b, "user/1001@example.com", "c1")
		wantLoad(t, b, []string{"user/1001", "user/1001@other.org", "user/1002"}, []int{1, 1, 0})
		// Full under either name; the group's own spelling comes back.
		wantOrder(t, b, []string{"user/1001", "user/1002@example.com"}, []string{"user/1002@example.com"})
		if _, err := b.Acquire(ctx, "user/1001", "c2"); !errors.Is(err, ErrAtCapacity) {
			t.Fatalf("Acquire under the short name err = %v, want ErrAtCapacity", err)
		}
		if got := mustNext(t, b, []string{"user/1001@example.com", "user/1001", "user/1002@example.com"}, "c1"); got != "user/1001@example.com" {
			t.Fatalf("Next for the holding call = %q", got)
		}
		mustRelease(t, b, "user/1001", "c1", true)
		if d := destOf(mustSnapshot(t, b), "user/1001"); d == nil {
			t.Fatal("snapshot does not name the member user/1001")
		}
		keep := open(t, Options{UserDomains: DomainsKeep})
		mustAcquire(t, keep, "user/1001@example.com", "c1")
		wantLoad(t, keep, []string{"user/1001", "user/1001@example.com"}, []int{0, 1})
	})

	t.Run("TieList", func(t *testing.T) {
		b := open(t, Options{Tie: TieList})
		for i := range 5 {
			call := fmt.Sprintf("call%d", i)
			if got := mustNext(t, b, []string{"a", "b", "c"}, call); got != "a" {
				t.Fatalf("list tie pick %d = %q, want a", i, got)
			}
			mustRelease(t, b, "a", call, true)
		}
		wantOrder(t, b, []string{"c", "b", "a"}, []string{"c", "b", "a"})
	})

	t.Run("TieRandom", func(t *testing.T) {
		b := open(t, Options{Tie: TieRandom})
		dests := []string{"a", "b", "c", "d"}
		firsts := map[string]int{}
		for range 200 {
			got, err := b.Order(ctx, dests)
			if err != nil {
				t.Fatal(err)
			}
			if !isPermutation(got, dests) {
				t.Fatalf("Order = %v, not a permutation of %v", got, dests)
			}
			firsts[got[0]]++
		}
		picks := map[string]int{}
		for i := range 200 {
			call := fmt.Sprintf("call%d", i)
			d := mustNext(t, b, dests, call)
			picks[d]++
			mustRelease(t, b, d, call, true)
		}
		for _, d := range dests {
			// Each has probability 1/4; missing one in 200 tries is ~1e-25.
			if firsts[d] == 0 || picks[d] == 0 {
				t.Fatalf("random ties never put %q first: Order %v, Next %v", d, firsts, picks)
			}
		}
		// Load still wins over the random key.
		mustAcquire(t, b, "a", "x1")
		mustAcquire(t, b, "b", "x2")
		mustAcquire(t, b, "c", "x3")
		for i := range 10 {
			got, err := b.Order(ctx, dests)
			if err != nil || got[0] != "d" {
				t.Fatalf("Order %d = %v, %v; want d first", i, got, err)
			}
		}
	})

	t.Run("Capacity", func(t *testing.T) {
		b := open(t, Options{Tie: TieList, DefaultCapacity: 1, Capacity: map[string]int{"b": 2, "u": 0}})
		mustAcquire(t, b, "a", "c1")
		if ok, err := b.Acquire(ctx, "a", "c2"); ok || !errors.Is(err, ErrAtCapacity) {
			t.Fatalf("Acquire over capacity = %v, %v; want ErrAtCapacity", ok, err)
		}
		wantOrder(t, b, []string{"a", "b", "u"}, []string{"b", "u"})
		if got := mustNext(t, b, []string{"a", "b"}, "c3"); got != "b" {
			t.Fatalf("Next = %q, want b", got)
		}
		if got := mustNext(t, b, []string{"a", "b"}, "c4"); got != "b" {
			t.Fatalf("Next = %q, want b (capacity 2)", got)
		}
		if _, err := b.Next(ctx, []string{"a", "b"}, "c5"); !errors.Is(err, ErrAtCapacity) {
			t.Fatalf("Next on full dests err = %v, want ErrAtCapacity", err)
		}
		wantOrder(t, b, []string{"a", "b"}, []string{})
		// Capacity 0 overrides the default: unlimited.
		for i := range 5 {
			mustAcquire(t, b, "u", fmt.Sprintf("u%d", i))
		}
		wantLoad(t, b, []string{"a", "b", "u"}, []int{1, 2, 5})
		// A release frees the slot at once.
		mustRelease(t, b, "a", "c1", true)
		if got := mustNext(t, b, []string{"a", "b"}, "c6"); got != "a" {
			t.Fatalf("Next after release = %q, want a", got)
		}
	})

	t.Run("DrainUndrain", func(t *testing.T) {
		b := open(t, Options{Tie: TieList})
		mustAcquire(t, b, "b", "before")
		if err := b.Drain(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if err := b.Drain(ctx, "a"); err != nil { // idempotent
			t.Fatal(err)
		}
		wantOrder(t, b, []string{"a", "b", "c"}, []string{"c", "b"})
		for i := range 3 {
			call := fmt.Sprintf("n%d", i)
			if got := mustNext(t, b, []string{"a", "b"}, call); got != "b" {
				t.Fatalf("Next with a drained = %q, want b", got)
			}
		}
		if ok, err := b.Acquire(ctx, "a", "x"); ok || !errors.Is(err, ErrDrained) {
			t.Fatalf("Acquire drained = %v, %v; want ErrDrained", ok, err)
		}
		if _, err := b.Next(ctx, []string{"a"}, "x"); !errors.Is(err, ErrAtCapacity) {
			t.Fatalf("Next on only drained err = %v, want ErrAtCapacity", err)
		}
		// Draining b keeps its calls counted until they end.
		if err := b.Drain(ctx, "b"); err != nil {
			t.Fatal(err)
		}
		wantLoad(t, b, []string{"b"}, []int{4})
		s := mustSnapshot(t, b)
		if st := destOf(s, "a"); st == nil || !st.Drained {
			t.Fatalf("snapshot of a = %+v, want drained", st)
		}
		if err := b.Undrain(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if err := b.Undrain(ctx, "never-drained"); err != nil {
			t.Fatal(err)
		}
		wantOrder(t, b, []string{"a", "b", "c"}, []string{"a", "c"})
		mustAcquire(t, b, "a", "x")
		if st := destOf(mustSnapshot(t, b), "a"); st == nil || st.Drained {
			t.Fatalf("snapshot of a = %+v, want undrained", st)
		}
	})

	t.Run("Reset", func(t *testing.T) {
		b := open(t, Options{})
		for i := range 3 {
			mustAcquire(t, b, "a", fmt.Sprintf("c%d", i))
		}
		mustAcquire(t, b, "ab", "c0") // a prefix of another dest is a different dest
		mustAcquire(t, b, "b", "c0")
		if n, err := b.Reset(ctx, "a"); n != 3 || err != nil {
			t.Fatalf("Reset = %d, %v; want 3", n, err)
		}
		wantLoad(t, b, []string{"a", "ab", "b"}, []int{0, 1, 1})
		if n, err := b.Reset(ctx, "a"); n != 0 || err != nil {
			t.Fatalf("Reset again = %d, %v; want 0", n, err)
		}
		if n, err := b.Reset(ctx, "unknown"); n != 0 || err != nil {
			t.Fatalf("Reset unknown = %d, %v; want 0", n, err)
		}
		mustRelease(t, b, "a", "c1", false)
		wantLoad(t, b, []string{"a"}, []int{0})
		mustAcquire(t, b, "a", "c1") // the call may hold again
	})

	t.Run("Snapshot", func(t *testing.T) {
		b := open(t, Options{Capacity: map[string]int{"a": 3, "opt-only": 1}})
		before := time.Now().Add(-2 * time.Second)
		mustAcquire(t, b, "a", "c1")
		mustAcquire(t, b, "a", "c2")
		mustAcquire(t, b, "b", "c3")
		mustRelease(t, b, "b", "c3", true)
		s := mustSnapshot(t, b)
		if s.Backend == "" || s.Destinations == nil || s.Holds == nil {
			t.Fatalf("snapshot = %+v: want backend and non-nil lists", s)
		}
		a, bb, opt := destOf(s, "a"), destOf(s, "b"), destOf(s, "opt-only")
		if a == nil || a.Active != 2 || a.Capacity != 3 || a.Started != 2 || a.LastHold.Before(before) {
			t.Fatalf("snapshot of a = %+v", a)
		}
		if bb == nil || bb.Active != 0 || bb.Started != 1 || bb.LastHold.IsZero() {
			t.Fatalf("snapshot of b = %+v", bb)
		}
		if opt == nil || opt.Capacity != 1 || opt.Active != 0 || !opt.LastHold.IsZero() {
			t.Fatalf("snapshot of opt-only = %+v", opt)
		}
		if !slices.IsSortedFunc(s.Destinations, func(x, y DestStatus) int { return strings.Compare(x.Dest, y.Dest) }) {
			t.Fatalf("destinations not sorted: %+v", s.Destinations)
		}
		if len(s.Holds) != 2 {
			t.Fatalf("holds = %+v, want 2", s.Holds)
		}
		calls := []string{}
		for _, h := range s.Holds {
			if h.Dest != "a" || h.Node == "" || h.Start.Before(before) || h.Start.After(time.Now().Add(2*time.Second)) {
				t.Fatalf("hold = %+v", h)
			}
			if !h.Expires.After(h.Start) {
				t.Fatalf("hold %+v: want an expiry after its start", h)
			}
			calls = append(calls, h.CallID)
		}
		slices.Sort(calls)
		if !slices.Equal(calls, []string{"c1", "c2"}) {
			t.Fatalf("hold calls = %v", calls)
		}
	})

	t.Run("Idempotent", func(t *testing.T) {
		b := open(t, Options{Tie: TieList})
		if ok, err := b.Acquire(ctx, "a", "c1"); !ok || err != nil {
			t.Fatalf("Acquire = %v, %v", ok, err)
		}
		if ok, err := b.Acquire(ctx, "a", "c1"); ok || err != nil {
			t.Fatalf("second Acquire = %v, %v; want false, nil", ok, err)
		}
		wantLoad(t, b, []string{"a"}, []int{1})
		// Next for a call that already holds one of the list returns it,
		// without a second hold, even when another is less loaded.
		if got := mustNext(t, b, []string{"b", "a"}, "c1"); got != "a" {
			t.Fatalf("Next for a holding call = %q, want a", got)
		}
		wantLoad(t, b, []string{"a", "b"}, []int{1, 0})
		d := mustNext(t, b, []string{"a", "b"}, "c2")
		if d2 := mustNext(t, b, []string{"a", "b"}, "c2"); d2 != d || d != "b" {
			t.Fatalf("Next twice = %q then %q, want b twice", d, d2)
		}
		wantLoad(t, b, []string{"a", "b"}, []int{1, 1})
		// A full destination still answers for a call that holds it.
		if err := b.Drain(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if got := mustNext(t, b, []string{"a"}, "c1"); got != "a" {
			t.Fatalf("Next for a call holding a drained dest = %q", got)
		}
		if ok, err := b.Acquire(ctx, "a", "c1"); ok || err != nil {
			t.Fatalf("Acquire held+drained = %v, %v; want false, nil", ok, err)
		}
		mustRelease(t, b, "a", "c1", true)
		mustRelease(t, b, "a", "c1", false)
		mustRelease(t, b, "a", "never", false)
		mustRelease(t, b, "nowhere", "c1", false)
		wantLoad(t, b, []string{"a", "nowhere"}, []int{0, 0})
	})

	t.Run("CallHoldsSeveral", func(t *testing.T) {
		// One call may hold several destinations (a simultaneous ring):
		// each hold keeps its own state and ends on its own.
		b := open(t, Options{Tie: TieList})
		for _, d := range []string{"a", "ab", "b"} {
			mustAcquire(t, b, d, "c")
		}
		if ok, err := b.Answered(ctx, "ab", "c"); !ok || err != nil {
			t.Fatalf("Answered(ab, c) = %v, %v", ok, err)
		}
		if got := mustNext(t, b, []string{"x", "b"}, "c"); got != "b" {
			t.Fatalf("Next for a call holding its second destination = %q, want b", got)
		}
		s := mustSnapshot(t, b)
		if len(s.Holds) != 3 || holdOf(s, "ab", "c") == nil || holdOf(s, "ab", "c").State != "talking" ||
			holdOf(s, "a", "c").State != "ringing" {
			t.Fatalf("holds = %+v", s.Holds)
		}
		mustRelease(t, b, "ab", "c", true)
		wantLoad(t, b, []string{"a", "ab", "b"}, []int{1, 0, 1})
		if got := mustNext(t, b, []string{"ab", "x"}, "c"); got != "ab" {
			t.Fatalf("Next after one of its holds ended = %q, want ab (list order, both idle)", got)
		}
		for _, d := range []string{"b", "a", "ab"} {
			mustRelease(t, b, d, "c", true)
		}
		wantLoad(t, b, []string{"a", "ab", "b", "x"}, []int{0, 0, 0, 0})
		if s := mustSnapshot(t, b); len(s.Holds) != 0 {
			t.Fatalf("holds left: %+v", s.Holds)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		b := open(t, Options{})
		long := strings.Repeat("x", MaxDestLen+1)
		longCall := strings.Repeat("x", MaxCallIDLen+1)
		tooMany := make([]string, MaxDestinations+1)
		for i := range tooMany {
			tooMany[i] = fmt.Sprintf("d%d", i)
		}
		for _, tc := range []struct {
			name string
			err  error
			f    func() error
		}{
			{"next empty list", ErrNoDestinations, func() error { _, err := b.Next(ctx, []string{}, "c"); return err }},
			{"next empty dest", ErrInvalidArgument, func() error { _, err := b.Next(ctx, []string{"a", ""}, "c"); return err }},
			{"next empty call", ErrInvalidArgument, func() error { _, err := b.Next(ctx, []string{"a"}, ""); return err }},
			{"next long call", ErrInvalidArgument, func() error { _, err := b.Next(ctx, []string{"a"}, longCall); return err }},
			{"next ctl call", ErrInvalidArgument, func() error { _, err := b.Next(ctx, []string{"a"}, "c\n1"); return err }},
			{"next long dest", ErrInvalidArgument, func() error { _, err := b.Next(ctx, []string{long}, "c"); return err }},
			{"next too many", ErrInvalidArgument, func() error { _, err := b.Next(ctx, tooMany, "c"); return err }},
			{"order ctl dest", ErrInvalidArgument, func() error { _, err := b.Order(ctx, []string{"a\x00b"}); return err }},
			{"order too many", ErrInvalidArgument, func() error { _, err := b.Order(ctx, tooMany); return err }},
			{"load too many", ErrInvalidArgument, func() error { _, err := b.Load(ctx, tooMany); return err }},
			{"load empty dest", ErrInvalidArgument, func() error { _, err := b.Load(ctx, []string{""}); return err }},
			{"acquire empty dest", ErrInvalidArgument, func() error { _, err := b.Acquire(ctx, "", "c"); return err }},
			{"acquire del call", ErrInvalidArgument, func() error { _, err := b.Acquire(ctx, "a", "c\x7f"); return err }},
			{"release empty call", ErrInvalidArgument, func() error { _, err := b.Release(ctx, "a", ""); return err }},
			{"release long dest", ErrInvalidArgument, func() error { _, err := b.Release(ctx, long, "c"); return err }},
			{"drain empty", ErrInvalidArgument, func() error { return b.Drain(ctx, "") }},
			{"undrain tab", ErrInvalidArgument, func() error { return b.Undrain(ctx, "a\tb") }},
			{"reset empty", ErrInvalidArgument, func() error { _, err := b.Reset(ctx, ""); return err }},
		} {
			err := tc.f()
			if !errors.Is(err, tc.err) {
				t.Errorf("%s: err = %v, want %v", tc.name, err, tc.err)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "ringlb: ") {
				t.Errorf("%s: error %q lacks the ringlb: prefix", tc.name, err)
			}
		}
		// Nothing above may have left a hold.
		wantLoad(t, b, []string{"a"}, []int{0})
	})

	t.Run("Duplicates", func(t *testing.T) {
		b := open(t, Options{Tie: TieList})
		mustAcquire(t, b, "a", "x")
		wantOrder(t, b, []string{"b", "a", "b", "c", "a"}, []string{"b", "c", "a"})
		if got := mustNext(t, b, []string{"a", "a", "a"}, "c1"); got != "a" {
			t.Fatalf("Next = %q", got)
		}
		wantLoad(t, b, []string{"a", "a", "b"}, []int{2, 2, 0})
	})

	t.Run("InputLimits", func(t *testing.T) {
		b := open(t, Options{Tie: TieList})
		dests := make([]string, MaxDestinations)
		for i := range dests {
			dests[i] = fmt.Sprintf("%0*d", MaxDestLen, i) // longest allowed
		}
		call := strings.Repeat("c", MaxCallIDLen)
		got, err := b.Order(ctx, dests)
		if err != nil || len(got) != MaxDestinations {
			t.Fatalf("Order of %d = %d, %v", MaxDestinations, len(got), err)
		}
		d, err := b.Next(ctx, dests, call)
		if err != nil || d != dests[0] {
			t.Fatalf("Next at limits = %.10q, %v", d, err)
		}
		loads, err := b.Load(ctx, dests)
		if err != nil || loads[0] != 1 || loads[MaxDestinations-1] != 0 {
			t.Fatalf("Load at limits = %v", err)
		}
		mustRelease(t, b, dests[0], call, true)
	})

	t.Run("ConcurrentNextNeverExceedsCapacity", func(t *testing.T) {
		b := open(t, Options{DefaultCapacity: 2})
		dests := []string{"a", "b", "c", "d", "e"}
		const workers = 40
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			got     = map[string]int{}
			full    int
			unknown []error
		)
		for i := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d, err := b.Next(ctx, dests, fmt.Sprintf("call%d", i))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					got[d]++
				case errors.Is(err, ErrAtCapacity):
					full++
				default:
					unknown = append(unknown, err)
				}
			}()
		}
		wg.Wait()
		if len(unknown) > 0 {
			t.Fatalf("errors: %v", unknown)
		}
		for _, d := range dests {
			if got[d] != 2 {
				t.Fatalf("holds per dest = %v, want 2 each", got)
			}
		}
		if full != workers-10 {
			t.Fatalf("%d at capacity, want %d", full, workers-10)
		}
		wantLoad(t, b, dests, []int{2, 2, 2, 2, 2})
	})

	t.Run("Close", func(t *testing.T) {
		b := open(t, Options{})
		mustAcquire(t, b, "a", "c1")
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Next(ctx, []string{"a"}, "c2"); !errors.Is(err, ErrClosed) {
			t.Fatalf("Next after Close err = %v, want ErrClosed", err)
		}
		if _, err := b.Load(ctx, []string{"a"}); !errors.Is(err, ErrClosed) {
			t.Fatalf("Load after Close err = %v, want ErrClosed", err)
		}
		if _, err := b.Snapshot(ctx); !errors.Is(err, ErrClosed) {
			t.Fatalf("Snapshot after Close err = %v, want ErrClosed", err)
		}
	})
}

func mustAcquire(t testing.TB, b Balancer, dest, call string) {
	t.Helper()
	if ok, err := b.Acquire(context.Background(), dest, call); !ok || err != nil {
		t.Fatalf("Acquire(%q, %q) = %v, %v", dest, call, ok, err)
	}
}

func mustRelease(t testing.TB, b Balancer, dest, call string, want bool) {
	t.Helper()
	if ok, err := b.Release(context.Background(), dest, call); ok != want || err != nil {
		t.Fatalf("Release(%q, %q) = %v, %v; want %v", dest, call, ok, err, want)
	}
}

func mustNext(t testing.TB, b Balancer, dests []string, call string) string {
	t.Helper()
	d, err := b.Next(context.Background(), dests, call)
	if err != nil {
		t.Fatalf("Next(%v, %q): %v", dests, call, err)
	}
	return d
}

func mustSnapshot(t testing.TB, b Balancer) Snapshot {
	t.Helper()
	s, err := b.Snapshot(context.Background())
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	return s
}

func wantOrder(t testing.TB, b Balancer, dests, want []string) {
	t.Helper()
	got, err := b.Order(context.Background(), dests)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("Order(%v) = %v, %v; want %v", dests, got, err, want)
	}
}

func wantLoad(t testing.TB, b Balancer, dests []string, want []int) {
	t.Helper()
	got, err := b.Load(context.Background(), dests)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("Load(%v) = %v, %v; want %v", dests, got, err, want)
	}
}

func destOf(s Snapshot, dest string) *DestStatus {
	for i := range s.Destinations {
		if s.Destinations[i].Dest == dest {
			return &s.Destinations[i]
		}
	}
	return nil
}

func isPermutation(got, of []string) bool {
	a, b := slices.Clone(got), slices.Clone(of)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestConformanceMemory(t *testing.T) {
	testConformance(t, func(t *testing.T, opts Options) Balancer {
		m, err := NewMemory(t.Name(), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	})
}
