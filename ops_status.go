package main

/*
#include <stdlib.h>
#include "ringlb_call.h"
#include "ringlb.h"
*/
import "C"

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unsafe"

	"github.com/ringlb/ringlb/internal/hostlog"
	"github.com/ringlb/ringlb/internal/metrics"
	"github.com/ringlb/ringlb/lb"
)

// The handlers that show a balancer's state and serve the metrics.

// snapshotOf reads b's state, named.
func snapshotOf(b *lb.Named) (lb.Snapshot, error) {
	s, err := b.Snapshot(context.Background())
	s.Name = b.Name
	return s, err
}

func opSnapshot(b *lb.Named, format int, out **C.char) error {
	s, err := snapshotOf(b)
	if err != nil {
		return err
	}
	text, err := formatSnapshot(s, format)
	if err == nil {
		putText(out, text)
	}
	return err
}

func opReport(b *lb.Named, kind int, dests []string, out **C.char) error {
	s, err := snapshotOf(b)
	if err != nil {
		return err
	}
	var text strings.Builder
	switch kind {
	case C.RINGLB_REPORT_STATUS:
		err = lb.WriteStatus(&text, s, time.Now(), lb.StatusOptions{Capacity: true, Out: true})
	case C.RINGLB_REPORT_HOLDS:
		err = lb.WriteHolds(&text, s, time.Now(), dests)
	default:
		err = fmt.Errorf("ringlb: report: %w: kind %d (want %d status or %d holds)", lb.ErrInvalidArgument,
			kind, C.RINGLB_REPORT_STATUS, C.RINGLB_REPORT_HOLDS)
	}
	if err == nil {
		putText(out, text.String())
	}
	return err
}

// formatSnapshot renders a snapshot as the tab-separated lines ringlb.h
// describes (format 0) or JSON (format 1).
func formatSnapshot(s lb.Snapshot, format int) (string, error) {
	switch format {
	case 0:
		var b strings.Builder
		fmt.Fprintf(&b, "B\t%s\t%s\n", s.Name, s.Backend)
		for _, d := range s.Destinations {
			fmt.Fprintf(&b, "D\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", d.Dest, d.Active, d.Capacity,
				boolInt(d.Drained), d.Started, unixOrZero(d.LastHold), d.Ringing, d.Talking, d.Answered,
				unixOrZero(d.WrapupUntil))
		}
		for _, h := range s.Holds {
			fmt.Fprintf(&b, "H\t%s\t%s\t%s\t%d\t%d\t%s\n", h.Dest, h.CallID, h.Node, unixOrZero(h.Start),
				unixOrZero(h.Expires), h.State)
		}
		return b.String(), nil
	case 1:
		return s.JSON()
	}
	return "", fmt.Errorf("ringlb: snapshot: %w: format %d (want 0 or 1)", lb.ErrInvalidArgument, format)
}

func unixOrZero(t time.Time) C.int64_t {
	if t.IsZero() {
		return 0
	}
	return C.int64_t(t.Unix())
}

func opSnapshotRows(b *lb.Named, out **C.struct_ringlb_rows) error {
	s, err := snapshotOf(b)
	if err == nil {
		*out = snapshotRows(s)
	}
	return err
}

// snapshotRows lays s out as struct ringlb_rows (ringlb_lua.h) in one block
// of C's heap: the struct, the rows of destinations, those of holds, then
// the strings they point to.
func snapshotRows(s lb.Snapshot) *C.struct_ringlb_rows {
	var (
		head  = unsafe.Sizeof(C.struct_ringlb_rows{})
		dsize = unsafe.Sizeof(C.struct_ringlb_dest_row{})
		hsize = unsafe.Sizeof(C.struct_ringlb_hold_row{})
		text  = len(s.Name) + len(s.Backend) + 2
	)
	for _, d := range s.Destinations {
		text += len(d.Dest) + 1
	}
	for _, h := range s.Holds {
		text += len(h.Dest) + len(h.CallID) + len(h.Node) + len(h.State) + 4
	}
	nd, nh := uintptr(len(s.Destinations)), uintptr(len(s.Holds))
	size := head + nd*dsize + nh*hsize + uintptr(text)
	mem := C.malloc(C.size_t(size))
	strs := unsafe.Slice((*byte)(mem), size)[head+nd*dsize+nh*hsize:]
	str := func(v string) *C.char {
		p := (*C.char)(unsafe.Pointer(&strs[0]))
		strs[copy(strs, v)] = 0
		strs = strs[len(v)+1:]
		return p
	}
	rows := (*C.struct_ringlb_rows)(mem)
	*rows = C.struct_ringlb_rows{name: str(s.Name), backend: str(s.Backend), ndests: C.size_t(nd), nholds: C.size_t(nh),
		dests: (*C.struct_ringlb_dest_row)(unsafe.Add(mem, head)),
		holds: (*C.struct_ringlb_hold_row)(unsafe.Add(mem, head+nd*dsize))}
	for i, d := range s.Destinations {
		*(*C.struct_ringlb_dest_row)(unsafe.Add(mem, head+uintptr(i)*dsize)) = C.struct_ringlb_dest_row{
			dest: str(d.Dest), active: C.int64_t(d.Active), capacity: C.int64_t(d.Capacity), drained: boolInt(d.Drained),
			started: C.int64_t(d.Started), last_hold: unixOrZero(d.LastHold), ringing: C.int64_t(d.Ringing),
			talking: C.int64_t(d.Talking), answered: C.int64_t(d.Answered), wrapup_until: unixOrZero(d.WrapupUntil)}
	}
	for i, h := range s.Holds {
		*(*C.struct_ringlb_hold_row)(unsafe.Add(mem, head+nd*dsize+uintptr(i)*hsize)) = C.struct_ringlb_hold_row{
			dest: str(h.Dest), call_id: str(h.CallID), node: str(h.Node), state: str(h.State),
			start: unixOrZero(h.Start), expires: unixOrZero(h.Expires)}
	}
	return rows
}

// metricsDown is the metrics endpoint not serving as asked (port in use, bad
// address, another address already served). Each ring asks again until it
// serves, so it is logged when it starts and when it ends, never per ring.
var metricsDown hostlog.Condition

func opMetrics(asked string, bound []byte) error {
	if len(bound) < 2 {
		return fmt.Errorf("ringlb: metrics: %w: bound buffer of %d bytes", lb.ErrInvalidArgument, len(bound))
	}
	addr, err := metrics.Serve(asked)
	if err != nil {
		if asked == "" {
			asked = metrics.DefaultAddr
		}
		metricsDown.Set(hostlog.Warning, fmt.Sprintf("metrics endpoint on %s not started: %s; calls go on without it, and each ring tries again",
			asked, strings.TrimPrefix(err.Error(), "ringlb: ")))
		return err
	}
	metricsDown.Clear("metrics endpoint serving on " + addr)
	putBuf(bound, addr)
	return nil
}
