// Command ringlb is built with -buildmode=c-shared into ringlb.so: the C ABI
// of cgo/ringlb.h and the Lua module luaopen_ringlb, over the balancer core
// in lb/ and the ring-group logic in ring/.
//
// Go code here runs only on threads that are safe for it: ringlb's own
// SCHED_OTHER worker threads, or non-realtime callers (see
// docs/realtime.md). The one entry point is ringlbgo_call; the C side
// (cgo/dispatch.c) fills a request record and hands it over.
package main

/*
#cgo CFLAGS: -O2 -Wall -I${SRCDIR}/cgo -I/usr/include/lua5.3
// The lua_* symbols come from the host (mod_lua) at load time. A shared
// object may leave them undefined anyway; this lets `go build ./...` link the
// package as a (never used) executable too.
#cgo LDFLAGS: -Wl,--unresolved-symbols=ignore-in-object-files
#include <stdlib.h>
#include "ringlb_call.h"
#include "ringlb.h"
void ringlb_go_started(void);
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/redis/go-redis/v9"
	"github.com/ringlb/ringlb/lb"
	"github.com/ringlb/ringlb/ring"
)

func main() {}

func init() {
	// Inside the switch, go-redis must not write to the switch's stderr:
	// every failure already reaches the caller as an error.
	redis.SetLogger(silentLogger{})
	// The runtime is up: the thread it was started on exists, so the
	// loading thread's scheduling policy can be given back (dispatch.c).
	C.ringlb_go_started()
}

// ringlbgo_call serves one request. It never panics into C: a panic becomes
// RINGLB_EINTERNAL with its message.
//
//export ringlbgo_call
func ringlbgo_call(c *C.struct_ringlb_call) {
	defer func() {
		if r := recover(); r != nil {
			setErr(c, C.RINGLB_EINTERNAL, fmt.Sprintf("ringlb: internal error: %v: %s", r, firstLines(debug.Stack(), 12)))
		}
	}()
	c.rc = C.RINGLB_OK
	if err := serve(c); err != nil {
		setErr(c, codeOf(err), err.Error())
	}
}

// serve runs the request's operation.
func serve(c *C.struct_ringlb_call) error {
	ctx := context.Background()
	switch c.op {
	case C.RINGLB_OP_NOOP:
		return nil
	case C.RINGLB_OP_OPEN:
		return serveOpen(c)
	case C.RINGLB_OP_DIALSTRING:
		return serveDialString(c)
	case C.RINGLB_OP_LIST:
		var b strings.Builder
		for _, name := range lb.Default.Names() {
			b.WriteString(name)
			b.WriteByte('\n')
		}
		*c.pout = C.CString(b.String())
		return nil
	case C.RINGLB_OP_GET:
		n := lb.Default.Lookup(goStr(c.s1))
		if n == nil {
			return errUnknownName(goStr(c.s1))
		}
		*c.hout = C.uint64_t(n.ID)
		return nil
	}
	b := lb.Default.Get(uint64(c.handle))
	if b == nil {
		return errUnknownHandle(uint64(c.handle))
	}
	switch c.op {
	case C.RINGLB_OP_ORDER:
		dests, err := strList(c.a, c.n, "destination")
		if err != nil {
			return fmt.Errorf("ringlb: order: %w", err)
		}
		out, err := b.Order(ctx, dests)
		if err != nil {
			return err
		}
		idx := unsafe.Slice(c.iout, len(dests))
		for i, d := range out {
			idx[i] = C.int(indexOf(dests, d))
		}
		*c.iout2 = C.int(len(out))
	case C.RINGLB_OP_NEXT:
		dests, err := strList(c.a, c.n, "destination")
		if err != nil {
			return fmt.Errorf("ringlb: next: %w", err)
		}
		d, err := b.Next(ctx, dests, goStr(c.s2))
		if err != nil {
			return err
		}
		*c.iout = C.int(indexOf(dests, d))
	case C.RINGLB_OP_ACQUIRE:
		added, err := b.Acquire(ctx, goStr(c.s1), goStr(c.s2))
		if err != nil {
			return err
		}
		*c.iout = boolInt(added)
	case C.RINGLB_OP_RELEASE:
		removed, err := b.Release(ctx, goStr(c.s1), goStr(c.s2))
		if err != nil {
			return err
		}
		*c.iout = boolInt(removed)
	case C.RINGLB_OP_LOAD:
		dests, err := strList(c.a, c.n, "destination")
		if err != nil {
			return fmt.Errorf("ringlb: load: %w", err)
		}
		loads, err := b.Load(ctx, dests)
		if err != nil {
			return err
		}
		out := unsafe.Slice(c.lout, len(dests))
		for i, n := range loads {
			out[i] = C.int64_t(n)
		}
	case C.RINGLB_OP_DRAIN:
		if c.ival != 0 {
			return b.Drain(ctx, goStr(c.s1))
		}
		return b.Undrain(ctx, goStr(c.s1))
	case C.RINGLB_OP_RESET:
		n, err := b.Reset(ctx, goStr(c.s1))
		if err != nil {
			return err
		}
		*c.iout = C.int(n)
	case C.RINGLB_OP_SNAPSHOT:
		s, err := b.Snapshot(ctx)
		if err != nil {
			return err
		}
		s.Name = b.Name
		text, err := formatSnapshot(s, int(c.ival))
		if err != nil {
			return err
		}
		*c.pout = C.CString(text)
	default:
		return fmt.Errorf("%w: unknown operation %d", lb.ErrInvalidArgument, int(c.op))
	}
	return nil
}

func serveOpen(c *C.struct_ringlb_call) error {
	name := goStr(c.s1)
	if c.n < 0 || c.n > C.RINGLB_MAX_OPTIONS {
		return fmt.Errorf("ringlb: open %q: %w: %d options", name, lb.ErrInvalidArgument, int(c.n))
	}
	keys, err := strList(c.a, c.n, "option key")
	if err != nil {
		return fmt.Errorf("ringlb: open %q: %w", name, err)
	}
	vals, err := strList(c.b, c.n, "option value")
	if err != nil {
		return fmt.Errorf("ringlb: open %q: %w", name, err)
	}
	pairs := make([][2]string, len(keys))
	for i := range keys {
		// Options may be kept by the balancer: copy them out of C memory.
		pairs[i] = [2]string{strings.Clone(keys[i]), strings.Clone(vals[i])}
	}
	opts, err := lb.ParseOptions(pairs)
	if err != nil {
		return fmt.Errorf("ringlb: open %q: %w", name, err)
	}
	n, err := lb.Default.Open(strings.Clone(name), opts)
	if err != nil {
		return err
	}
	*c.hout = C.uint64_t(n.ID)
	return nil
}

func serveDialString(c *C.struct_ringlb_call) error {
	legs, err := strList(c.a, c.n, "leg")
	if err != nil {
		return fmt.Errorf("ringlb: dialstring: %w", err)
	}
	keys, err := strList(c.b, c.nb, "variable name")
	if err != nil {
		return fmt.Errorf("ringlb: dialstring: %w", err)
	}
	vals, err := strList(c.c, c.nb, "variable value")
	if err != nil {
		return fmt.Errorf("ringlb: dialstring: %w", err)
	}
	vars := make([][2]string, len(keys))
	for i := range keys {
		vars[i] = [2]string{keys[i], vals[i]}
	}
	s, err := ring.DialString(legs, ring.Separator(c.ival), vars, int(c.ival2))
	if err != nil {
		return err
	}
	*c.pout = C.CString(s)
	return nil
}

// silentLogger drops go-redis's internal log lines.
type silentLogger struct{}

func (silentLogger) Printf(context.Context, string, ...any) {}

// errHandle is an unknown balancer handle.
type errHandle uint64

func (e errHandle) Error() string {
	return fmt.Sprintf("ringlb: unknown balancer handle %d", uint64(e))
}

func errUnknownHandle(h uint64) error { return errHandle(h) }

// errName is a balancer name not open in this process.
type errName string

func (e errName) Error() string {
	return fmt.Sprintf("ringlb: no balancer named %q is open in this process", string(e))
}

func errUnknownName(name string) error { return errName(name) }

// codeOf maps an error to its RINGLB_E* code.
func codeOf(err error) C.int {
	var h errHandle
	var nm errName
	switch {
	case errors.Is(err, lb.ErrNoDestinations):
		return C.RINGLB_ENODEST
	case errors.Is(err, lb.ErrAtCapacity):
		return C.RINGLB_EFULL
	case errors.Is(err, lb.ErrDrained):
		return C.RINGLB_EDRAINED
	case errors.Is(err, lb.ErrOptionsMismatch):
		return C.RINGLB_EMISMATCH
	case errors.Is(err, lb.ErrBackend):
		return C.RINGLB_EBACKEND
	case errors.Is(err, lb.ErrClosed):
		return C.RINGLB_ECLOSED
	case errors.As(err, &h), errors.As(err, &nm):
		return C.RINGLB_EHANDLE
	case errors.Is(err, lb.ErrInvalidArgument), errors.Is(err, ring.ErrInvalid):
		return C.RINGLB_EINVAL
	}
	return C.RINGLB_EINTERNAL
}

// setErr stores rc and as much of msg as fits into the caller's buffer.
func setErr(c *C.struct_ringlb_call, rc C.int, msg string) {
	c.rc = rc
	if c.err == nil || c.errlen == 0 {
		return
	}
	buf := unsafe.Slice((*byte)(unsafe.Pointer(c.err)), int(c.errlen))
	n := copy(buf[:len(buf)-1], msg)
	buf[n] = 0
}

// goStr returns a view of a NUL-terminated C string, without copying. The
// view is valid only during the request; lb copies what it keeps.
func goStr(p *C.char) string {
	if p == nil {
		return ""
	}
	n := 0
	for *(*byte)(unsafe.Add(unsafe.Pointer(p), n)) != 0 {
		n++
	}
	return unsafe.String((*byte)(unsafe.Pointer(p)), n)
}

// strList views a C array of n strings. A NULL array or element is an
// error naming what it is.
func strList(p **C.char, n C.int, what string) ([]string, error) {
	if n < 0 || n > lb.MaxDestinations && what == "destination" {
		return nil, fmt.Errorf("%w: %d %ss (at most %d)", lb.ErrInvalidArgument, int(n), what, lb.MaxDestinations)
	}
	if n == 0 {
		return []string{}, nil
	}
	if p == nil {
		return nil, fmt.Errorf("%w: NULL %s array", lb.ErrInvalidArgument, what)
	}
	ptrs := unsafe.Slice(p, int(n))
	out := make([]string, len(ptrs))
	for i, s := range ptrs {
		if s == nil {
			return nil, fmt.Errorf("%w: %s %d is NULL", lb.ErrInvalidArgument, what, i+1)
		}
		out[i] = goStr(s)
	}
	return out, nil
}

// indexOf returns the first position of d in dests. The balancer returns
// elements of dests, so it is always found.
func indexOf(dests []string, d string) int {
	for i, x := range dests {
		if x == d {
			return i
		}
	}
	panic("ringlb: balancer returned a destination it was not given: " + strconv.Quote(d))
}

func boolInt(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// formatSnapshot renders a snapshot as the TSV lines ringlb.h describes
// (format 0) or JSON (format 1).
func formatSnapshot(s lb.Snapshot, format int) (string, error) {
	switch format {
	case 0:
		var b strings.Builder
		fmt.Fprintf(&b, "B\t%s\t%s\n", s.Name, s.Backend)
		for _, d := range s.Destinations {
			fmt.Fprintf(&b, "D\t%s\t%d\t%d\t%d\t%d\t%d\n", d.Dest, d.Active, d.Capacity, boolInt(d.Drained), d.Started, unixOrZero(d.LastHold))
		}
		for _, h := range s.Holds {
			fmt.Fprintf(&b, "H\t%s\t%s\t%s\t%d\t%d\n", h.Dest, h.CallID, h.Node, unixOrZero(h.Start), unixOrZero(h.Expires))
		}
		return b.String(), nil
	case 1:
		return s.JSON()
	}
	return "", fmt.Errorf("%w: snapshot format %d (want 0 or 1)", lb.ErrInvalidArgument, format)
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// firstLines keeps the start of a stack trace for an error message.
func firstLines(b []byte, n int) string {
	lines := strings.SplitN(string(b), "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " | ")
}
