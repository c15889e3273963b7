package main

/*
#include <stdlib.h>
#include "ringlb_call.h"
*/
import "C"

import (
	"context"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/ringlb/ringlb/lb"
)

// call is one request served by its ringlbgo_<op> (abi_gen.go): the export
// enters it, reads the request's arguments through it into Go values,
// passes them to the operation's handler, records the handler's error with
// done, and exits it (deferred), which ends the call's context.
//
// An argument that cannot be read (an unknown handle, a NULL array, a
// count out of range) ends the call before the handler runs: the method
// reading it panics with a callError, which exit recovers as the call's
// error, the way encoding/json unwinds its own errors. So the generated
// code reads every argument in one expression. Any other panic is a bug,
// recovered as RINGLB_EINTERNAL: nothing panics into C.
type call struct {
	st     *C.struct_ringlb_status
	op     string
	cancel context.CancelFunc
}

// callError is an argument the call could not read.
type callError struct{ err error }

// enter starts serving the request whose status is st, operation op.
func enter(st *C.struct_ringlb_status, op string) call { return call{st: st, op: op} }

// exit ends the call: deferred by every export, it records a panic as the
// call's error.
func (c *call) exit() {
	if c.cancel != nil {
		c.cancel()
	}
	p := recover()
	if p == nil {
		return
	}
	if e, ok := p.(callError); ok {
		finish(c.st, e.err)
		return
	}
	setErr(c.st, C.RINGLB_EINTERNAL, fmt.Sprintf("ringlb: %s: internal error: %v: %s", c.op, p,
		firstLines(debug.Stack(), 12)))
}

// done records the outcome of the handler: RINGLB_OK, or err's code and text.
func (c *call) done(err error) { finish(c.st, err) }

// ctx bounds a balancer operation by the deadline dispatch.c set
// (ringlb_status.deadline_ns): the balancer's timeout from when the caller
// entered ringlb, so that the time it waited for a worker thread counts
// too. The backend's own per-operation timeout applies within it.
func (c *call) ctx() context.Context {
	if c.st.deadline_ns == 0 {
		return context.Background()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(c.st.deadline_ns-C.ringlb_mono_ns()))
	c.cancel = cancel
	return ctx
}

// fail ends the call with err, prefixed with the operation's name.
func (c *call) fail(format string, args ...any) {
	panic(callError{fmt.Errorf("ringlb: %s: %w: %s", c.op, lb.ErrInvalidArgument, fmt.Sprintf(format, args...))})
}

// balancer returns the open balancer with handle h.
func (c *call) balancer(h C.uint64_t) *lb.Named {
	if b := lb.Default.Get(uint64(h)); b != nil {
		return b
	}
	panic(callError{errUnknownHandle(uint64(h))})
}

// strs views the C array p of n strings, named name, whose count is
// named count: at most max of them, none NULL. The strings are views,
// valid during the call only; lb and ring copy what they keep.
func (c *call) strs(p **C.char, n C.int, name, count string, max int) []string {
	if n < 0 || int(n) > max {
		c.fail("%s is %d (0 to %d %s)", count, int(n), max, name)
	}
	if n == 0 {
		return []string{}
	}
	if p == nil {
		c.fail("%s is NULL", name)
	}
	ptrs := unsafe.Slice(p, int(n))
	out := make([]string, len(ptrs))
	for i, s := range ptrs {
		if s == nil {
			c.fail("%s[%d] is NULL", name, i)
		}
		out[i] = goStr(s)
	}
	return out
}

// goStr returns a view of a NUL-terminated C string ("" for NULL), without
// copying. The view is valid only during the request.
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

// outSlice views the caller's array of n results (nil when n <= 0).
func outSlice[T any](p *T, n C.int) []T {
	if n <= 0 || p == nil {
		return nil
	}
	return unsafe.Slice(p, int(n))
}

// outBytes views the caller's text buffer of n bytes.
func outBytes(p *C.char, n C.size_t) []byte {
	if p == nil || n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n))
}

// putText stores s in *out as a NUL-terminated text of C's heap, which the
// caller frees with ringlb_free.
func putText(out **C.char, s string) { *out = C.CString(s) }

// cfree frees memory of C's heap.
func cfree(p unsafe.Pointer) { C.free(p) }

// putBuf copies as much of s as fits into buf (ringlb_out_buf made sure
// it has room for the NUL), and the NUL.
func putBuf(buf []byte, s string) { buf[copy(buf[:len(buf)-1], s)] = 0 }

// putIndices writes the position in dests of each of picked to out and
// returns how many it wrote.
func putIndices(out []C.int, dests, picked []string) C.int {
	for i, d := range picked {
		out[i] = C.int(indexOf(dests, d))
	}
	return C.int(len(picked))
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

// firstLines keeps the start of a stack trace for an error message.
func firstLines(b []byte, n int) string {
	lines := strings.SplitN(string(b), "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " | ")
}
