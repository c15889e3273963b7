// Package lb is the ringlb balancer core: it orders the destinations of a
// ring group from least to most loaded and holds a destination for a call
// while that call is active (ringing or answered).
//
// Load is the number of calls holding a destination, whether ringing or
// answered (talking), in any balancer of its scope: every memory balancer
// of the process (see Scope), or every balancer of a store deployment
// (Redis: the same server and key prefix). A call held by two balancers
// (a ring group's and the call tracker's) counts once. Capacity, wrap-up,
// drains and tie scores are each balancer's own, applied to that load. A
// hold is keyed by
// (destination, call id): acquiring and releasing are idempotent, a release
// of something that is not held is harmless, and a count never goes below
// zero. Holds that nobody releases expire after Options.MaxHoldAge (memory)
// or when their lease is no longer renewed (Redis), so no count leaks.
//
// Memory, one process's balancer, is this package's own. A backend whose
// state several processes share lives in its own package and registers
// itself (RegisterBackend) for the URL schemes that select it: lb/redislb
// for Redis. Every backend behaves the same: one conformance suite
// (lb/lbtest) runs against each.
package lb

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Balancer orders destinations by load and holds them for calls. All methods
// are safe for simultaneous use by multiple goroutines.
//
// The strings passed in may be views of C memory that is freed when the call
// returns (the C ABI passes them without copying): an implementation copies
// any string it keeps. Returned strings are the caller's own.
type Balancer interface {
	// Order returns dests from least to most loaded, leaving out those that
	// are drained, in wrap-up, at capacity or out for no answer
	// (Options.MaxNoAnswer). A destination listed twice keeps its first
	// position. An empty list gives an empty result and no error.
	Order(ctx context.Context, dests []string) ([]string, error)

	// Next chooses the least-loaded destination of dests that has room and
	// holds it for callID, in one atomic step: two concurrent calls never
	// both take the last free slot. If callID already holds one of dests,
	// Next returns that one again without a second hold. It returns
	// ErrNoDestinations for an empty list and ErrAtCapacity when every
	// destination is full, drained, in wrap-up or out for no answer (a
	// member out for no answer that callID holds in another balancer of
	// the scope stays callID's choice).
	Next(ctx context.Context, dests []string, callID string) (string, error)

	// Acquire holds dest for callID. It reports false, without error, when
	// callID already held dest. It returns ErrDrained for a drained
	// destination and ErrAtCapacity for a full one.
	Acquire(ctx context.Context, dest, callID string) (bool, error)

	// Count holds dest for callID whatever its drain or capacity, for a
	// call that exists already (one the switch reports, not one ringlb
	// places): such a call loads its member even if the member is drained
	// or full. It reports false when callID already held dest.
	Count(ctx context.Context, dest, callID string) (bool, error)

	// Release drops the hold of callID on dest. It reports whether there was
	// one; releasing what is not held is not an error. When the hold was
	// answered, its member is not offered another call for its wrap-up
	// time.
	Release(ctx context.Context, dest, callID string) (bool, error)

	// Answered marks the hold of callID on dest as answered: it turns from
	// ringing to talking and counts once among the member's answered calls
	// (the basis of fewest ties). It reports whether it changed anything;
	// marking what is not held, or already answered, is not an error.
	Answered(ctx context.Context, dest, callID string) (bool, error)

	// Unanswered releases the hold of callID on dest as Release does, for
	// an offer that rang out unanswered: when the hold was still ringing,
	// the member ranks after its equally loaded peers for its no-answer
	// back-off (Options.NoAnswerBackoff), which doubles with each
	// unanswered offer in a row until it answers one; after
	// Options.MaxNoAnswer in a row it is not offered at all until the
	// back-off ends. It reports whether there was a hold.
	Unanswered(ctx context.Context, dest, callID string) (bool, error)

	// Away marks dest as absent without draining it (do-not-disturb, a
	// break): when it is next back, which its next answered call shows,
	// it rejoins as Rejoin says. A call that rings out does not show it
	// back: a member on a break may still be offered calls.
	Away(ctx context.Context, dest string) error

	// Rejoin marks dest as back from an absence: the next ranking that
	// includes it lifts its tie score (fewest, talk) to the mean of the
	// members it is ranked with, if below, so that it takes its share of
	// ties rather than all of them until it has caught up; and its
	// no-answer back-off ends, so a member out for no answer is offered
	// again at once. Undrain does the same.
	Rejoin(ctx context.Context, dest string) error

	// Load returns the active calls of each destination, in the order
	// given: the calls holding it in any balancer of the scope.
	Load(ctx context.Context, dests []string) ([]int, error)

	// Drain takes dest out of rotation: Next never chooses it and Order
	// leaves it out, while its current calls keep counting until they end.
	Drain(ctx context.Context, dest string) error

	// Undrain puts a drained destination back into rotation, back from an
	// absence as Rejoin says.
	Undrain(ctx context.Context, dest string) error

	// Reset drops every hold of this balancer on dest, for repairs, and
	// returns how many holds it dropped; calls other balancers of the
	// scope hold keep counting.
	Reset(ctx context.Context, dest string) (int, error)

	// Snapshot returns the state of every destination the balancer knows
	// and every live hold.
	Snapshot(ctx context.Context) (Snapshot, error)

	// Close stops background work (lease renewal) and frees resources.
	Close() error
}

