package redislb

import (
	"fmt"

	"github.com/ringlb/ringlb/lb"
)

// backendError is an error of Redis: it matches lb.ErrBackend and the
// underlying error with errors.Is, and names the operation.
type backendError struct {
	op  string
	err error
}

func (e *backendError) Error() string   { return fmt.Sprintf("ringlb: redis: %s: %v", e.op, e.err) }
func (e *backendError) Unwrap() []error { return []error{lb.ErrBackend, e.err} }

// errClosed is lb.ErrClosed as operations return it.
var errClosed = fmt.Errorf("ringlb: %w", lb.ErrClosed)

// Script replies come from outside the process: every value is checked
// before it is used, so a surprising reply is an error, never a panic.

func replyErr(op string, format string, args ...any) error {
	return &backendError{op: op, err: fmt.Errorf("unexpected script reply: "+format, args...)}
}

// int64s converts an array reply of integers: exactly n of them, or any
// number when n is negative.
func int64s(op string, v any, n int) ([]int64, error) {
	vals, ok := v.([]any)
	if !ok || n >= 0 && len(vals) != n {
		return nil, replyErr(op, "%T of %d, want %d integers", v, lenOf(v), n)
	}
	out := make([]int64, len(vals))
	for i, x := range vals {
		if out[i], ok = x.(int64); !ok {
			return nil, replyErr(op, "%v", vals)
		}
	}
	return out, nil
}

// stringsOf converts an array reply of strings.
func stringsOf(v any) ([]string, bool) {
	vals, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, len(vals))
	for i, x := range vals {
		s, ok := x.(string)
		if !ok {
			return nil, false
		}
		out[i] = s
	}
	return out, true
}

func lenOf(v any) int {
	if vals, ok := v.([]any); ok {
		return len(vals)
	}
	return -1
}
