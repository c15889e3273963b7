// Command ringlb is built with -buildmode=c-shared into ringlb.so: the C ABI
// of cgo/ringlb.h and the Lua module luaopen_ringlb, over the balancer core
// in lb/ and the ring-group logic in ring/.
//
// Go code here runs only on threads that are safe for it: ringlb's own
// SCHED_OTHER worker threads, or non-realtime callers (see
// docs/realtime.md). The C side (cgo/dispatch.c) fills a request of the
// operation's own type (cgo/ringlb_call.h) and runs its ringlbgo_<op>.
package main

/*
#cgo CFLAGS: -O2 -Wall -I${SRCDIR}/cgo
#include <stdlib.h>
#include "ringlb_call.h"
#include "ringlb.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/redis/go-redis/v9"
	_ "github.com/ringlb/ringlb/cgo" // the C shim: the C ABI and the Lua module
	"github.com/ringlb/ringlb/internal/hostlog"
	"github.com/ringlb/ringlb/internal/metrics"
	"github.com/ringlb/ringlb/internal/version"
	"github.com/ringlb/ringlb/lb"
	_ "github.com/ringlb/ringlb/lb/redislb" // the Redis backend, which a url selects
	"github.com/ringlb/ringlb/ring"
)

func main() {}

// The limits in ringlb.h are the lb package's: this fails to compile if
// they differ (a negative constant does not convert to uint).
const (
	_ = uint(C.RINGLB_MAX_DESTINATIONS-lb.MaxDestinations) + uint(lb.MaxDestinations-C.RINGLB_MAX_DESTINATIONS)
	_ = uint(C.RINGLB_MAX_OPTIONS-lb.MaxOptions) + uint(lb.MaxOptions-C.RINGLB_MAX_OPTIONS)
)

// RINGLB_VERSION (ringlb._VERSION, ringlb_version()) is version.Version:
// if they differ, the map literal has the key false twice and this fails
// to compile ("duplicate key false in map literal").
func _() { _ = map[bool]int{false: 0, C.RINGLB_VERSION == version.Version: 1} }

func init() {
	// Inside the switch, go-redis must not write to the switch's stderr:
	// every failure already reaches the caller as an error.
	redis.SetLogger(silentLogger{})
	// ringlb's own log lines go to the switch's log (cgo/hostlog.c).
	hostlog.SetSink(hostLog)
	metrics.Pool = poolStats
	// The runtime is up: dispatch.c learns which signals it unblocks on
	// its threads and takes back the SA_ONSTACK it added to the host's
	// other handlers; then the handlers of those it unblocks are watched.
	C.ringlb_go_started()
	go watchSignalHandlers()
}

// Each ringlbgo_<op> serves one request of its own type (cgo/ringlb_call.h)
// and never panics into C: guard turns a panic into RINGLB_EINTERNAL with
// its message.

//export ringlbgo_noop
func ringlbgo_noop(st *C.struct_ringlb_status) { defer guard(st); finish(st, nil) }

//export ringlbgo_open
func ringlbgo_open(r *C.struct_ringlb_open_req) { defer guard(&r.st); finish(&r.st, open(r)) }

//export ringlbgo_get
func ringlbgo_get(r *C.struct_ringlb_get_req) { defer guard(&r.st); finish(&r.st, get(r)) }

//export ringlbgo_list
func ringlbgo_list(r *C.struct_ringlb_list_req) { defer guard(&r.st); finish(&r.st, list(r)) }

//export ringlbgo_order
func ringlbgo_order(r *C.struct_ringlb_order_req) { defer guard(&r.st); finish(&r.st, order(r)) }

//export ringlbgo_next
func ringlbgo_next(r *C.struct_ringlb_next_req) { defer guard(&r.st); finish(&r.st, next(r)) }

//export ringlbgo_acquire
func ringlbgo_acquire(r *C.struct_ringlb_hold_req) { defer guard(&r.st); finish(&r.st, acquire(r)) }

//export ringlbgo_release
func ringlbgo_release(r *C.struct_ringlb_hold_req) { defer guard(&r.st); finish(&r.st, release(r)) }

//export ringlbgo_answered
func ringlbgo_answered(r *C.struct_ringlb_hold_req) { defer guard(&r.st); finish(&r.st, answered(r)) }

//export ringlbgo_count
func ringlbgo_count(r *C.struct_ringlb_hold_req) { defer guard(&r.st); finish(&r.st, count(r)) }

//export ringlbgo_load
func ringlbgo_load(r *C.struct_ringlb_load_req) { defer guard(&r.st); finish(&r.st, load(r)) }

//export ringlbgo_drain
func ringlbgo_drain(r *C.struct_ringlb_drain_req) { defer guard(&r.st); finish(&r.st, drain(r)) }

//export ringlbgo_reset
func ringlbgo_reset(r *C.struct_ringlb_reset_req) { defer guard(&r.st); finish(&r.st, reset(r)) }

//export ringlbgo_snapshot
func ringlbgo_snapshot(r *C.struct_ringlb_snapshot_req) {
	defer guard(&r.st)
	finish(&r.st, snapshot(r))
}

//export ringlbgo_report
func ringlbgo_report(r *C.struct_ringlb_report_req) { defer guard(&r.st); finish(&r.st, report(r)) }

//export ringlbgo_dialstring
func ringlbgo_dialstring(r *C.struct_ringlb_dialstring_req) {
	defer guard(&r.st)
	finish(&r.st, dialString(r))
}

//export ringlbgo_metrics
func ringlbgo_metrics(r *C.struct_ringlb_metrics_req) {
	defer guard(&r.st)
	finish(&r.st, serveMetrics(r))
}

//export ringlbgo_fallback
func ringlbgo_fallback(r *C.struct_ringlb_fallback_req) {
	defer guard(&r.st)
	b, err := balancer(r.handle)
	if err == nil {
		b.NoteFallback()
	}
	finish(&r.st, err)
}

//export ringlbgo_ring_check
func ringlbgo_ring_check(r *C.struct_ringlb_ring_check_req) {
	defer guard(&r.st)
	finish(&r.st, ringCheck(r))
}

//export ringlbgo_ring_pick
func ringlbgo_ring_pick(r *C.struct_ringlb_ring_pick_req) {
	defer guard(&r.st)
	finish(&r.st, ringPick(r))
}

//export ringlbgo_ring_hold_all
func ringlbgo_ring_hold_all(r *C.struct_ringlb_ring_hold_all_req) {
	defer guard(&r.st)
	finish(&r.st, ringHoldAll(r))
}

//export ringlbgo_ring_reason
func ringlbgo_ring_reason(r *C.struct_ringlb_ring_reason_req) {
	defer guard(&r.st)
	finish(&r.st, ringReason(r))
}

// guard, deferred by every export, turns a panic into RINGLB_EINTERNAL.
func guard(st *C.struct_ringlb_status) {
	if p := recover(); p != nil {
		setErr(st, C.RINGLB_EINTERNAL, fmt.Sprintf("ringlb: internal error: %v: %s", p, firstLines(debug.Stack(), 12)))
	}
}

// finish records the outcome of a request: RINGLB_OK, or err's code and text.
func finish(st *C.struct_ringlb_status, err error) {
	st.rc = C.RINGLB_OK
	if err != nil {
		setErr(st, codeOf(err), err.Error())
	}
}

// callContext bounds a balancer operation by the deadline dispatch.c set
// (cgo/ringlb_call.h): the balancer's timeout from when the caller entered
// ringlb, so that the time it waited for a worker thread counts too. The
// backend's own per-operation timeout applies within it.
func callContext(st *C.struct_ringlb_status) (context.Context, context.CancelFunc) {
	if st.deadline_ns == 0 {
		return context.Background(), func() {}
	}
	return context.WithTimeout(context.Background(), time.Duration(st.deadline_ns-C.ringlb_mono_ns()))
}

// balancer returns the open balancer with handle h.
func balancer(h C.uint64_t) (*lb.Named, error) {
	if b := lb.Default.Get(uint64(h)); b != nil {
		return b, nil
	}
	return nil, errUnknownHandle(uint64(h))
}

func open(r *C.struct_ringlb_open_req) error {
	name := goStr(r.name)
	if r.nopts < 0 || r.nopts > lb.MaxOptions {
		return fmt.Errorf("ringlb: open %q: %w: %d options", name, lb.ErrInvalidArgument, int(r.nopts))
	}
	keys, err := strList(r.keys, r.nopts, "option key")
	if err != nil {
		return fmt.Errorf("ringlb: open %q: %w", name, err)
	}
	vals, err := strList(r.values, r.nopts, "option value")
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
	C.ringlb_set_timeout(C.uint64_t(n.ID), C.int64_t(n.Options.Timeout))
	*r.handle = C.uint64_t(n.ID)
	return nil
}

func get(r *C.struct_ringlb_get_req) error {
	n := lb.Default.Lookup(goStr(r.name))
	if n == nil {
		return errUnknownName(goStr(r.name))
	}
	*r.handle = C.uint64_t(n.ID)
	return nil
}

func list(r *C.struct_ringlb_list_req) error {
	var b strings.Builder
	for _, name := range lb.Default.Names() {
		b.WriteString(name)
		b.WriteByte('\n')
	}
	*r.out = C.CString(b.String())
	return nil
}

func order(r *C.struct_ringlb_order_req) error {
	b, err := balancer(r.handle)
	if err != nil {
		return err
	}
	dests, err := strList(r.dests, r.n, "destination")
	if err != nil {
		return fmt.Errorf("ringlb: order: %w", err)
	}
	ctx, cancel := callContext(&r.st)
	defer cancel()
	out, err := b.Order(ctx, dests)
	if err != nil {
		return err
	}
	idx := unsafe.Slice(r.order, len(dests))
	for i, d := range out {
		idx[i] = C.int(indexOf(dests, d))
	}
	*r.count = C.int(len(out))
	return nil
}

func next(r *C.struct_ringlb_next_req) error {
	b, err := balancer(r.handle)
	if err != nil {
		return err
	}
	dests, err := strList(r.dests, r.n, "destination")
	if err != nil {
		return fmt.Errorf("ringlb: next: %w", err)
	}
	ctx, cancel := callContext(&r.st)
	defer cancel()
	d, err := b.Next(ctx, dests, goStr(r.call_id))
	if err != nil {
		return err
	}
	*r.chosen = C.int(indexOf(dests, d))
	return nil
}

// holdOp runs op, one of the balancer's operations on one destination and
// one call, for a hold request.
func holdOp(r *C.struct_ringlb_hold_req, op func(lb.Balancer, context.Context, string, string) (bool, error)) error {
	b, err := balancer(r.handle)
	if err != nil {
		return err
	}
	ctx, cancel := callContext(&r.st)
	defer cancel()
	changed, err := op(b, ctx, goStr(r.dest), goStr(r.call_id))
	*r.changed = boolInt(changed)
	return err
}

func acquire(r *C.struct_ringlb_hold_req) error  { return holdOp(r, lb.Balancer.Acquire) }
func count(r *C.struct_ringlb_hold_req) error    { return holdOp(r, lb.Balancer.Count) }
func release(r *C.struct_ringlb_hold_req) error  { return holdOp(r, lb.Balancer.Release) }
func answered(r *C.struct_ringlb_hold_req) error { return holdOp(r, lb.Balancer.Answered) }

func load(r *C.struct_ringlb_load_req) error {
	b, err := balancer(r.handle)
	if err != nil {
		return err
	}
	dests, err := strList(r.dests, r.n, "destination")
	if err != nil {
		return fmt.Errorf("ringlb: load: %w", err)
	}
	ctx, cancel := callContext(&r.st)
	defer cancel()
	loads, err := b.Load(ctx, dests)
	if err != nil {
		return err
	}
	out := unsafe.Slice(r.loads, len(dests))
	for i, n := range loads {
		out[i] = C.int64_t(n)
	}
	return nil
}

func drain(r *C.struct_ringlb_drain_req) error {
	b, err := balancer(r.handle)
	if err != nil {
		return err
	}
	ctx, cancel := callContext(&r.st)
	defer cancel()
	if r.drained != 0 {
		return b.Drain(ctx, goStr(r.dest))
	}
	return b.Undrain(ctx, goStr(r.dest))
}

func reset(r *C.struct_ringlb_reset_req) error {
	b, err := balancer(r.handle)
	if err != nil {
		return err
	}
	ctx, cancel := callContext(&r.st)
	defer cancel()
	n, err := b.Reset(ctx, goStr(r.dest))
	*r.dropped = C.int(n)
	return err
}

func snapshot(r *C.struct_ringlb_snapshot_req) error {
	b, err := balancer(r.handle)
	if err != nil {
		return err
	}
	s, err := b.Snapshot(context.Background())
	if err != nil {
		return err
	}
	s.Name = b.Name
	text, err := formatSnapshot(s, int(r.format))
	if err != nil {
		return err
	}
	*r.out = C.CString(text)
	return nil
}

func report(r *C.struct_ringlb_report_req) error {
	b, err := balancer(r.handle)
	if err != nil {
		return err
	}
	dests, err := strList(r.dests, r.n, "destination")
	if err != nil {
		return fmt.Errorf("ringlb: report: %w", err)
	}
	s, err := b.Snapshot(context.Background())
	if err != nil {
		return err
	}
	s.Name = b.Name
	var text strings.Builder
	switch r.kind {
	case C.RINGLB_REPORT_STATUS:
		err = lb.WriteStatus(&text, s, time.Now(), lb.StatusOptions{Capacity: true})
	case C.RINGLB_REPORT_HOLDS:
		err = lb.WriteHolds(&text, s, time.Now(), dests)
	default:
		err = fmt.Errorf("ringlb: report: %w: kind %d (want %d status or %d holds)", lb.ErrInvalidArgument,
			int(r.kind), C.RINGLB_REPORT_STATUS, C.RINGLB_REPORT_HOLDS)
	}
	if err != nil {
		return err
	}
	*r.out = C.CString(text.String())
	return nil
}

func dialString(r *C.struct_ringlb_dialstring_req) error {
	legs, err := strList(r.legs, r.nlegs, "leg")
	if err != nil {
		return fmt.Errorf("ringlb: dialstring: %w", err)
	}
	keys, err := strList(r.keys, r.nvars, "variable name")
	if err != nil {
		return fmt.Errorf("ringlb: dialstring: %w", err)
	}
	vals, err := strList(r.values, r.nvars, "variable value")
	if err != nil {
		return fmt.Errorf("ringlb: dialstring: %w", err)
	}
	vars := make([][2]string, len(keys))
	for i := range keys {
		vars[i] = [2]string{keys[i], vals[i]}
	}
	s, err := ring.TaggedDialString(legs, ring.Separator(r.sep), vars, int(r.leg_timeout), goStr(r.tag))
	if err != nil {
		return err
	}
	*r.out = C.CString(s)
	return nil
}

// metricsDown is the metrics endpoint not serving as asked (port in use, bad
// address, another address already served). Each ring asks again until it
// serves, so it is logged when it starts and when it ends, never per ring.
var metricsDown hostlog.Condition

func serveMetrics(r *C.struct_ringlb_metrics_req) error {
	asked := goStr(r.addr)
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
	buf := unsafe.Slice((*byte)(unsafe.Pointer(r.bound)), int(r.boundlen))
	buf[copy(buf[:len(buf)-1], addr)] = 0
	return nil
}

// poolStats reads the worker pool's figures from dispatch.c.
func poolStats() metrics.PoolStats {
	var workers C.int
	var n, waitNs C.uint64_t
	C.ringlb_pool_stats(&workers, &n, &waitNs)
	return metrics.PoolStats{Workers: int(workers), HandOffs: uint64(n), HandOffSeconds: float64(waitNs) / 1e9,
		UnsafeSignalHandlers: checkSignalHandlers()}
}

func ringCheck(r *C.struct_ringlb_ring_check_req) error {
	mode, err := ring.ParseMode(goStr(r.mode))
	if err != nil {
		return err
	}
	policy, err := ring.ParseBackendPolicy(goStr(r.on_backend_error))
	if err != nil {
		return err
	}
	timeout, err := ring.ParseTimeout(float64(r.timeout))
	if err != nil {
		return err
	}
	dests, err := strList(r.dests, r.n, "destination")
	if err != nil {
		return fmt.Errorf("ringlb: ring: %w", err)
	}
	o := ring.Options{Mode: mode, Timeout: timeout, OnBackendError: policy, Balancer: r.balancer != nil}
	members, err := ring.Check(o, dests, goStr(r.balancer))
	if err != nil {
		return err
	}
	out := unsafe.Slice(r.members, len(dests))
	for i, m := range members {
		out[i] = C.int(indexOf(dests, m))
	}
	*r.count = C.int(len(members))
	*r.timeout_s = C.int(o.TimeoutSeconds())
	return nil
}

func ringPick(r *C.struct_ringlb_ring_pick_req) error {
	b, err := balancer(r.handle)
	if err != nil {
		return err
	}
	mode, err := ring.ParseMode(goStr(r.mode))
	if err != nil {
		return err
	}
	dests, err := strList(r.dests, r.n, "destination")
	if err != nil {
		return fmt.Errorf("ringlb: ring: pick: %w", err)
	}
	ctx, cancel := callContext(&r.st)
	defer cancel()
	d, skipped, err := ring.Pick(ctx, b, mode, dests, goStr(r.call_id))
	flags := unsafe.Slice(r.skipped, len(dests))
	for i, x := range dests {
		flags[i] = boolInt(slices.Contains(skipped, x))
	}
	if err != nil {
		return err
	}
	if d != "" {
		*r.chosen = C.int(indexOf(dests, d))
	}
	return nil
}

func ringHoldAll(r *C.struct_ringlb_ring_hold_all_req) error {
	b, err := balancer(r.handle)
	if err != nil {
		return err
	}
	dests, err := strList(r.dests, r.n, "destination")
	if err != nil {
		return fmt.Errorf("ringlb: ring: hold_all: %w", err)
	}
	ctx, cancel := callContext(&r.st)
	defer cancel()
	states, err := ring.HoldAll(ctx, b, dests, goStr(r.call_id))
	out := unsafe.Slice(r.states, len(dests))
	for i, s := range states {
		out[i] = C.int(s)
	}
	return err
}

func ringReason(r *C.struct_ringlb_ring_reason_req) error {
	causes, err := strList(r.causes, r.n, "cause")
	if err != nil {
		return fmt.Errorf("ringlb: ring: reason: %w", err)
	}
	reason, _ := ring.Reason(causes) // the last cause is causes[n-1], told as an index
	buf := unsafe.Slice((*byte)(unsafe.Pointer(r.reason)), int(r.reasonlen))
	buf[copy(buf[:len(buf)-1], reason)] = 0
	*r.last = C.int(len(causes) - 1)
	return nil
}

// hostLog writes one line to the host's log (cgo/hostlog.c).
func hostLog(level hostlog.Level, line string) {
	cs := C.CString(line)
	defer C.free(unsafe.Pointer(cs))
	C.ringlb_host_log(C.int(level), cs)
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

// errorCodes maps the sentinel errors callers can test to RINGLB_E* codes,
// first match wins.
var errorCodes = []struct {
	err  error
	code C.int
}{
	{lb.ErrNoDestinations, C.RINGLB_ENODEST},
	{lb.ErrAtCapacity, C.RINGLB_EFULL},
	{lb.ErrDrained, C.RINGLB_EDRAINED},
	{lb.ErrOptionsMismatch, C.RINGLB_EMISMATCH},
	{lb.ErrBackend, C.RINGLB_EBACKEND},
	{lb.ErrClosed, C.RINGLB_ECLOSED},
	{lb.ErrInvalidArgument, C.RINGLB_EINVAL},
	{metrics.ErrServing, C.RINGLB_EINVAL},
	{ring.ErrInvalid, C.RINGLB_EINVAL},
}

// codeOf maps an error to its RINGLB_E* code; an error it does not know is
// an internal one.
func codeOf(err error) C.int {
	var h errHandle
	var nm errName
	if errors.As(err, &h) || errors.As(err, &nm) {
		return C.RINGLB_EHANDLE
	}
	for _, e := range errorCodes {
		if errors.Is(err, e.err) {
			return e.code
		}
	}
	return C.RINGLB_EINTERNAL
}

// setErr stores rc and as much of msg as fits into the caller's buffer.
func setErr(st *C.struct_ringlb_status, rc C.int, msg string) {
	st.rc = rc
	if st.err == nil || st.errlen == 0 {
		return
	}
	buf := unsafe.Slice((*byte)(unsafe.Pointer(st.err)), int(st.errlen))
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

// The member states of ringlb.h are ring.MemberState's values.
const (
	_ = uint(C.RINGLB_MEMBER_HELD-int(ring.Held)) + uint(int(ring.Held)-C.RINGLB_MEMBER_HELD)
	_ = uint(C.RINGLB_MEMBER_SKIPPED-int(ring.Skipped)) + uint(int(ring.Skipped)-C.RINGLB_MEMBER_SKIPPED)
	_ = uint(C.RINGLB_MEMBER_UNHELD-int(ring.Unheld)) + uint(int(ring.Unheld)-C.RINGLB_MEMBER_UNHELD)
)
