package lb_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ringlb/ringlb/lb"
	"github.com/ringlb/ringlb/lb/lbtest"
)

// scopePair opens balancers a and b in s, with options oa and ob, and
// closes them when the test ends.
func scopePair(t *testing.T, s *lb.Scope, oa, ob lb.Options) (*lb.Memory, *lb.Memory) {
	t.Helper()
	a, err := s.Open("a", oa)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Open("b", ob)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// Two ring groups on two balancers sharing an agent: every balancer the
// process opens shares its loads, with no option to ask for it.
func TestMemoryBalancersOfTheProcessShareLoads(t *testing.T) {
	var reg lb.Registry
	sales, err := reg.Open("shared-sales", lb.Options{DefaultCapacity: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close("shared-sales")
	support, err := reg.Open("shared-support", lb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close("shared-support")
	plain, err := lb.NewMemory("shared-plain", lb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	agents := []string{"user/shared-1@example.com", "user/shared-2"}
	lbtest.MustAcquire(t, support, "user/shared-1", "call-1")
	lbtest.WantLoad(t, sales, agents, []int{1, 0})
	lbtest.WantLoad(t, plain, agents, []int{1, 0})
	if got := lbtest.MustNext(t, sales, agents, "call-2"); got != "user/shared-2" {
		t.Fatalf("sales offered %s, busy on a support call", got)
	}
	if _, err := sales.Next(context.Background(), agents, "call-3"); err == nil {
		t.Fatal("sales offered a third call to two agents on a call each at capacity 1")
	}
	lbtest.MustRelease(t, support, "user/shared-1", "call-1", true)
	lbtest.MustRelease(t, sales, "user/shared-2", "call-2", true)
	lbtest.WantLoad(t, plain, agents, []int{0, 0})
}

// A hold past its maximum age stops counting in every balancer, even when
// the balancer that holds it is never called again; that balancer's own
// expiry does not count it out a second time.
func TestMemoryLapsedHoldStopsCountingEverywhere(t *testing.T) {
	clk := &fakeClock{now: t0}
	s := lb.NewScope(clk.Now)
	a, b := scopePair(t, s, lb.Options{MaxHoldAge: time.Hour}, lb.Options{MaxHoldAge: 4 * time.Hour})
	lbtest.MustAcquire(t, a, "x", "leaked")
	if ok, err := b.Count(context.Background(), "x", "shared"); !ok || err != nil {
		t.Fatal(ok, err)
	}
	lbtest.MustAcquire(t, a, "x", "shared")
	lbtest.WantLoad(t, b, []string{"x"}, []int{2})
	clk.Set(t0.Add(time.Hour))
	// a's holds lapsed; "shared" is still b's.
	lbtest.WantLoad(t, b, []string{"x"}, []int{1})
	lbtest.WantLoad(t, a, []string{"x"}, []int{1})
	lbtest.MustRelease(t, a, "x", "leaked", false)
	lbtest.MustRelease(t, b, "x", "shared", true)
	lbtest.WantLoad(t, b, []string{"x"}, []int{0})
	lbtest.WantLoad(t, a, []string{"x"}, []int{0})
}

// The scope keeps the members calls hold and of the others only the
// DefaultMaxIdle idle most recently: whatever names arrive, memory stays
// bounded. A member kept idle still has its wrap-up.
func TestMemoryScopeBounded(t *testing.T) {
	clk := &fakeClock{now: t0}
	s := lb.NewScope(clk.Now)
	a, err := s.Open("a", lb.Options{DefaultWrapup: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx := context.Background()
	for i := range 30000 {
		d, call := fmt.Sprintf("n%d", i), fmt.Sprint("c", i)
		lbtest.MustAcquire(t, a, d, call)
		if i%2 == 0 {
			a.Answered(ctx, d, call) // a wrap-up to remember
		}
		lbtest.MustRelease(t, a, d, call, true)
	}
	if n := lb.ScopeMembers(s); n != lb.DefaultMaxIdle {
		t.Fatalf("scope keeps %d members, want the %d idle most recently", n, lb.DefaultMaxIdle)
	}
	// Another balancer sees the wrap-up of the last answered calls.
	b, err := s.Open("b", lb.Options{DefaultWrapup: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	lbtest.WantOrder(t, b, []string{"n29998", "n29999"}, []string{"n29999"})
	clk.Set(t0.Add(time.Minute))
	lbtest.WantOrder(t, b, []string{"n29998", "n29999"}, []string{"n29998", "n29999"})
}

// A balancer that closes takes its holds out of the scope's loads, once.
func TestMemoryCloseCountsOut(t *testing.T) {
	s := lb.NewScope(nil)
	a, b := scopePair(t, s, lb.Options{}, lb.Options{})
	lbtest.MustAcquire(t, a, "x", "c1")
	if ok, err := b.Count(context.Background(), "x", "c1"); !ok || err != nil {
		t.Fatal(ok, err)
	}
	lbtest.MustAcquire(t, a, "y", "c2")
	a.Close()
	a.Close()
	lbtest.WantLoad(t, b, []string{"x", "y"}, []int{1, 0})
	lbtest.MustRelease(t, b, "x", "c1", true)
	lbtest.WantLoad(t, b, []string{"x", "y"}, []int{0, 0})
}

// A call held by three balancers whose holds lapse at different ages
// counts until the last of them lapses.
func TestMemoryCallHeldByManyLapsesWithItsLastHolder(t *testing.T) {
	clk := &fakeClock{now: t0}
	s := lb.NewScope(clk.Now)
	var bals []*lb.Memory
	for i, age := range []time.Duration{time.Hour, 2 * time.Hour, 3 * time.Hour} {
		b, err := s.Open(fmt.Sprint("b", i), lb.Options{MaxHoldAge: age})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if ok, err := b.Count(context.Background(), "x", "call"); !ok || err != nil {
			t.Fatal(ok, err)
		}
		bals = append(bals, b)
	}
	// Seen from a balancer that holds nothing, none of the holders' own
	// expiry runs.
	obs, err := s.Open("observer", lb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Close()
	lbtest.WantLoad(t, obs, []string{"x"}, []int{1})
	clk.Set(t0.Add(2 * time.Hour))
	lbtest.WantLoad(t, obs, []string{"x"}, []int{1})
	clk.Set(t0.Add(5 * time.Hour))
	lbtest.WantLoad(t, obs, []string{"x"}, []int{0})
	for _, b := range bals {
		lbtest.WantLoad(t, b, []string{"x"}, []int{0})
	}
}

// While one balancer alone holds a member's calls its holds are the
// calls; a second balancer's hold makes the scope count calls itself,
// until none is left: the load is the distinct calls throughout.
func TestMemorySoloAndSharedMember(t *testing.T) {
	clk := &fakeClock{now: t0}
	s := lb.NewScope(clk.Now)
	a, b := scopePair(t, s, lb.Options{Tie: lb.TieList, MaxHoldAge: time.Hour, DefaultWrapup: time.Minute},
		lb.Options{DefaultWrapup: time.Minute})
	ctx := context.Background()
	lbtest.MustAcquire(t, a, "x", "c1")
	lbtest.MustAcquire(t, a, "x", "c2")
	a.Answered(ctx, "x", "c2")
	lbtest.WantLoad(t, b, []string{"x"}, []int{2})
	if ok, err := b.Count(ctx, "x", "c2"); !ok || err != nil { // shared from here
		t.Fatal(ok, err)
	}
	lbtest.MustAcquire(t, b, "x", "c3")
	lbtest.WantLoad(t, a, []string{"x"}, []int{3})
	if d := lbtest.DestOf(lbtest.MustSnapshot(t, b), "x"); d == nil || d.Talking != 1 || d.Active != 3 {
		t.Fatalf("b's snapshot of x = %+v; want 3 active, 1 talking", d)
	}
	lbtest.MustRelease(t, a, "x", "c2", true) // b still holds c2: no wrap-up yet
	lbtest.WantLoad(t, b, []string{"x"}, []int{3})
	clk.Set(t0.Add(time.Hour)) // a's c1 lapses
	lbtest.WantLoad(t, b, []string{"x"}, []int{2})
	lbtest.MustRelease(t, b, "x", "c3", true)
	lbtest.MustRelease(t, b, "x", "c2", true) // the answered call ends: wrap-up
	lbtest.WantLoad(t, a, []string{"x"}, []int{0})
	lbtest.WantOrder(t, a, []string{"x", "y"}, []string{"y"})
	clk.Set(t0.Add(time.Hour + time.Minute))
	lbtest.WantOrder(t, a, []string{"x", "y"}, []string{"x", "y"})
	// a alone again.
	lbtest.MustAcquire(t, a, "x", "c4")
	lbtest.WantLoad(t, b, []string{"x"}, []int{1})
	lbtest.MustRelease(t, a, "x", "c4", true)
	lbtest.WantLoad(t, b, []string{"x"}, []int{0})
}
