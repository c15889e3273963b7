package main

/*
#include "ringlb_call.h"
*/
import "C"

import (
	"context"
	"fmt"
	"slices"

	"github.com/ringlb/ringlb/lb"
	"github.com/ringlb/ringlb/ring"
)

// The handlers of the ring helper's rules (ringlb_lua.h): thin translators
// to the Go package ring.

func opDialstring(legs []string, sep int, keys, values []string, legTimeout int, tag string, out **C.char) error {
	vars := make([][2]string, len(keys))
	for i := range keys {
		vars[i] = [2]string{keys[i], values[i]}
	}
	s, err := ring.TaggedDialString(legs, ring.Separator(sep), vars, legTimeout, tag)
	if err == nil {
		putText(out, s)
	}
	return err
}

func opRingCheck(mode string, dests []string, timeout float64, onBackendError, balancer string, members []C.int,
	count, timeoutS *C.int) error {
	m, err := ring.ParseMode(mode)
	if err != nil {
		return err
	}
	policy, err := ring.ParseBackendPolicy(onBackendError)
	if err != nil {
		return err
	}
	t, err := ring.ParseTimeout(timeout)
	if err != nil {
		return err
	}
	o := ring.Options{Mode: m, Timeout: t, OnBackendError: policy, Balancer: balancer != ""}
	picked, err := ring.Check(o, dests, balancer)
	if err != nil {
		return err
	}
	*count = putIndices(members, dests, picked)
	*timeoutS = C.int(o.TimeoutSeconds())
	return nil
}

func opRingPick(ctx context.Context, b *lb.Named, mode string, dests []string, callID string, chosen *C.int,
	skipped []C.int) error {
	m, err := ring.ParseMode(mode)
	if err != nil {
		return err
	}
	d, passed, err := ring.Pick(ctx, b, m, dests, callID)
	for i, x := range dests {
		skipped[i] = boolInt(slices.Contains(passed, x))
	}
	if err == nil && d != "" {
		*chosen = C.int(indexOf(dests, d))
	}
	return err
}

func opRingHoldAll(ctx context.Context, b *lb.Named, dests []string, callID string, states []C.int) error {
	got, err := ring.HoldAll(ctx, b, dests, callID)
	for i, s := range got {
		states[i] = C.int(s)
	}
	return err
}

// reasonLen is the room ring_reason's caller gives the reason: the longest
// one, "no_answer", and its NUL, with some to spare.
const reasonLen = 16

func opRingReason(causes []string, reason []byte, last *C.int) error {
	if len(reason) < reasonLen {
		return fmt.Errorf("ringlb: ring_reason: %w: reason buffer of %d bytes (at least %d)", lb.ErrInvalidArgument,
			len(reason), reasonLen)
	}
	r, _ := ring.Reason(causes) // the last cause is causes[n-1], told as an index
	putBuf(reason, r)
	*last = C.int(len(causes) - 1)
	return nil
}
