// Package lbtest holds what tests of every lb.Balancer share: the
// conformance suite (Conformance), which every backend must pass, and the
// helpers its cases and the backends' own tests use.
package lbtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ringlb/ringlb/lb"
)

// MustAcquire acquires dest for call, and fails t unless it was a new hold.
func MustAcquire(t testing.TB, b lb.Balancer, dest, call string) {
	t.Helper()
	if ok, err := b.Acquire(context.Background(), dest, call); !ok || err != nil {
		t.Fatalf("Acquire(%q, %q) = %v, %v", dest, call, ok, err)
	}
}

// MustRelease releases dest for call, and fails t unless Release reports want.
func MustRelease(t testing.TB, b lb.Balancer, dest, call string, want bool) {
	t.Helper()
	if ok, err := b.Release(context.Background(), dest, call); ok != want || err != nil {
		t.Fatalf("Release(%q, %q) = %v, %v; want %v", dest, call, ok, err, want)
	}
}

// MustAnswer holds dest for call, marks it answered and releases it: one
// answered call of dest.
func MustAnswer(t testing.TB, b lb.Balancer, dest, call string) {
	t.Helper()
	MustAcquire(t, b, dest, call)
	if ok, err := b.Answered(context.Background(), dest, call); !ok || err != nil {
		t.Fatalf("Answered(%q, %q) = %v, %v", dest, call, ok, err)
	}
	MustRelease(t, b, dest, call, true)
}

// WantScore fails t unless dest's tie score in b's snapshot is want.
func WantScore(t testing.TB, b lb.Balancer, dest string, want float64) {
	t.Helper()
	if d := DestOf(MustSnapshot(t, b), dest); d == nil || math.Abs(d.Score-want) > 1e-6 {
		t.Fatalf("%s = %+v; want score %g", dest, d, want)
	}
}

// MustNext returns the destination Next chooses for call, and fails t on an error.
func MustNext(t testing.TB, b lb.Balancer, dests []string, call string) string {
	t.Helper()
	d, err := b.Next(context.Background(), dests, call)
	if err != nil {
		t.Fatalf("Next(%v, %q): %v", dests, call, err)
	}
	return d
}

// MustSnapshot returns b's snapshot, and fails t on an error.
func MustSnapshot(t testing.TB, b lb.Balancer) lb.Snapshot {
	t.Helper()
	s, err := b.Snapshot(context.Background())
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	return s
}

// WantOrder fails t unless Order(dests) is want.
func WantOrder(t testing.TB, b lb.Balancer, dests, want []string) {
	t.Helper()
	got, err := b.Order(context.Background(), dests)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("Order(%v) = %v, %v; want %v", dests, got, err, want)
	}
}

// WantLoad fails t unless Load(dests) is want.
func WantLoad(t testing.TB, b lb.Balancer, dests []string, want []int) {
	t.Helper()
	got, err := b.Load(context.Background(), dests)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("Load(%v) = %v, %v; want %v", dests, got, err, want)
	}
}

// DestOf finds a destination in a snapshot.
func DestOf(s lb.Snapshot, dest string) *lb.DestStatus {
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

// HoldOf finds a hold in a snapshot.
func HoldOf(s lb.Snapshot, dest, call string) *lb.HoldInfo {
	for i := range s.Holds {
		if s.Holds[i].Dest == dest && s.Holds[i].CallID == call {
			return &s.Holds[i]
		}
	}
	return nil
}

// Stress runs workers goroutines doing iters Next/Release cycles on
// five destinations of capacity 3 and checks the invariants.
func Stress(t *testing.T, b lb.Balancer, workers, iters int) {
	t.Helper()
	stress(t, []lb.Balancer{b}, []string{"a", "b", "c", "d", "e"}, 3, workers, iters)
}

// stress runs workers goroutines per balancer of bals (of one scope, each
// opened with capacity on every member) doing iters Next/Release cycles
// over dests, some with an idempotent repeat of Next, and fails t if a
// member ever had more live calls than capacity, a load or hold is left,
// a member was never picked, or a call is unaccounted for.
func stress(t *testing.T, bals []lb.Balancer, dests []string, capacity int32, workers, iters int) {
	t.Helper()
	ctx := context.Background()
	var (
		inUse   = make([]atomic.Int32, len(dests)) // holds the test knows are live, a lower bound
		picks   = make([]atomic.Int64, len(dests))
		full    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		failure error
	)
	fail := func(err error) { errOnce.Do(func() { failure = err }) }
	for bi, b := range bals {
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range iters {
					call := fmt.Sprintf("b%d-w%d-%d", bi, w, i)
					d, err := b.Next(ctx, dests, call)
					if errors.Is(err, lb.ErrAtCapacity) {
						full.Add(1)
						continue
					}
					if err != nil {
						fail(err)
						return
					}
					k := slices.Index(dests, d)
					if n := inUse[k].Add(1); n > capacity {
						fail(fmt.Errorf("%s has %d live holds, capacity %d", d, n, capacity))
					}
					picks[k].Add(1)
					if w%4 == 0 {
						// Idempotent repeats in the middle of a hold.
						if d2, err := b.Next(ctx, dests, call); d2 != d || err != nil {
							fail(fmt.Errorf("repeat Next = %q, %v; want %q", d2, err, d))
						}
					}
					inUse[k].Add(-1)
					if ok, err := b.Release(ctx, d, call); !ok || err != nil {
						fail(fmt.Errorf("Release(%s, %s) = %v, %v", d, call, ok, err))
					}
				}
			}()
		}
	}
	wg.Wait()
	if failure != nil {
		t.Fatal(failure)
	}
	for _, b := range bals {
		WantLoad(t, b, dests, make([]int, len(dests)))
		if s := MustSnapshot(t, b); len(s.Holds) != 0 {
			t.Fatalf("holds left: %+v", s.Holds)
		}
	}
	total := int64(0)
	for i := range picks {
		total += picks[i].Load()
	}
	if total+full.Load() != int64(len(bals)*workers*iters) {
		t.Fatalf("%d picks + %d full != %d calls", total, full.Load(), len(bals)*workers*iters)
	}
	for i, d := range dests {
		if picks[i].Load() == 0 {
			t.Fatalf("%s never picked", d)
		}
	}
}

// BenchNextRelease measures one call's life, Next then Release, over n
// destinations from GOMAXPROCS goroutines.
func BenchNextRelease(b *testing.B, bal lb.Balancer, n int) {
	dests := make([]string, n)
	for i := range dests {
		dests[i] = fmt.Sprintf("agent-%04d", i)
	}
	var seq atomic.Int64
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			call := fmt.Sprintf("call-%d", seq.Add(1))
			d, err := bal.Next(ctx, dests, call)
			if err != nil {
				b.Error(err)
				return
			}
			if ok, err := bal.Release(ctx, d, call); !ok || err != nil {
				b.Errorf("Release = %v, %v", ok, err)
				return
			}
		}
	})
}