// Snapshot is a point-in-time view of a balancer, for operators.
type Snapshot struct {
	Name         string       `json:"name"`
	Backend      string       `json:"backend"`
	Destinations []DestStatus `json:"destinations"`
	Holds        []HoldInfo   `json:"holds"`
}

// DestStatus is the state of one destination.
type DestStatus struct {
	Dest string `json:"dest"`
	// Active is the number of live holds (active calls): Ringing plus
	// Talking.
	Active int `json:"active"`
	// Ringing is the holds not answered yet; Talking the answered ones.
	Ringing int `json:"ringing"`
	Talking int `json:"talking"`
	// Answered counts the answered calls the balancer has seen on it.
	Answered int64 `json:"answered"`
	// Score is the tie score as it weighs now, faded by the half-life:
	// answered calls for fewest ties, talk seconds for talk ties (see
	// TieFewest for where it starts).
	Score float64 `json:"score"`
	// Unanswered counts its offers in a row that rang out unanswered;
	// BackoffUntil is when its no-answer back-off ends (zero or past when
	// none).
	Unanswered   int       `json:"unanswered,omitempty"`
	BackoffUntil time.Time `json:"backoff_until,omitzero"`
	// Out says it is not offered until BackoffUntil, having left
	// Options.MaxNoAnswer offers in a row unanswered, as the reader's
	// options reckon it: a Redis balancer's max_no_answer is each node's
	// configuration, not stored (a reader opened with other options, such
	// as ringlbctl's defaults, may say otherwise).
	Out bool `json:"out,omitempty"`
	// WrapupUntil is when its wrap-up after the last answered call ends;
	// zero or past when it is not in wrap-up.
	WrapupUntil time.Time `json:"wrapup_until,omitzero"`
	// Capacity is the maximum number of concurrent holds; 0 is unlimited.
	Capacity int  `json:"capacity"`
	Drained  bool `json:"drained"`
	// Started counts holds taken since the balancer was opened (memory) or
	// since its keys were created (Redis).
	Started int64 `json:"started"`
	// LastHold is when the last hold started; zero if never.
	LastHold time.Time `json:"last_hold,omitzero"`
}

// HoldInfo is one live hold.
type HoldInfo struct {
	Dest   string    `json:"dest"`
	CallID string    `json:"call_id"`
	Node   string    `json:"node"`
	Start  time.Time `json:"start"`
	// State is "ringing" or "talking".
	State string `json:"state"`
	// Expires is when the hold lapses unless renewed or released; zero if
	// it never does.
	Expires time.Time `json:"expires,omitzero"`
}

// Hold states, as HoldInfo.State shows them.
const (
	StateRinging = "ringing"
	StateTalking = "talking"
)

// JSON renders the snapshot as indented JSON, times in RFC 3339.
func (s Snapshot) JSON() (string, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return "", fmt.Errorf("ringlb: snapshot: %w", err)
	}
	return string(b), nil
}

// Sort orders s by destination, and its holds by destination, then start,
// then call id.
func (s *Snapshot) Sort() {
	slices.SortFunc(s.Destinations, func(a, b DestStatus) int { return strings.Compare(a.Dest, b.Dest) })
	slices.SortFunc(s.Holds, func(a, b HoldInfo) int {
		if c := strings.Compare(a.Dest, b.Dest); c != 0 {
			return c
		}
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.CallID, b.CallID)
	})
}
