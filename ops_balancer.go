package main

/*
#include "ringlb_call.h"
*/
import "C"

import (
	"context"
	"fmt"
	"strings"

	"github.com/ringlb/ringlb/lb"
)

// The handlers of the balancer's operations (ringlb.h): each takes the
// arguments of its ringlbgo_<op> as Go values, and writes its results.

func opOpen(name string, keys, values []string, handle *C.uint64_t) error {
	pairs := make([][2]string, len(keys))
	for i := range keys {
		// Options may be kept by the balancer: copy them out of C memory.
		pairs[i] = [2]string{strings.Clone(keys[i]), strings.Clone(values[i])}
	}
	opts, err := lb.ParseOptions(pairs)
	if err != nil {
		return fmt.Errorf("ringlb: open %q: %w", name, err)
	}
	n, err := lb.Default.Open(strings.Clone(name), opts)
	if err != nil {
		return err
	}
	C.ringlb_set_timeout(C.uint64_t(n.ID), C.int64_t(n.Options.Timeout))
	*handle = C.uint64_t(n.ID)
	return nil
}

func opGet(name string, handle *C.uint64_t) error {
	n := lb.Default.Lookup(name)
	if n == nil {
		return errUnknownName(name)
	}
	*handle = C.uint64_t(n.ID)
	return nil
}

func opList(out **C.char) error {
	var b strings.Builder
	for _, name := range lb.Default.Names() {
		b.WriteString(name)
		b.WriteByte('\n')
	}
	putText(out, b.String())
	return nil
}

func opOrder(ctx context.Context, b *lb.Named, dests []string, order []C.int, count *C.int) error {
	ranked, err := b.Order(ctx, dests)
	if err == nil {
		*count = putIndices(order, dests, ranked)
	}
	return err
}

func opNext(ctx context.Context, b *lb.Named, dests []string, callID string, chosen *C.int) error {
	d, err := b.Next(ctx, dests, callID)
	if err == nil {
		*chosen = C.int(indexOf(dests, d))
	}
	return err
}

func opAcquire(ctx context.Context, b *lb.Named, dest, callID string, added *C.int) error {
	return flag(added)(b.Acquire(ctx, dest, callID))
}

func opCount(ctx context.Context, b *lb.Named, dest, callID string, added *C.int) error {
	return flag(added)(b.Count(ctx, dest, callID))
}

func opRelease(ctx context.Context, b *lb.Named, dest, callID string, removed *C.int) error {
	return flag(removed)(b.Release(ctx, dest, callID))
}

func opUnanswered(ctx context.Context, b *lb.Named, dest, callID string, removed *C.int) error {
	return flag(removed)(b.Unanswered(ctx, dest, callID))
}

func opAnswered(ctx context.Context, b *lb.Named, dest, callID string, marked *C.int) error {
	return flag(marked)(b.Answered(ctx, dest, callID))
}

// flag returns a function that stores a hold operation's outcome in *out
// and passes its error on.
func flag(out *C.int) func(bool, error) error {
	return func(v bool, err error) error {
		*out = boolInt(v)
		return err
	}
}

func opLoad(ctx context.Context, b *lb.Named, dests []string, loads []C.int64_t) error {
	got, err := b.Load(ctx, dests)
	for i, n := range got {
		loads[i] = C.int64_t(n)
	}
	return err
}

func opDrain(ctx context.Context, b *lb.Named, dest string, drained int) error {
	if drained != 0 {
		return b.Drain(ctx, dest)
	}
	return b.Undrain(ctx, dest)
}

func opAway(ctx context.Context, b *lb.Named, dest string) error { return b.Away(ctx, dest) }

func opRejoin(ctx context.Context, b *lb.Named, dest string) error { return b.Rejoin(ctx, dest) }

func opReset(ctx context.Context, b *lb.Named, dest string, dropped *C.int) error {
	n, err := b.Reset(ctx, dest)
	*dropped = C.int(n)
	return err
}

// opFallback counts a ring that went on in list order because the
// balancer's backend failed (ringlb_lua.h).
func opFallback(b *lb.Named) error {
	b.NoteFallback()
	return nil
}

func opNoop() error { return nil }
