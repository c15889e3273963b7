package main

/*
#include "ringlb_call.h"
#include "ringlb.h"
*/
import "C"

import (
	"errors"
	"fmt"

	"github.com/ringlb/ringlb/internal/metrics"
	"github.com/ringlb/ringlb/lb"
	"github.com/ringlb/ringlb/ring"
)

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

// finish records the outcome of a request: RINGLB_OK, or err's code and text.
func finish(st *C.struct_ringlb_status, err error) {
	st.rc = C.RINGLB_OK
	if err != nil {
		setErr(st, codeOf(err), err.Error())
	}
}

// setErr stores rc and as much of msg as fits into the caller's buffer.
func setErr(st *C.struct_ringlb_status, rc C.int, msg string) {
	st.rc = rc
	if st.err != nil && st.errlen > 0 {
		putBuf(outBytes(st.err, st.errlen), msg)
	}
}
