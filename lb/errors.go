package lb

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Sentinel errors. Test for them with errors.Is. Their text has no package
// prefix because they are always returned wrapped, as
// "ringlb: <op> <dest>: <sentinel>: <detail>".
var (
	// ErrNoDestinations is returned by Next for an empty destination list.
	ErrNoDestinations = errors.New("no destinations")
	// ErrAtCapacity means every destination offered is full, drained, in
	// wrap-up or out for no answer (Options.MaxNoAnswer) (Next), or the one
	// destination is full (Acquire).
	ErrAtCapacity = errors.New("all destinations at capacity, drained, in wrap-up or out for no answer")
	// ErrDrained is returned by Acquire for a drained destination.
	ErrDrained = errors.New("destination drained")
	// ErrInvalidArgument is bad input: an empty or oversized destination or
	// call id, too many destinations, a malformed option.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrOptionsMismatch is returned when a balancer name is opened again
	// with options other than those it was first opened with.
	ErrOptionsMismatch = errors.New("balancer already open with other options")
	// ErrBackend wraps failures of the shared store (Redis down, timeout).
	ErrBackend = errors.New("backend unavailable")
	// ErrClosed is returned by a balancer after Close.
	ErrClosed = errors.New("balancer closed")
)

// Limits on input, so a broken script cannot make the balancer allocate
// without bound: this is their one home. ringlb.h repeats some for C
// callers and the Lua module, and exports.go fails to compile if the two
// ever differ; the store backends pass theirs to their scripts.
const (
	// MaxDestinations is the most destinations one call may pass.
	MaxDestinations = 1024
	// MaxDestLen is the longest destination, in bytes.
	MaxDestLen = 512
	// MaxCallIDLen is the longest call id, in bytes.
	MaxCallIDLen = 256
	// MaxNameLen is the longest balancer name, node name and key prefix,
	// in bytes.
	MaxNameLen = 128
	// MaxOptions is the most option pairs one open may pass.
	MaxOptions = 2048
	// MaxBalancers is the most balancers a Registry holds open at once, of
	// every backend: balancer names come from dialplans, so without a
	// bound each new name would cost memory for the life of the process.
	MaxBalancers = 4096
	// MaxURLLen is the longest URL, in bytes. It is checked before
	// anything else of a URL is read, so no URL costs more than a bounded
	// amount of work.
	MaxURLLen = 4096
)

// errClosed is ErrClosed with the package prefix.
var errClosed = fmt.Errorf("ringlb: %w", ErrClosed)

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidArgument, fmt.Sprintf(format, args...))
}

// TextFault says what keeps s from being a name that ringlb keeps, passes
// on or shows: a destination, call id, node, balancer name or key prefix.
// It returns "has a control character" (NUL, newline, DEL, ...: a C string
// ends at NUL, and the others break dial strings, logs and the snapshot's
// tab-separated form), "is not valid UTF-8" (the Prometheus exposition,
// JSON and the switch's logs want UTF-8), or "" when s can be a name.
// Emptiness and length are the caller's to check. Every name passes here,
// through checkText or, in package ring, directly.
func TextFault(s string) string {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return "has a control character"
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return "is not valid UTF-8"
		}
		i += n
	}
	return ""
}

// CheckName validates a balancer name: what checkText refuses, braces
// (a store's keys carry the name inside a hash tag) and "::" (the switch
// splits a hangup hook command at its first ':' when a second follows,
// and the ring helper puts the balancer name first in the hook that
// releases its holds).
func CheckName(name string) error {
	if err := checkText("balancer name", name, MaxNameLen); err != nil {
		return err
	}
	if strings.ContainsAny(name, "{}") {
		return invalidf("balancer name %q has a brace", name)
	}
	if strings.Contains(name, "::") {
		return invalidf("balancer name %q holds \"::\", where the switch would cut the hangup hook", name)
	}
	return nil
}

// checkText validates a destination, call id, node or balancer name: not
// empty, at most max bytes, and no TextFault.
func checkText(what, s string, max int) error {
	switch {
	case s == "":
		return invalidf("empty %s", what)
	case len(s) > max:
		return invalidf("%s of %d bytes (at most %d)", what, len(s), max)
	}
	if f := TextFault(s); f != "" {
		return invalidf("%s %q %s", what, s, f)
	}
	return nil
}

// The checks every backend makes of its input, with the same errors.

// checkCount rejects a list of more than MaxDestinations destinations.
func checkCount(n int) error {
	if n > MaxDestinations {
		return invalidf("%d destinations (at most %d)", n, MaxDestinations)
	}
	return nil
}

// CheckDest validates one destination.
func CheckDest(dest string) error { return checkText("destination", dest, MaxDestLen) }

// CheckHold checks the destination and call id of operation op (acquire,
// count, release, answered), with errors that name the operation.
func CheckHold(op, dest, callID string) error {
	if err := CheckDest(dest); err != nil {
		return fmt.Errorf("ringlb: %s: %w", op, err)
	}
	if err := CheckCallID(callID); err != nil {
		return fmt.Errorf("ringlb: %s %q: %w", op, dest, err)
	}
	return nil
}

// CheckCallID validates one call id.
func CheckCallID(callID string) error { return checkText("call id", callID, MaxCallIDLen) }

// CheckDests validates a destination list.
func CheckDests(dests []string) error {
	if err := checkCount(len(dests)); err != nil {
		return err
	}
	for _, d := range dests {
		if err := CheckDest(d); err != nil {
			return err
		}
	}
	return nil
}

// UniqueMembers validates dests and returns the member key of each member
// they name, once, in the order first named (keys), and the destination
// that first named it (named): user/1001 and user/1001@example.com are one
// member unless u is DomainsKeep. In the usual case, no duplicate and no
// name to map, both are dests itself: nothing is allocated.
func UniqueMembers(dests []string, u UserDomains) (keys, named []string, err error) {
	if err := CheckDests(dests); err != nil {
		return nil, nil, err
	}
	keys = dests
	for i, d := range dests {
		if k := u.MemberKey(d); k != d {
			if len(keys) > 0 && &keys[0] == &dests[0] {
				keys = slices.Clone(dests)
			}
			keys[i] = k
		}
	}
	if !hasDuplicates(keys) {
		return keys, dests, nil
	}
	seen := make(map[string]struct{}, len(keys))
	outKeys := make([]string, 0, len(keys))
	named = make([]string, 0, len(keys))
	for i, k := range keys {
		if _, ok := seen[k]; ok {
			continue
		}
		seen[k] = struct{}{}
		outKeys = append(outKeys, k)
		named = append(named, dests[i])
	}
	return outKeys, named, nil
}

// hasDuplicates reports whether a string appears twice in xs: by pairs for
// short lists, with a map for long ones.
func hasDuplicates(xs []string) bool {
	if len(xs) > 32 {
		seen := make(map[string]struct{}, len(xs))
		for _, x := range xs {
			if _, ok := seen[x]; ok {
				return true
			}
			seen[x] = struct{}{}
		}
		return false
	}
	for i := 1; i < len(xs); i++ {
		for j := 0; j < i; j++ {
			if xs[i] == xs[j] {
				return true
			}
		}
	}
	return false
}
