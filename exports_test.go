package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/ringlb/ringlb/lb"
)

// Every sentinel error reaches C callers as its own code, wrapped or not.
func TestCodeOf(t *testing.T) {
	seen := map[any]bool{}
	for _, e := range errorCodes {
		for _, err := range []error{e.err, fmt.Errorf("ringlb: next: %w", e.err)} {
			if got := codeOf(err); got != e.code {
				t.Errorf("codeOf(%v) = %d, want %d", err, got, e.code)
			}
		}
		if e.code != codeOf(lb.ErrInvalidArgument) && seen[e.code] {
			t.Errorf("code %d given twice", e.code)
		}
		seen[e.code] = true
	}
	for _, err := range []error{errUnknownHandle(7), fmt.Errorf("x: %w", errUnknownName("sales"))} {
		if got := codeOf(err); got == codeOf(errors.New("other")) || seen[got] {
			t.Errorf("codeOf(%v) = %d: want the handle code, apart from the others", err, got)
		}
	}
	if codeOf(errors.New("surprise")) == codeOf(lb.ErrBackend) {
		t.Error("an unknown error must be internal")
	}
}

// The tab-separated snapshot is ringlb_snapshot's format 0 (ringlb.h).
func TestFormatSnapshot(t *testing.T) {
	start := time.Unix(1700000000, 0)
	s := lb.Snapshot{Name: "sales", Backend: "memory",
		Destinations: []lb.DestStatus{{Dest: "user/1", Active: 1, Capacity: 2, Drained: true, Started: 5, LastHold: start,
			Talking: 1, Answered: 3, WrapupUntil: start.Add(30 * time.Second)}},
		Holds: []lb.HoldInfo{{Dest: "user/1", CallID: "c1", Node: "local", Start: start, State: lb.StateTalking}},
	}
	got, err := formatSnapshot(s, 0)
	want := "B\tsales\tmemory\nD\tuser/1\t1\t2\t1\t5\t1700000000\t0\t1\t3\t1700000030\n" +
		"H\tuser/1\tc1\tlocal\t1700000000\t0\ttalking\n"
	if err != nil || got != want {
		t.Errorf("formatSnapshot TSV = %q, %v\nwant %q", got, err, want)
	}
	if j, err := formatSnapshot(s, 1); err != nil || !strings.Contains(j, `"dest": "user/1"`) {
		t.Errorf("formatSnapshot JSON = %s, %v", j, err)
	}
	if _, err := formatSnapshot(s, 2); !errors.Is(err, lb.ErrInvalidArgument) {
		t.Errorf("format 2: %v", err)
	}
}

// A balancer that returned a destination it was not given is a bug: it
// panics, and the export's guard turns that into RINGLB_EINTERNAL.
func TestIndexOf(t *testing.T) {
	if i := indexOf([]string{"a", "b", "a"}, "a"); i != 0 {
		t.Errorf("indexOf = %d, want the first", i)
	}
	defer func() {
		if recover() == nil {
			t.Error("indexOf of a stranger did not panic")
		}
	}()
	indexOf([]string{"a"}, "z")
}

func TestFirstLines(t *testing.T) {
	if got := firstLines([]byte("a\nb\nc\nd"), 2); got != "a | b" {
		t.Errorf("firstLines = %q", got)
	}
}

// The snapshot as rows (ringlb_lua.h) carries every figure of the text,
// in one block that ringlb_free frees.
func TestSnapshotRows(t *testing.T) {
	start := time.Unix(1700000000, 0)
	s := lb.Snapshot{Name: "sales", Backend: "memory",
		Destinations: []lb.DestStatus{{Dest: "user/1", Active: 2, Capacity: 3, Drained: true, Started: 5, LastHold: start,
			Ringing: 1, Talking: 1, Answered: 4, WrapupUntil: start.Add(time.Minute)}, {Dest: "user/2"}},
		Holds: []lb.HoldInfo{{Dest: "user/1", CallID: "c1", Node: "fs1", Start: start, State: lb.StateTalking,
			Expires: start.Add(30 * time.Second)}},
	}
	r := snapshotRows(s)
	defer cfree(unsafe.Pointer(r))
	if goStr(r.name) != "sales" || goStr(r.backend) != "memory" || r.ndests != 2 || r.nholds != 1 {
		t.Fatalf("rows head = %s %s %d %d", goStr(r.name), goStr(r.backend), r.ndests, r.nholds)
	}
	d := unsafe.Slice(r.dests, 2)
	if goStr(d[0].dest) != "user/1" || d[0].active != 2 || d[0].capacity != 3 || d[0].drained != 1 ||
		d[0].started != 5 || d[0].last_hold != 1700000000 || d[0].ringing != 1 || d[0].talking != 1 ||
		d[0].answered != 4 || d[0].wrapup_until != 1700000060 {
		t.Errorf("dest row = %+v", d[0])
	}
	if goStr(d[1].dest) != "user/2" || d[1].last_hold != 0 || d[1].wrapup_until != 0 || d[1].drained != 0 {
		t.Errorf("second dest row = %+v", d[1])
	}
	h := unsafe.Slice(r.holds, 1)[0]
	if goStr(h.dest) != "user/1" || goStr(h.call_id) != "c1" || goStr(h.node) != "fs1" || goStr(h.state) != "talking" ||
		h.start != 1700000000 || h.expires != 1700000030 {
		t.Errorf("hold row = %+v", h)
	}
	empty := snapshotRows(lb.Snapshot{Name: "e", Backend: "redis"})
	defer cfree(unsafe.Pointer(empty))
	if goStr(empty.name) != "e" || empty.ndests != 0 || empty.nholds != 0 {
		t.Errorf("empty rows = %+v", *empty)
	}
}
