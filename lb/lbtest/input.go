package lbtest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/ringlb/ringlb/lb"
)

// inputCases hold a backend to its handling of bad input, the input
// limits, simultaneous callers and Close.
func inputCases(t *testing.T, open Opener) {
	ctx := context.Background()

	t.Run("Errors", func(t *testing.T) {
		b := open(t, lb.Options{})
		long := strings.Repeat("x", lb.MaxDestLen+1)
		longCall := strings.Repeat("x", lb.MaxCallIDLen+1)
		tooMany := make([]string, lb.MaxDestinations+1)
		for i := range tooMany {
			tooMany[i] = fmt.Sprintf("d%d", i)
		}
		for _, tc := range []struct {
			name string
			err  error
			f    func() error
		}{
			{"next empty list", lb.ErrNoDestinations, func() error { _, err := b.Next(ctx, []string{}, "c"); return err }},
			{"next empty dest", lb.ErrInvalidArgument, func() error { _, err := b.Next(ctx, []string{"a", ""}, "c"); return err }},
			{"next empty call", lb.ErrInvalidArgument, func() error { _, err := b.Next(ctx, []string{"a"}, ""); return err }},
			{"next long call", lb.ErrInvalidArgument, func() error { _, err := b.Next(ctx, []string{"a"}, longCall); return err }},
			{"next ctl call", lb.ErrInvalidArgument, func() error { _, err := b.Next(ctx, []string{"a"}, "c\n1"); return err }},
			{"next long dest", lb.ErrInvalidArgument, func() error { _, err := b.Next(ctx, []string{long}, "c"); return err }},
			{"next too many", lb.ErrInvalidArgument, func() error { _, err := b.Next(ctx, tooMany, "c"); return err }},
			{"order ctl dest", lb.ErrInvalidArgument, func() error { _, err := b.Order(ctx, []string{"a\x00b"}); return err }},
			{"order too many", lb.ErrInvalidArgument, func() error { _, err := b.Order(ctx, tooMany); return err }},
			{"load too many", lb.ErrInvalidArgument, func() error { _, err := b.Load(ctx, tooMany); return err }},
			{"load empty dest", lb.ErrInvalidArgument, func() error { _, err := b.Load(ctx, []string{""}); return err }},
			{"acquire empty dest", lb.ErrInvalidArgument, func() error { _, err := b.Acquire(ctx, "", "c"); return err }},
			{"acquire del call", lb.ErrInvalidArgument, func() error { _, err := b.Acquire(ctx, "a", "c\x7f"); return err }},
			{"release empty call", lb.ErrInvalidArgument, func() error { _, err := b.Release(ctx, "a", ""); return err }},
			{"release long dest", lb.ErrInvalidArgument, func() error { _, err := b.Release(ctx, long, "c"); return err }},
			{"drain empty", lb.ErrInvalidArgument, func() error { return b.Drain(ctx, "") }},
			{"undrain tab", lb.ErrInvalidArgument, func() error { return b.Undrain(ctx, "a\tb") }},
			{"reset empty", lb.ErrInvalidArgument, func() error { _, err := b.Reset(ctx, ""); return err }},
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
		WantLoad(t, b, []string{"a"}, []int{0})
	})

	t.Run("InputLimits", func(t *testing.T) {
		b := open(t, lb.Options{Tie: lb.TieList})
		dests := make([]string, lb.MaxDestinations)
		for i := range dests {
			dests[i] = fmt.Sprintf("%0*d", lb.MaxDestLen, i) // longest allowed
		}
		call := strings.Repeat("c", lb.MaxCallIDLen)
		got, err := b.Order(ctx, dests)
		if err != nil || len(got) != lb.MaxDestinations {
			t.Fatalf("Order of %d = %d, %v", lb.MaxDestinations, len(got), err)
		}
		d, err := b.Next(ctx, dests, call)
		if err != nil || d != dests[0] {
			t.Fatalf("Next at limits = %.10q, %v", d, err)
		}
		loads, err := b.Load(ctx, dests)
		if err != nil || loads[0] != 1 || loads[lb.MaxDestinations-1] != 0 {
			t.Fatalf("Load at limits = %v", err)
		}
		MustRelease(t, b, dests[0], call, true)
	})

	t.Run("ConcurrentNextNeverExceedsCapacity", func(t *testing.T) {
		b := open(t, lb.Options{DefaultCapacity: 2})
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
				case errors.Is(err, lb.ErrAtCapacity):
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
		WantLoad(t, b, dests, []int{2, 2, 2, 2, 2})
	})

	t.Run("Close", func(t *testing.T) {
		b := open(t, lb.Options{})
		MustAcquire(t, b, "a", "c1")
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Next(ctx, []string{"a"}, "c2"); !errors.Is(err, lb.ErrClosed) {
			t.Fatalf("Next after Close err = %v, want ErrClosed", err)
		}
		if _, err := b.Load(ctx, []string{"a"}); !errors.Is(err, lb.ErrClosed) {
			t.Fatalf("Load after Close err = %v, want ErrClosed", err)
		}
		if _, err := b.Snapshot(ctx); !errors.Is(err, lb.ErrClosed) {
			t.Fatalf("Snapshot after Close err = %v, want ErrClosed", err)
		}
	})
}
