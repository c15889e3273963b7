package lbtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringlb/ringlb/lb"
)

// holdCases hold a backend to what holds do: answered states, wrap-up,
// capacity, drain, reset, snapshots, idempotence.
func holdCases(t *testing.T, open Opener) {
	ctx := context.Background()

	t.Run("AnsweredStates", func(t *testing.T) {
		b := open(t, lb.Options{})
		MustAcquire(t, b, "a", "c1")
		MustAcquire(t, b, "a", "c2")
		if ok, err := b.Answered(ctx, "a", "c1"); !ok || err != nil {
			t.Fatalf("Answered = %v, %v; want true", ok, err)
		}
		for _, c := range []struct{ dest, call string }{{"a", "c1"}, {"a", "nope"}, {"zz", "c1"}} {
			if ok, err := b.Answered(ctx, c.dest, c.call); ok || err != nil {
				t.Fatalf("Answered(%s, %s) again or unheld = %v, %v; want false, nil", c.dest, c.call, ok, err)
			}
		}
		if _, err := b.Answered(ctx, "", "c1"); !errors.Is(err, lb.ErrInvalidArgument) {
			t.Fatalf("Answered(\"\") err = %v", err)
		}
		s := MustSnapshot(t, b)
		d := DestOf(s, "a")
		if d == nil || d.Active != 2 || d.Ringing != 1 || d.Talking != 1 || d.Answered != 1 {
			t.Fatalf("a = %+v; want 2 active: 1 ringing, 1 talking, 1 answered", d)
		}
		states := map[string]string{}
		for _, h := range s.Holds {
			states[h.CallID] = h.State
		}
		if states["c1"] != lb.StateTalking || states["c2"] != lb.StateRinging {
			t.Fatalf("hold states = %v", states)
		}
		WantLoad(t, b, []string{"a"}, []int{2}) // both states count
		MustRelease(t, b, "a", "c1", true)
		d = DestOf(MustSnapshot(t, b), "a")
		if d.Active != 1 || d.Ringing != 1 || d.Talking != 0 || d.Answered != 1 || d.Score <= 0 {
			t.Fatalf("after release a = %+v", d)
		}
	})

	t.Run("Wrapup", func(t *testing.T) {
		b := open(t, lb.Options{Tie: lb.TieList, DefaultWrapup: time.Hour, Wrapup: map[string]time.Duration{"q": 0}})
		dests := []string{"a", "b", "q"}
		for _, d := range dests {
			MustAcquire(t, b, d, "x")
		}
		b.Answered(ctx, "a", "x")
		b.Answered(ctx, "q", "x")
		for _, d := range dests {
			MustRelease(t, b, d, "x", true)
		}
		// a talked and is in wrap-up; b only rang; q has none.
		WantOrder(t, b, dests, []string{"b", "q"})
		if got := MustNext(t, b, []string{"a", "q"}, "n"); got != "q" {
			t.Fatalf("Next = %q, want q (a in wrap-up)", got)
		}
		if _, err := b.Next(ctx, []string{"a"}, "n2"); !errors.Is(err, lb.ErrAtCapacity) {
			t.Fatalf("Next([a]) err = %v, want ErrAtCapacity while a wraps up", err)
		}
		// A direct call still counts: wrap-up is not load.
		MustAcquire(t, b, "a", "direct")
		WantLoad(t, b, []string{"a"}, []int{1})
		if d := DestOf(MustSnapshot(t, b), "a"); d == nil || !d.WrapupUntil.After(time.Now().Add(50*time.Minute)) {
			t.Fatalf("a = %+v, want wrap-up shown about an hour ahead", d)
		}
	})

	t.Run("CountIgnoresDrainAndCapacity", func(t *testing.T) {
		b := open(t, lb.Options{DefaultCapacity: 1})
		MustAcquire(t, b, "a", "ringlb")
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
		WantLoad(t, b, []string{"a"}, []int{2})
		if _, err := b.Count(ctx, "a", ""); !errors.Is(err, lb.ErrInvalidArgument) {
			t.Fatalf("Count with no call id err = %v", err)
		}
		MustRelease(t, b, "a", "direct", true)
		WantLoad(t, b, []string{"a"}, []int{1})
	})

	t.Run("UserDomains", func(t *testing.T) {
		b := open(t, lb.Options{Tie: lb.TieList, Capacity: map[string]int{"user/1001@example.com": 1}})
		MustAcquire(t, b, "user/1001@example.com", "c1")
		WantLoad(t, b, []string{"user/1001", "user/1001@other.org", "user/1002"}, []int{1, 1, 0})
		// Full under either name; the group's own spelling comes back.
		WantOrder(t, b, []string{"user/1001", "user/1002@example.com"}, []string{"user/1002@example.com"})
		if _, err := b.Acquire(ctx, "user/1001", "c2"); !errors.Is(err, lb.ErrAtCapacity) {
			t.Fatalf("Acquire under the short name err = %v, want ErrAtCapacity", err)
		}
		if got := MustNext(t, b, []string{"user/1001@example.com", "user/1001", "user/1002@example.com"}, "c1"); got != "user/1001@example.com" {
			t.Fatalf("Next for the holding call = %q", got)
		}
		MustRelease(t, b, "user/1001", "c1", true)
		if d := DestOf(MustSnapshot(t, b), "user/1001"); d == nil {
			t.Fatal("snapshot does not name the member user/1001")
		}
		keep := open(t, lb.Options{UserDomains: lb.DomainsKeep})
		MustAcquire(t, keep, "user/1001@example.com", "c1")
		WantLoad(t, keep, []string{"user/1001", "user/1001@example.com"}, []int{0, 1})
	})

	t.Run("Capacity", func(t *testing.T) {
		b := open(t, lb.Options{Tie: lb.TieList, DefaultCapacity: 1, Capacity: map[string]int{"b": 2, "u": 0}})
		MustAcquire(t, b, "a", "c1")
		if ok, err := b.Acquire(ctx, "a", "c2"); ok || !errors.Is(err, lb.ErrAtCapacity) {
			t.Fatalf("Acquire over capacity = %v, %v; want ErrAtCapacity", ok, err)
		}
		WantOrder(t, b, []string{"a", "b", "u"}, []string{"b", "u"})
		if got := MustNext(t, b, []string{"a", "b"}, "c3"); got != "b" {
			t.Fatalf("Next = %q, want b", got)
		}
		if got := MustNext(t, b, []string{"a", "b"}, "c4"); got != "b" {
			t.Fatalf("Next = %q, want b (capacity 2)", got)
		}
		if _, err := b.Next(ctx, []string{"a", "b"}, "c5"); !errors.Is(err, lb.ErrAtCapacity) {
			t.Fatalf("Next on full dests err = %v, want ErrAtCapacity", err)
		}
		WantOrder(t, b, []string{"a", "b"}, []string{})
		// Capacity 0 overrides the default: unlimited.
		for i := range 5 {
			MustAcquire(t, b, "u", fmt.Sprintf("u%d", i))
		}
		WantLoad(t, b, []string{"a", "b", "u"}, []int{1, 2, 5})
		// A release frees the slot at once.
		MustRelease(t, b, "a", "c1", true)
		if got := MustNext(t, b, []string{"a", "b"}, "c6"); got != "a" {
			t.Fatalf("Next after release = %q, want a", got)
		}
	})

	t.Run("DrainUndrain", func(t *testing.T) {
		b := open(t, lb.Options{Tie: lb.TieList})
		MustAcquire(t, b, "b", "before")
		if err := b.Drain(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if err := b.Drain(ctx, "a"); err != nil { // idempotent
			t.Fatal(err)
		}
		WantOrder(t, b, []string{"a", "b", "c"}, []string{"c", "b"})
		for i := range 3 {
			call := fmt.Sprintf("n%d", i)
			if got := MustNext(t, b, []string{"a", "b"}, call); got != "b" {
				t.Fatalf("Next with a drained = %q, want b", got)
			}
		}
		if ok, err := b.Acquire(ctx, "a", "x"); ok || !errors.Is(err, lb.ErrDrained) {
			t.Fatalf("Acquire drained = %v, %v; want ErrDrained", ok, err)
		}
		if _, err := b.Next(ctx, []string{"a"}, "x"); !errors.Is(err, lb.ErrAtCapacity) {
			t.Fatalf("Next on only drained err = %v, want ErrAtCapacity", err)
		}
		// Draining b keeps its calls counted until they end.
		if err := b.Drain(ctx, "b"); err != nil {
			t.Fatal(err)
		}
		WantLoad(t, b, []string{"b"}, []int{4})
		s := MustSnapshot(t, b)
		if st := DestOf(s, "a"); st == nil || !st.Drained {
			t.Fatalf("snapshot of a = %+v, want drained", st)
		}
		if err := b.Undrain(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if err := b.Undrain(ctx, "never-drained"); err != nil {
			t.Fatal(err)
		}
		WantOrder(t, b, []string{"a", "b", "c"}, []string{"a", "c"})
		MustAcquire(t, b, "a", "x")
		if st := DestOf(MustSnapshot(t, b), "a"); st == nil || st.Drained {
			t.Fatalf("snapshot of a = %+v, want undrained", st)
		}
	})

	t.Run("Reset", func(t *testing.T) {
		b := open(t, lb.Options{})
		for i := range 3 {
			MustAcquire(t, b, "a", fmt.Sprintf("c%d", i))
		}
		MustAcquire(t, b, "ab", "c0") // a prefix of another dest is a different dest
		MustAcquire(t, b, "b", "c0")
		if n, err := b.Reset(ctx, "a"); n != 3 || err != nil {
			t.Fatalf("Reset = %d, %v; want 3", n, err)
		}
		WantLoad(t, b, []string{"a", "ab", "b"}, []int{0, 1, 1})
		if n, err := b.Reset(ctx, "a"); n != 0 || err != nil {
			t.Fatalf("Reset again = %d, %v; want 0", n, err)
		}
		if n, err := b.Reset(ctx, "unknown"); n != 0 || err != nil {
			t.Fatalf("Reset unknown = %d, %v; want 0", n, err)
		}
		MustRelease(t, b, "a", "c1", false)
		WantLoad(t, b, []string{"a"}, []int{0})
		MustAcquire(t, b, "a", "c1") // the call may hold again
	})

	t.Run("Snapshot", func(t *testing.T) {
		b := open(t, lb.Options{Capacity: map[string]int{"a": 3, "opt-only": 1}})
		before := time.Now().Add(-2 * time.Second)
		MustAcquire(t, b, "a", "c1")
		MustAcquire(t, b, "a", "c2")
		MustAcquire(t, b, "b", "c3")
		MustRelease(t, b, "b", "c3", true)
		s := MustSnapshot(t, b)
		if s.Backend == "" || s.Destinations == nil || s.Holds == nil {
			t.Fatalf("snapshot = %+v: want backend and non-nil lists", s)
		}
		a, bb, opt := DestOf(s, "a"), DestOf(s, "b"), DestOf(s, "opt-only")
		if a == nil || a.Active != 2 || a.Capacity != 3 || a.Started != 2 || a.LastHold.Before(before) {
			t.Fatalf("snapshot of a = %+v", a)
		}
		if bb == nil || bb.Active != 0 || bb.Started != 1 || bb.LastHold.IsZero() {
			t.Fatalf("snapshot of b = %+v", bb)
		}
		if opt == nil || opt.Capacity != 1 || opt.Active != 0 || !opt.LastHold.IsZero() {
			t.Fatalf("snapshot of opt-only = %+v", opt)
		}
		if !slices.IsSortedFunc(s.Destinations, func(x, y lb.DestStatus) int { return strings.Compare(x.Dest, y.Dest) }) {
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
		b := open(t, lb.Options{Tie: lb.TieList})
		if ok, err := b.Acquire(ctx, "a", "c1"); !ok || err != nil {
			t.Fatalf("Acquire = %v, %v", ok, err)
		}
		if ok, err := b.Acquire(ctx, "a", "c1"); ok || err != nil {
			t.Fatalf("second Acquire = %v, %v; want false, nil", ok, err)
		}
		WantLoad(t, b, []string{"a"}, []int{1})
		// Next for a call that already holds one of the list returns it,
		// without a second hold, even when another is less loaded.
		if got := MustNext(t, b, []string{"b", "a"}, "c1"); got != "a" {
			t.Fatalf("Next for a holding call = %q, want a", got)
		}
		WantLoad(t, b, []string{"a", "b"}, []int{1, 0})
		d := MustNext(t, b, []string{"a", "b"}, "c2")
		if d2 := MustNext(t, b, []string{"a", "b"}, "c2"); d2 != d || d != "b" {
			t.Fatalf("Next twice = %q then %q, want b twice", d, d2)
		}
		WantLoad(t, b, []string{"a", "b"}, []int{1, 1})
		// A full destination still answers for a call that holds it.
		if err := b.Drain(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if got := MustNext(t, b, []string{"a"}, "c1"); got != "a" {
			t.Fatalf("Next for a call holding a drained dest = %q", got)
		}
		if ok, err := b.Acquire(ctx, "a", "c1"); ok || err != nil {
			t.Fatalf("Acquire held+drained = %v, %v; want false, nil", ok, err)
		}
		MustRelease(t, b, "a", "c1", true)
		MustRelease(t, b, "a", "c1", false)
		MustRelease(t, b, "a", "never", false)
		MustRelease(t, b, "nowhere", "c1", false)
		WantLoad(t, b, []string{"a", "nowhere"}, []int{0, 0})
	})

	t.Run("CallHoldsSeveral", func(t *testing.T) {
		// One call may hold several destinations (a simultaneous ring):
		// each hold keeps its own state and ends on its own.
		b := open(t, lb.Options{Tie: lb.TieList})
		for _, d := range []string{"a", "ab", "b"} {
			MustAcquire(t, b, d, "c")
		}
		if ok, err := b.Answered(ctx, "ab", "c"); !ok || err != nil {
			t.Fatalf("Answered(ab, c) = %v, %v", ok, err)
		}
		if got := MustNext(t, b, []string{"x", "b"}, "c"); got != "b" {
			t.Fatalf("Next for a call holding its second destination = %q, want b", got)
		}
		s := MustSnapshot(t, b)
		if len(s.Holds) != 3 || HoldOf(s, "ab", "c") == nil || HoldOf(s, "ab", "c").State != "talking" ||
			HoldOf(s, "a", "c").State != "ringing" {
			t.Fatalf("holds = %+v", s.Holds)
		}
		MustRelease(t, b, "ab", "c", true)
		WantLoad(t, b, []string{"a", "ab", "b"}, []int{1, 0, 1})
		if got := MustNext(t, b, []string{"ab", "x"}, "c"); got != "ab" {
			t.Fatalf("Next after one of its holds ended = %q, want ab (list order, both idle)", got)
		}
		for _, d := range []string{"b", "a", "ab"} {
			MustRelease(t, b, d, "c", true)
		}
		WantLoad(t, b, []string{"a", "ab", "b", "x"}, []int{0, 0, 0, 0})
		if s := MustSnapshot(t, b); len(s.Holds) != 0 {
			t.Fatalf("holds left: %+v", s.Holds)
		}
	})
}
