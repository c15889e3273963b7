package lbtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ringlb/ringlb/lb"
)

// PairOpener opens two balancers of other names in one scope (memory: one
// process; a store: one deployment and key prefix), a with options oa and b
// with ob, fresh and empty, and closes them when the test ends.
type PairOpener func(t *testing.T, oa, ob lb.Options) (a, b lb.Balancer)

// Shared runs the behaviour of balancers sharing members against the
// pairs open returns: a member's load is the distinct calls holding it in
// any balancer of the scope, whichever placed them; capacity and wrap-up
// are each balancer's own, applied to that load and to the end of the
// member's last answered call; drains, tie scores and no-answer back-offs
// stay each balancer's own.
func Shared(t *testing.T, open PairOpener) {
	ctx := context.Background()

	t.Run("SeeEachOthersHolds", func(t *testing.T) {
		a, b := open(t, lb.Options{Tie: lb.TieList}, lb.Options{Tie: lb.TieList})
		MustAcquire(t, a, "x", "c1")
		WantLoad(t, b, []string{"x", "y"}, []int{1, 0})
		WantOrder(t, b, []string{"x", "y"}, []string{"y", "x"})
		if got := MustNext(t, b, []string{"x", "y"}, "c2"); got != "y" {
			t.Fatalf("b.Next = %q, want y (x is on a call placed by a)", got)
		}
		WantLoad(t, a, []string{"x", "y"}, []int{1, 1})
		if s := MustSnapshot(t, b); DestOf(s, "y") == nil || DestOf(s, "y").Active != 1 {
			t.Fatalf("b's snapshot: %+v", s.Destinations)
		}
		MustRelease(t, a, "x", "c1", true)
		MustRelease(t, a, "y", "c2", false) // b's hold is b's to release
		WantLoad(t, b, []string{"x", "y"}, []int{0, 1})
		MustRelease(t, b, "y", "c2", true)
		WantLoad(t, a, []string{"x", "y"}, []int{0, 0})
	})

	t.Run("OneCallCountsOnce", func(t *testing.T) {
		// A call a ring group holds on one balancer and the call tracker
		// counts on another is one call, until both let it go.
		a, b := open(t, lb.Options{}, lb.Options{})
		MustAcquire(t, a, "x", "c1")
		if ok, err := b.Count(ctx, "x", "c1"); !ok || err != nil {
			t.Fatalf("b.Count = %v, %v; want a new hold of b's", ok, err)
		}
		WantLoad(t, a, []string{"x"}, []int{1})
		WantLoad(t, b, []string{"x"}, []int{1})
		MustRelease(t, a, "x", "c1", true)
		WantLoad(t, a, []string{"x"}, []int{1})
		MustRelease(t, b, "x", "c1", true)
		MustRelease(t, b, "x", "c1", false)
		WantLoad(t, a, []string{"x"}, []int{0})
		WantLoad(t, b, []string{"x"}, []int{0})
	})

	t.Run("CapacityAcrossBalancers", func(t *testing.T) {
		a, b := open(t, lb.Options{DefaultCapacity: 2}, lb.Options{DefaultCapacity: 1})
		MustAcquire(t, a, "x", "c1")
		if _, err := b.Acquire(ctx, "x", "c2"); !errors.Is(err, lb.ErrAtCapacity) {
			t.Fatalf("b.Acquire(x) err = %v, want ErrAtCapacity (a's call fills b's capacity 1)", err)
		}
		if _, err := b.Next(ctx, []string{"x"}, "c2"); !errors.Is(err, lb.ErrAtCapacity) {
			t.Fatalf("b.Next([x]) err = %v, want ErrAtCapacity", err)
		}
		WantOrder(t, b, []string{"x", "y"}, []string{"y"})
		// The call that fills it is in its load already: room for it.
		if ok, err := b.Acquire(ctx, "x", "c1"); !ok || err != nil {
			t.Fatalf("b.Acquire(x, c1) = %v, %v; want the call a holds admitted", ok, err)
		}
		// a's own capacity is 2.
		MustAcquire(t, a, "x", "c3")
		WantLoad(t, b, []string{"x"}, []int{2})
		if _, err := a.Acquire(ctx, "x", "c4"); !errors.Is(err, lb.ErrAtCapacity) {
			t.Fatalf("a.Acquire(x) err = %v, want ErrAtCapacity at 2", err)
		}
	})

	t.Run("DrainIsEachBalancers", func(t *testing.T) {
		a, b := open(t, lb.Options{}, lb.Options{})
		if err := a.Drain(ctx, "x"); err != nil {
			t.Fatal(err)
		}
		WantOrder(t, a, []string{"x", "y"}, []string{"y"})
		if got := MustNext(t, b, []string{"x"}, "c1"); got != "x" {
			t.Fatalf("b.Next = %q, want x (drained on a only)", got)
		}
	})

	t.Run("TieScoresAndBackoffEachBalancers", func(t *testing.T) {
		// Ties break on each balancer's own scores and no-answer back-off,
		// among members of equal shared load.
		o := lb.Options{Tie: lb.TieFewest, NoAnswerBackoff: time.Hour}
		a, b := open(t, o, o)
		if got := MustNext(t, a, []string{"x", "y"}, "c1"); got != "x" {
			t.Fatalf("a.Next = %q, want x", got)
		}
		if ok, err := a.Unanswered(ctx, "x", "c1"); !ok || err != nil {
			t.Fatalf("a.Unanswered = %v, %v", ok, err)
		}
		WantOrder(t, a, []string{"x", "y"}, []string{"y", "x"}) // x backs off in a
		WantOrder(t, b, []string{"x", "y"}, []string{"x", "y"}) // not in b
		MustAcquire(t, b, "y", "c2")
		// Load first: b's call on y puts it after x in a, back-off or not.
		WantOrder(t, a, []string{"x", "y"}, []string{"x", "y"})
		MustRelease(t, b, "y", "c2", true)
		WantOrder(t, a, []string{"x", "y"}, []string{"y", "x"})
		WantOrder(t, b, []string{"x", "y"}, []string{"x", "y"})

		// A call answered in a scores in a only.
		a, b = open(t, o, o)
		MustAnswer(t, a, "y", "c1")
		WantOrder(t, a, []string{"y", "x"}, []string{"x", "y"})
		WantOrder(t, b, []string{"y", "x"}, []string{"y", "x"})
	})

	t.Run("OutForNoAnswerKeptByTheCallHoldingIt", func(t *testing.T) {
		// x is out in b for missing max_no_answer offers, not in a; y is
		// full. A call that holds x through a keeps x in b's Next (it is
		// that call's already); b's Order, and any other call, leave it out.
		ob := lb.Options{Tie: lb.TieList, NoAnswerBackoff: time.Hour, MaxNoAnswer: 1, DefaultCapacity: 1}
		a, b := open(t, lb.Options{Tie: lb.TieList, DefaultCapacity: 1}, ob)
		MustAcquire(t, b, "x", "miss")
		if ok, err := b.Unanswered(ctx, "x", "miss"); !ok || err != nil {
			t.Fatalf("b.Unanswered = %v, %v", ok, err)
		}
		WantOrder(t, b, []string{"x", "y"}, []string{"y"})
		MustAcquire(t, a, "x", "mine")
		MustAcquire(t, a, "y", "full")
		if got := MustNext(t, b, []string{"x", "y"}, "mine"); got != "x" {
			t.Fatalf("b.Next of the call holding x in a = %q, want x", got)
		}
		if d, err := b.Next(ctx, []string{"x", "y"}, "other"); !errors.Is(err, lb.ErrAtCapacity) {
			t.Fatalf("b.Next of another call = %q, %v; want ErrAtCapacity", d, err)
		}
		WantOrder(t, b, []string{"x", "y"}, []string{})
	})

	t.Run("WrapupOfEachBalancerOnSharedEnd", func(t *testing.T) {
		// a's answered call ends: b, with a wrap-up, does not offer the
		// member; a, without one, does.
		a, b := open(t, lb.Options{Tie: lb.TieList}, lb.Options{Tie: lb.TieList, DefaultWrapup: 3600e9})
		MustAcquire(t, a, "x", "c1")
		if ok, err := a.Answered(ctx, "x", "c1"); !ok || err != nil {
			t.Fatalf("Answered = %v, %v", ok, err)
		}
		MustRelease(t, a, "x", "c1", true)
		WantOrder(t, b, []string{"x", "y"}, []string{"y"})
		WantOrder(t, a, []string{"x", "y"}, []string{"x", "y"})
		// A ring never answered leaves no wrap-up.
		MustAcquire(t, a, "y", "c2")
		MustRelease(t, a, "y", "c2", true)
		WantOrder(t, b, []string{"x", "y"}, []string{"y"})
	})

	t.Run("TalkingShared", func(t *testing.T) {
		a, b := open(t, lb.Options{}, lb.Options{})
		MustAcquire(t, a, "x", "c1")
		MustAcquire(t, b, "x", "c2")
		if ok, err := a.Answered(ctx, "x", "c1"); !ok || err != nil {
			t.Fatalf("Answered = %v, %v", ok, err)
		}
		d := DestOf(MustSnapshot(t, b), "x")
		if d == nil || d.Active != 2 || d.Talking != 1 || d.Ringing != 1 {
			t.Fatalf("b's snapshot of x = %+v; want 2 active, 1 talking, 1 ringing", d)
		}
		if s := MustSnapshot(t, b); len(s.Holds) != 1 || s.Holds[0].CallID != "c2" {
			t.Fatalf("b's holds = %+v; want its own, c2", s.Holds)
		}
	})

	t.Run("ResetCountsOutOnce", func(t *testing.T) {
		a, b := open(t, lb.Options{}, lb.Options{})
		MustAcquire(t, a, "x", "c1")
		if ok, err := b.Count(ctx, "x", "c1"); !ok || err != nil {
			t.Fatalf("b.Count = %v, %v", ok, err)
		}
		MustAcquire(t, a, "x", "c2")
		if n, err := a.Reset(ctx, "x"); n != 2 || err != nil {
			t.Fatalf("a.Reset = %d, %v; want a's 2 holds", n, err)
		}
		WantLoad(t, b, []string{"x"}, []int{1}) // c1, b's hold
		if n, err := a.Reset(ctx, "x"); n != 0 || err != nil {
			t.Fatalf("a.Reset again = %d, %v", n, err)
		}
		WantLoad(t, b, []string{"x"}, []int{1})
		MustRelease(t, b, "x", "c1", true)
		MustRelease(t, a, "x", "c1", false)
		WantLoad(t, a, []string{"x"}, []int{0})
	})

	t.Run("CapacityOneUnderConcurrentNext", func(t *testing.T) {
		// Many goroutines calling Next on both balancers at once: no
		// member ever has two calls.
		a, b := open(t, lb.Options{DefaultCapacity: 1}, lb.Options{DefaultCapacity: 1})
		stress(t, []lb.Balancer{a, b}, []string{"a", "b", "c"}, 1, 8, 150)
	})
}
