package lbtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/ringlb/ringlb/lb"
)

// Conformance runs the behaviour every lb.Balancer must share against the
// balancers open returns: the ranking rule and its ties, holds and what
// refuses them, and bad input. open must apply opts (plus whatever its
// backend needs, such as a URL), give each call a fresh, empty balancer,
// and close it when the test ends.
func Conformance(t *testing.T, open Opener) {
	rankCases(t, open)
	holdCases(t, open)
	inputCases(t, open)
}

// Opener opens a fresh balancer with opts for a test of the conformance
// suite.
type Opener func(t *testing.T, opts lb.Options) lb.Balancer

// rankCases hold a backend to the ranking rule (lb/order.go): load first,
// then the tie policy, then list position.
func rankCases(t *testing.T, open Opener) {
	ctx := context.Background()

	t.Run("OrderByLoad", func(t *testing.T) {
		b := open(t, lb.Options{Tie: lb.TieList})
		MustAcquire(t, b, "a", "a1")
		MustAcquire(t, b, "a", "a2")
		MustAcquire(t, b, "b", "b1")
		WantOrder(t, b, []string{"a", "b", "c"}, []string{"c", "b", "a"})
		WantLoad(t, b, []string{"a", "b", "c", "zzz"}, []int{2, 1, 0, 0})
		if got := MustNext(t, b, []string{"a", "b", "c"}, "n1"); got != "c" {
			t.Fatalf("Next = %q, want c", got)
		}
		if got := MustNext(t, b, []string{"a", "b"}, "n2"); got != "b" {
			t.Fatalf("Next = %q, want b", got)
		}
		WantLoad(t, b, []string{"a", "b", "c"}, []int{2, 2, 1})
	})

	t.Run("EmptyLists", func(t *testing.T) {
		b := open(t, lb.Options{})
		got, err := b.Order(ctx, nil)
		if err != nil || got == nil || len(got) != 0 {
			t.Fatalf("Order(nil) = %#v, %v; want empty, nil", got, err)
		}
		loads, err := b.Load(ctx, []string{})
		if err != nil || loads == nil || len(loads) != 0 {
			t.Fatalf("Load([]) = %#v, %v; want empty, nil", loads, err)
		}
		if _, err := b.Next(ctx, nil, "c1"); !errors.Is(err, lb.ErrNoDestinations) {
			t.Fatalf("Next(nil) err = %v, want ErrNoDestinations", err)
		}
	})

	t.Run("TieLRUTakesTurns", func(t *testing.T) {
		// Three idle agents and calls that never overlap: every agent must
		// get every third call (genesis gives them all to the first).
		b := open(t, lb.Options{Tie: lb.TieLRU})
		dests := []string{"a", "b", "c"}
		var got []string
		for i := range 9 {
			call := fmt.Sprintf("call%d", i)
			got = append(got, MustNext(t, b, dests, call))
			MustRelease(t, b, got[i], call, true)
		}
		want := []string{"a", "b", "c", "a", "b", "c", "a", "b", "c"}
		if !slices.Equal(got, want) {
			t.Fatalf("lru picks = %v, want %v", got, want)
		}
		// Never-used destinations come first, in list order; then the one
		// used longest ago.
		WantOrder(t, b, []string{"x", "c", "a", "y", "b"}, []string{"x", "y", "a", "b", "c"})
		// Load still comes before recency.
		MustAcquire(t, b, "a", "busy")
		WantOrder(t, b, dests, []string{"b", "c", "a"})
	})

	t.Run("TieFewestAnswered", func(t *testing.T) {
		// Equally loaded: the one with fewer answered calls goes first,
		// whatever lru says; unanswered rings do not count.
		b := open(t, lb.Options{Tie: lb.TieFewest})
		dests := []string{"a", "b", "c"}
		MustAnswer(t, b, "a", "1")
		MustAnswer(t, b, "a", "2")
		MustAnswer(t, b, "a", "3")
		MustAnswer(t, b, "b", "4")
		MustAnswer(t, b, "b", "5")
		MustAnswer(t, b, "c", "6") // most recent: last by lru, first by count
		for range 3 {
			MustAcquire(t, b, "c", "ring") // rang, never answered
			MustRelease(t, b, "c", "ring", true)
		}
		WantOrder(t, b, dests, []string{"c", "b", "a"})
		if got := MustNext(t, b, dests, "n1"); got != "c" {
			t.Fatalf("Next = %q, want c (fewest answered calls)", got)
		}
		// Load still comes first.
		WantOrder(t, b, dests, []string{"b", "a", "c"})
		// Equal counts fall back to lru: b's last call is older than c's.
		MustRelease(t, b, "c", "n1", true)
		MustAnswer(t, b, "c", "7")
		WantOrder(t, b, dests, []string{"b", "c", "a"})
	})

	t.Run("TieFewestLateJoiner", func(t *testing.T) {
		// A member first seen mid-shift starts level with the least
		// answered of its group, not at zero: it takes its turn, then the
		// others get theirs.
		b := open(t, lb.Options{Tie: lb.TieFewest, StartWindow: -1})
		for i, d := range []string{"a", "a", "a", "b", "b"} {
			call := fmt.Sprint("old", i)
			MustAcquire(t, b, d, call)
			b.Answered(ctx, d, call)
			MustRelease(t, b, d, call, true)
		}
		dests := []string{"a", "b", "new"}
		got := MustNext(t, b, dests, "j1")
		if got != "new" {
			t.Fatalf("Next = %q, want new (level with b, never used)", got)
		}
		b.Answered(ctx, got, "j1")
		MustRelease(t, b, got, "j1", true)
		if got := MustNext(t, b, dests, "j2"); got != "b" {
			t.Fatalf("Next = %q, want b: new joined at b's count and answered one since", got)
		}
	})

	t.Run("TieFewestLateJoinerLevelsWithMembersWithRoom", func(t *testing.T) {
		// Regression: Redis's next started a late joiner level with the
		// lowest score of the members not drained, full ones included,
		// while its order and the memory backend took only members with
		// room. The members that may be offered are the group.
		b := open(t, lb.Options{Tie: lb.TieFewest, HalfLife: -1, StartWindow: -1, Capacity: map[string]int{"a": 1}})
		for i, d := range []string{"a", "b", "b", "b"} {
			call := fmt.Sprint("old", i)
			MustAcquire(t, b, d, call)
			b.Answered(ctx, d, call)
			MustRelease(t, b, d, call, true)
		}
		MustAcquire(t, b, "a", "busy") // a, the least answered, is full
		if got := MustNext(t, b, []string{"a", "b", "new"}, "j1"); got != "new" {
			t.Fatalf("Next = %q, want new (level with b, never used)", got)
		}
		if d := DestOf(MustSnapshot(t, b), "new"); d == nil || math.Abs(d.Score-3) > 1e-9 {
			t.Fatalf("new = %+v; want it level with b (score 3), not with the full a (1)", d)
		}
	})

	scoreCases(t, open)

	t.Run("TieList", func(t *testing.T) {
		b := open(t, lb.Options{Tie: lb.TieList})
		for i := range 5 {
			call := fmt.Sprintf("call%d", i)
			if got := MustNext(t, b, []string{"a", "b", "c"}, call); got != "a" {
				t.Fatalf("list tie pick %d = %q, want a", i, got)
			}
			MustRelease(t, b, "a", call, true)
		}
		WantOrder(t, b, []string{"c", "b", "a"}, []string{"c", "b", "a"})
	})

	t.Run("TieRandom", func(t *testing.T) {
		b := open(t, lb.Options{Tie: lb.TieRandom})
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
			d := MustNext(t, b, dests, call)
			picks[d]++
			MustRelease(t, b, d, call, true)
		}
		for _, d := range dests {
			// Each has probability 1/4; missing one in 200 tries is ~1e-25.
			if firsts[d] == 0 || picks[d] == 0 {
				t.Fatalf("random ties never put %q first: Order %v, Next %v", d, firsts, picks)
			}
		}
		// Load still wins over the random key.
		MustAcquire(t, b, "a", "x1")
		MustAcquire(t, b, "b", "x2")
		MustAcquire(t, b, "c", "x3")
		for i := range 10 {
			got, err := b.Order(ctx, dests)
			if err != nil || got[0] != "d" {
				t.Fatalf("Order %d = %v, %v; want d first", i, got, err)
			}
		}
	})

	t.Run("Duplicates", func(t *testing.T) {
		b := open(t, lb.Options{Tie: lb.TieList})
		MustAcquire(t, b, "a", "x")
		WantOrder(t, b, []string{"b", "a", "b", "c", "a"}, []string{"b", "c", "a"})
		if got := MustNext(t, b, []string{"a", "a", "a"}, "c1"); got != "a" {
			t.Fatalf("Next = %q", got)
		}
		WantLoad(t, b, []string{"a", "a", "b"}, []int{2, 2, 0})
	})
}
