// Package ring holds every rule of ringlb's ring groups that needs no
// switch: what a valid ring is and its canonical plan (Spec.Check, Plan),
// what a one-at-a-time ring does next and holding that member (NextTurn,
// Pick), holding every member of a parallel ring (HoldAll), how a ring that
// got no answer ended (Tally.Result), and FreeSWITCH dial strings built so
// that no value can break out of them (LegsDialString).
//
// The Lua helper (lua/ringlb/ring.lua) dispatches only on the plan and keeps
// only what talks to the session: originate, bridge, hangup hooks, channel
// variables and events; it asks this package, through the ringlb module, for
// every decision. The package has no cgo and no state; all functions are
// safe for simultaneous use by multiple goroutines.
package ring

import (
	"fmt"
	"strings"
	"time"
)

// Mode is how a ring group rings its members.
type Mode int

const (
	// ModeParallel rings every member at once; the first answer wins.
	ModeParallel Mode = iota
	// ModeSequential rings the members one at a time, in list order.
	ModeSequential
	// ModeBalancing rings one member at a time, choosing before each
	// attempt the least-loaded member not yet tried. It needs a balancer.
	ModeBalancing
)

// String returns the mode's name: parallel, sequential or balancing.
func (m Mode) String() string {
	switch m {
	case ModeParallel:
		return "parallel"
	case ModeSequential:
		return "sequential"
	case ModeBalancing:
		return "balancing"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode parses parallel, sequential or balancing (case-insensitive,
// surrounding spaces ignored).
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "parallel":
		return ModeParallel, nil
	case "sequential":
		return ModeSequential, nil
	case "balancing":
		return ModeBalancing, nil
	}
	return 0, fmt.Errorf("ringlb: ring: mode %q (want parallel, sequential or balancing): %w", s, ErrInvalid)
}

// BackendPolicy is what a ring does when the balancer's shared store fails.
type BackendPolicy int

const (
	// Fallback rings the members in static list order and logs the error,
	// as an operator expects of a PBX. It is the default.
	Fallback BackendPolicy = iota
	// Fail ends the ring with reason "backend_error".
	Fail
)

// String returns the policy's name: fallback or fail.
func (p BackendPolicy) String() string {
	switch p {
	case Fallback:
		return "fallback"
	case Fail:
		return "fail"
	}
	return fmt.Sprintf("BackendPolicy(%d)", int(p))
}

// ParseBackendPolicy parses fallback or fail; "" is fallback.
func ParseBackendPolicy(s string) (BackendPolicy, error) {
	switch s {
	case "", "fallback":
		return Fallback, nil
	case "fail":
		return Fail, nil
	}
	return 0, fmt.Errorf("ringlb: ring: on_backend_error %q (want fallback or fail): %w", s, ErrInvalid)
}

// DefaultTimeout is how long a turn rings when the Spec gives no timeout.
const DefaultTimeout = 30 * time.Second

// MaxTimeout is the longest turn a Spec may ask for.
const MaxTimeout = time.Hour
