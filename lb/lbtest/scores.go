package lbtest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ringlb/ringlb/lb"
)

// scoreCases hold a backend to where tie scores start, the lift on
// return, the no-answer back-off and talk ties (lb/order.go). They run on
// the backend's own clock, so they test what needs no time to pass: the
// step tables of the memory backend (lb/memory_test.go) test the rest on
// a fake clock.
func scoreCases(t *testing.T, open Opener) {
	ctx := context.Background()
	t.Run("TieFewestStartsAtZeroInTheFirstHour", func(t *testing.T) {
		// In the balancer's first hour nobody has answered much: a member
		// first ranked then starts at zero, as every member did, and is
		// scored when ranked, not when chosen.
		b := open(t, lb.Options{HalfLife: -1})
		WantOrder(t, b, []string{"a"}, []string{"a"})
		for i := range 3 {
			MustAnswer(t, b, "a", fmt.Sprint("old", i))
		}
		WantOrder(t, b, []string{"a", "new"}, []string{"new", "a"})
		WantScore(t, b, "new", 0)
		for i := range 3 {
			if got := MustNext(t, b, []string{"a", "new"}, fmt.Sprint("n", i)); got != "new" {
				t.Fatalf("Next %d = %q, want new (0, 1, 2 answered: below a's 3)", i, got)
			}
			b.Answered(ctx, "new", fmt.Sprint("n", i))
			MustRelease(t, b, "new", fmt.Sprint("n", i), true)
		}
		WantScore(t, b, "new", 3)
	})

	t.Run("RejoinLiftsToTheMean", func(t *testing.T) {
		// A member back from an absence is lifted to the mean of the
		// members it is next ranked with, never lowered; undrain, rejoin
		// and the first call after away all mark it back.
		b := open(t, lb.Options{HalfLife: -1, StartWindow: -1})
		for _, d := range []string{"c", "d", "e"} {
			WantOrder(t, b, []string{d}, []string{d}) // scored at 0, alone
		}
		for i, d := range []string{"a", "a", "a", "a", "b", "b"} {
			MustAnswer(t, b, d, fmt.Sprint("old", i))
		}
		if err := b.Drain(ctx, "c"); err != nil {
			t.Fatal(err)
		}
		if err := b.Undrain(ctx, "c"); err != nil {
			t.Fatal(err)
		}
		WantOrder(t, b, []string{"a", "b", "c"}, []string{"b", "c", "a"})
		WantScore(t, b, "c", 3)
		WantOrder(t, b, []string{"a", "b", "c"}, []string{"b", "c", "a"}) // lifted once
		if err := b.Rejoin(ctx, "d"); err != nil {
			t.Fatal(err)
		}
		WantOrder(t, b, []string{"a", "b", "d"}, []string{"b", "d", "a"})
		WantScore(t, b, "d", 3)
		if err := b.Away(ctx, "e"); err != nil {
			t.Fatal(err)
		}
		WantOrder(t, b, []string{"a", "b", "e"}, []string{"e", "b", "a"}) // still away
		MustAnswer(t, b, "e", "back")
		WantOrder(t, b, []string{"a", "b", "e"}, []string{"b", "e", "a"})
		WantScore(t, b, "e", 3)
		if err := b.Rejoin(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		WantOrder(t, b, []string{"a", "b"}, []string{"b", "a"})
		WantScore(t, b, "a", 4)
	})

	t.Run("AwayBeforeTheFirstRankingStaysAway", func(t *testing.T) {
		// A member marked away before it was ever ranked (the ring helper
		// does so for one it skips for do-not-disturb) is started at the
		// lowest score, still away: back, it is lifted to the mean. Redis
		// dropped the mark when it started the member, so it stayed low.
		b := open(t, lb.Options{HalfLife: -1, StartWindow: -1})
		for i, d := range []string{"a", "a", "a", "a", "b", "b", "b", "b"} {
			MustAnswer(t, b, d, fmt.Sprint("old", i))
		}
		if err := b.Away(ctx, "e"); err != nil {
			t.Fatal(err)
		}
		WantOrder(t, b, []string{"a", "b", "e"}, []string{"e", "a", "b"})
		WantScore(t, b, "e", 4)       // started at the lowest
		MustAnswer(t, b, "e", "back") // 5, and back
		for i := range 6 {
			MustAnswer(t, b, "a", fmt.Sprint("a", i))
			MustAnswer(t, b, "b", fmt.Sprint("b", i))
		}
		WantOrder(t, b, []string{"a", "b", "e"}, []string{"e", "a", "b"})
		WantScore(t, b, "e", 10) // lifted to a's and b's 10
	})

	t.Run("RingOutDoesNotEndAway", func(t *testing.T) {
		// An agent on a break but still listed may be offered a call and
		// let it ring out: that does not show it back. Only its answer
		// does, and it is lifted then, to what its peers did meanwhile; a
		// ring-out that ended the break lifted it at once, and it came
		// back below them and took every tie.
		b := open(t, lb.Options{HalfLife: -1, StartWindow: -1, NoAnswerBackoff: -1})
		for i := range 5 {
			MustAnswer(t, b, "a", fmt.Sprint("a", i))
			MustAnswer(t, b, "b", fmt.Sprint("b", i))
		}
		if err := b.Away(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		MustAcquire(t, b, "a", "break")
		if ok, err := b.Unanswered(ctx, "a", "break"); !ok || err != nil {
			t.Fatalf("Unanswered = %v, %v", ok, err)
		}
		WantOrder(t, b, []string{"a", "b"}, []string{"b", "a"}) // 5, 5: b idle longer
		for i := range 10 {
			MustAnswer(t, b, "b", fmt.Sprint("more", i))
		}
		MustAnswer(t, b, "a", "back")                           // 6, and back
		WantOrder(t, b, []string{"a", "b"}, []string{"b", "a"}) // 15, 15: b idle longer
		WantScore(t, b, "a", 15)                                // lifted to b's
	})

	t.Run("StartWindowRunsFromTheFirstRanking", func(t *testing.T) {
		// The start window runs from the balancer's first ranking, even
		// one whose members were all scored already: Redis started it at
		// the first ranking that scored a member, so a member first ranked
		// after the window started at zero there and at the lowest in
		// memory.
		b := open(t, lb.Options{HalfLife: -1, StartWindow: 100 * time.Millisecond})
		for i, d := range []string{"a", "a", "b", "b"} {
			MustAnswer(t, b, d, fmt.Sprint("old", i))
		}
		WantOrder(t, b, []string{"a", "b"}, []string{"a", "b"})               // the first ranking
		time.Sleep(150 * time.Millisecond)                                    // time passing, not waiting for anything
		WantOrder(t, b, []string{"a", "b", "new"}, []string{"new", "a", "b"}) // 2 all, new idle longest
		WantScore(t, b, "new", 2)
	})

	t.Run("NoAnswerBacksOff", func(t *testing.T) {
		// An offer that rang out puts its member after its equally loaded
		// peers, load still first; an answer ends it; a plain release
		// (caller gone, busy) and an answered hold count nothing.
		b := open(t, lb.Options{Tie: lb.TieList, NoAnswerBackoff: time.Hour})
		dests := []string{"a", "b", "c"}
		if got := MustNext(t, b, dests, "1"); got != "a" {
			t.Fatalf("Next = %q, want a", got)
		}
		if ok, err := b.Unanswered(ctx, "a", "1"); !ok || err != nil {
			t.Fatalf("Unanswered = %v, %v", ok, err)
		}
		WantOrder(t, b, dests, []string{"b", "c", "a"})
		MustAcquire(t, b, "b", "busy")
		WantOrder(t, b, dests, []string{"c", "a", "b"})
		MustRelease(t, b, "b", "busy", true)
		d := DestOf(MustSnapshot(t, b), "a")
		if d == nil || d.Unanswered != 1 || time.Until(d.BackoffUntil) < 50*time.Minute {
			t.Fatalf("a = %+v; want 1 unanswered, backing off an hour", d)
		}
		// A second in a row doubles it.
		MustAcquire(t, b, "a", "2")
		if ok, err := b.Unanswered(ctx, "a", "2"); !ok || err != nil {
			t.Fatalf("Unanswered = %v, %v", ok, err)
		}
		if d := DestOf(MustSnapshot(t, b), "a"); d == nil || d.Unanswered != 2 || time.Until(d.BackoffUntil) < 110*time.Minute {
			t.Fatalf("a = %+v; want 2 unanswered, backing off two hours", d)
		}
		if ok, err := b.Unanswered(ctx, "a", "2"); ok || err != nil {
			t.Fatalf("Unanswered of no hold = %v, %v; want false", ok, err)
		}
		MustAnswer(t, b, "a", "3")
		WantOrder(t, b, dests, []string{"a", "b", "c"})
		if d := DestOf(MustSnapshot(t, b), "a"); d == nil || d.Unanswered != 0 || !d.BackoffUntil.IsZero() {
			t.Fatalf("a = %+v; want the back-off ended by the answer", d)
		}
		MustAcquire(t, b, "a", "4")
		MustRelease(t, b, "a", "4", true)
		MustAcquire(t, b, "b", "5")
		b.Answered(ctx, "b", "5")
		if ok, err := b.Unanswered(ctx, "b", "5"); !ok || err != nil {
			t.Fatalf("Unanswered of an answered hold = %v, %v", ok, err)
		}
		WantOrder(t, b, dests, []string{"a", "b", "c"})
	})

	t.Run("MissingTooManyLeavesOut", func(t *testing.T) {
		// A member that left MaxNoAnswer offers in a row unanswered is not
		// offered while its back-off runs, even when nobody else has room;
		// a call that holds it keeps it; a rejoin brings it back at once.
		b := open(t, lb.Options{Tie: lb.TieList, NoAnswerBackoff: time.Hour, MaxNoAnswer: 2, DefaultCapacity: 1})
		dests := []string{"a", "b", "c"}
		for i := range 2 {
			MustAcquire(t, b, "a", fmt.Sprint("miss", i))
			if ok, err := b.Unanswered(ctx, "a", fmt.Sprint("miss", i)); !ok || err != nil {
				t.Fatalf("Unanswered = %v, %v", ok, err)
			}
		}
		WantOrder(t, b, dests, []string{"b", "c"})
		if d := DestOf(MustSnapshot(t, b), "a"); d == nil || !d.Out || d.Unanswered != 2 {
			t.Fatalf("a = %+v; want out after 2 unanswered", d)
		}
		MustAcquire(t, b, "b", "x")
		MustAcquire(t, b, "c", "y")
		if d, err := b.Next(ctx, dests, "none"); !errors.Is(err, lb.ErrAtCapacity) {
			t.Fatalf("Next = %q, %v; want ErrAtCapacity (a is out)", d, err)
		}
		MustAcquire(t, b, "a", "mine")
		if got := MustNext(t, b, dests, "mine"); got != "a" {
			t.Fatalf("Next of the call holding a = %q, want a", got)
		}
		MustRelease(t, b, "a", "mine", true)
		if err := b.Rejoin(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if d := DestOf(MustSnapshot(t, b), "a"); d == nil || d.Out || d.Unanswered != 0 || !d.BackoffUntil.IsZero() {
			t.Fatalf("a = %+v; want back after rejoin", d)
		}
		if got := MustNext(t, b, dests, "after"); got != "a" {
			t.Fatalf("Next after rejoin = %q, want a", got)
		}
		// Never: it keeps its place after its peers.
		n := open(t, lb.Options{Tie: lb.TieList, NoAnswerBackoff: time.Hour, MaxNoAnswer: -1})
		for i := range 4 {
			MustAcquire(t, n, "a", fmt.Sprint("m", i))
			n.Unanswered(ctx, "a", fmt.Sprint("m", i))
		}
		WantOrder(t, n, dests, []string{"b", "c", "a"})
	})

	t.Run("TieTalk", func(t *testing.T) {
		// Talk ties go by talk time, not by calls: a's one long call
		// weighs more than b's two short ones.
		b := open(t, lb.Options{Tie: lb.TieTalk, HalfLife: -1, StartWindow: -1})
		MustAcquire(t, b, "a", "long")
		b.Answered(ctx, "a", "long")
		time.Sleep(60 * time.Millisecond) // the talk time being measured
		MustRelease(t, b, "a", "long", true)
		MustAnswer(t, b, "b", "s1")
		MustAnswer(t, b, "b", "s2")
		WantOrder(t, b, []string{"a", "b"}, []string{"b", "a"})
		d := DestOf(MustSnapshot(t, b), "a")
		if d == nil || d.Score < 0.05 || d.Score > 60 {
			t.Fatalf("a = %+v; want about 0.06 s of talk", d)
		}
	})
}
