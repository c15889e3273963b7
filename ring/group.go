package ring

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/ringlb/ringlb/lb"
)

// Holder is what a ring needs of a balancer: every lb.Balancer fits.
type Holder interface {
	Next(ctx context.Context, dests []string, callID string) (string, error)
	Acquire(ctx context.Context, dest, callID string) (bool, error)
}

// ParseTimeout reads a ring's attempt timeout, seconds as the dialplan
// gives them: 0 means DefaultTimeout; otherwise 1 to 3600, the fraction
// dropped (the switch counts originate_timeout in whole seconds).
func ParseTimeout(sec float64) (time.Duration, error) {
	if sec == 0 {
		return DefaultTimeout, nil
	}
	if math.IsNaN(sec) || sec < 1 || sec > MaxTimeout.Seconds() {
		return 0, fmt.Errorf("ringlb: ring: timeout must be a number of seconds from 1 to %d: %w",
			int(MaxTimeout.Seconds()), ErrInvalid)
	}
	return time.Duration(math.Floor(sec)) * time.Second, nil
}

// hookFault says why s cannot be one word of the hangup hook command that
// releases a ring's holds, "lua ringlb_release.lua <balancer> <uuid>
// <member>...", or returns "" when it can. The switch's api_hook
// (src/switch_core_state_machine.c) splits that command in two: at its
// first ':' when a second ':' follows it, else at its first space; it runs
// the first part as an API command and expands ${...} in the second, which
// mod_lua splits on spaces and quotes into argv. So a word holds no space,
// quote, backslash or '$', nothing lb.TextFault refuses, and no "::" at its
// first ':' (any held member may come first in the command, so each word
// must pass alone; a "::" after an earlier ':' is harmless).
func hookFault(s string) string {
	if f := lb.TextFault(s); f != "" {
		return f
	}
	if strings.ContainsAny(s, " '\"\\$") {
		return "has a space, quote, backslash or '$'"
	}
	if i := strings.IndexByte(s, ':'); i >= 0 && strings.HasPrefix(s[i:], "::") {
		return `has "::" at its first ':', where the switch would cut the hangup hook`
	}
	return ""
}

// full reports whether err says a member cannot take the call now (at
// capacity or drained; from Next, also in wrap-up or out for no answer),
// which a ring skips, as opposed to a failure.
func full(err error) bool {
	return errors.Is(err, lb.ErrAtCapacity) || errors.Is(err, lb.ErrDrained)
}

// Pick chooses the member a one-at-a-time ring tries next out of remaining
// (not yet tried, in list order) and holds it for callID on h:
// balancing takes the least loaded with room (h.Next, which re-reads the
// loads before each attempt), sequential the first in list order with room.
// skipped are the members passed over: as full or drained in sequential
// mode, and in balancing mode all of remaining when none can take the call
// (full, drained, in wrap-up or out for no answer); dest is "" when none
// is left. An error (the backend failing, say) is returned as it is.
func Pick(ctx context.Context, h Holder, mode Mode, remaining []string, callID string) (dest string, skipped []string, err error) {
	switch mode {
	case ModeBalancing:
		d, err := h.Next(ctx, remaining, callID)
		if full(err) {
			return "", remaining, nil
		}
		return d, nil, err
	case ModeSequential:
		for _, d := range remaining {
			if _, err := h.Acquire(ctx, d, callID); full(err) {
				skipped = append(skipped, d)
				continue
			} else if err != nil {
				return "", skipped, err
			}
			return d, skipped, nil
		}
		return "", skipped, nil
	}
	return "", nil, fmt.Errorf("ringlb: ring: pick: mode %v rings one member at a time only in sequential or balancing: %w",
		mode, ErrInvalid)
}

// MemberState is what HoldAll did with one member.
type MemberState int

const (
	// Held: held for the call, to be rung.
	Held MemberState = iota
	// Skipped: full or drained, not rung.
	Skipped
	// Unheld: to be rung without a hold, because the backend failed.
	Unheld
)

// HoldAll holds every member of a parallel ring for callID, since a member
// that rings is loaded, and says what became of each. When the backend
// fails, the members from there on are rung unheld and the error is
// returned with the states; any other error stops it.
func HoldAll(ctx context.Context, h Holder, members []string, callID string) ([]MemberState, error) {
	states := make([]MemberState, len(members))
	for i, d := range members {
		_, err := h.Acquire(ctx, d, callID)
		switch {
		case err == nil:
			states[i] = Held
		case full(err):
			states[i] = Skipped
		case errors.Is(err, lb.ErrBackend):
			for j := i; j < len(members); j++ {
				states[j] = Unheld
			}
			return states, err
		default:
			return states, err
		}
	}
	return states, nil
}

// Reasons a ring ends without an answer.
const (
	// ReasonNoAnswer: some member rang out.
	ReasonNoAnswer = "no_answer"
	// ReasonAllBusy: every member was busy, rejected the call or was full.
	ReasonAllBusy = "all_busy"
	// ReasonFailed: the attempts failed otherwise.
	ReasonFailed = "failed"
)

// busyCauses are the hangup causes of a member that cannot take the call;
// AT_CAPACITY is ringlb's own, for a member skipped as full, drained, in
// wrap-up or out for no answer.
var busyCauses = map[string]bool{"USER_BUSY": true, "CALL_REJECTED": true, "AT_CAPACITY": true}

// unansweredCauses are the hangup causes of a member that rang out.
var unansweredCauses = map[string]bool{"NO_ANSWER": true, "NO_USER_RESPONSE": true, "ALLOTTED_TIMEOUT": true,
	"PROGRESS_TIMEOUT": true, "RECOVERY_ON_TIMER_EXPIRE": true}

// Reason names why a ring got no answer from the hangup causes of its
// attempts, in order, and returns the last cause ("NONE" without any):
// all_busy when every cause was busy, no_answer when any member rang out,
// failed otherwise.
func Reason(causes []string) (reason, last string) {
	busy, unanswered := 0, 0
	last = "NONE"
	for _, c := range causes {
		if busyCauses[c] {
			busy++
		} else if unansweredCauses[c] {
			unanswered++
		}
		last = c
	}
	switch {
	case len(causes) > 0 && busy == len(causes):
		return ReasonAllBusy, last
	case unanswered > 0:
		return ReasonNoAnswer, last
	}
	return ReasonFailed, last
}

// Stop is why a ring stops without an answer.
type Stop int

const (
	// StopNone: the ring goes on.
	StopNone Stop = iota
	// StopDone: every member was tried.
	StopDone
	// StopFull: every member left is at capacity, drained or in wrap-up.
	StopFull
	// StopDeadline: the ring's deadline ran out.
	StopDeadline
	// StopCallerGone: the caller hung up.
	StopCallerGone
)

var stopNames = []string{"", "done", "at_capacity", "call_timeout", "caller_gone"}

// String returns the stop's word: done, at_capacity, call_timeout or
// caller_gone ("" for StopNone).
func (s Stop) String() string {
	if s >= 0 && int(s) < len(stopNames) {
		return stopNames[s]
	}
	return fmt.Sprintf("Stop(%d)", int(s))
}

// ParseStop parses the words String returns.
func ParseStop(s string) (Stop, error) {
	for i, n := range stopNames {
		if n == s {
			return Stop(i), nil
		}
	}
	return 0, invalid("stop %q (want done, at_capacity, call_timeout or caller_gone)", s)
}

// Candidate is a member a one-at-a-time ring may try next.
type Candidate struct {
	Key     string
	Timeout time.Duration
}

// NoDeadline is the time left of a ring without a deadline.
const NoDeadline = time.Duration(math.MaxInt64)

// Turn is what a one-at-a-time ring does next: ring Member, an index into
// the candidates, for Seconds; or stop, for Stop, when Member is -1.
type Turn struct {
	Member  int
	Seconds int
	// Full says the turn rings for the member's whole timeout, so that a
	// leg of it that ends unanswered rang out (the balancer's
	// Unanswered); a turn the deadline cut short says nothing of its
	// member.
	Full bool
	// Skipped are the candidates passed over as at capacity, drained, in
	// wrap-up or out for no answer, indices in order.
	Skipped []int
	Stop    Stop
}

// NextTurn decides the next turn of a sequential or balancing ring out of
// cands, the members not tried yet in list order, with left the time left
// before the ring's deadline (NoDeadline without one): it stops when
// nothing is left or less than a second is; else it picks the member and
// holds it for callID on h (Pick; h nil rings in list order, holding
// nothing) and rings it for its timeout, cut to the time left. An error of
// the balancer (its backend failing, say) is returned as it is, with the
// candidates skipped before it.
func NextTurn(ctx context.Context, h Holder, mode Mode, cands []Candidate, callID string, left time.Duration) (Turn, error) {
	stop := Turn{Member: -1}
	if mode != ModeSequential && mode != ModeBalancing {
		return stop, invalid("a %v ring has no turns: only sequential and balancing ring one member at a time", mode)
	}
	if len(cands) == 0 {
		stop.Stop = StopDone
		return stop, nil
	}
	if left < time.Second {
		stop.Stop = StopDeadline
		return stop, nil
	}
	chosen := 0
	if h != nil {
		keys := make([]string, len(cands))
		for i, c := range cands {
			keys[i] = c.Key
		}
		d, skipped, err := Pick(ctx, h, mode, keys, callID)
		for _, s := range skipped {
			stop.Skipped = append(stop.Skipped, slices.Index(keys, s))
		}
		if err != nil {
			return stop, err
		}
		if d == "" {
			stop.Stop = StopFull
			return stop, nil
		}
		chosen = slices.Index(keys, d)
	}
	secs := cands[chosen].Timeout
	full := left >= secs
	if !full {
		secs = left
	}
	return Turn{Member: chosen, Seconds: seconds(secs), Full: full, Skipped: stop.Skipped}, nil
}

// Results of a ring, as the ring helper names them.
const (
	ResultAnswered     = "answered"
	ResultNoAnswer     = ReasonNoAnswer
	ResultAllBusy      = ReasonAllBusy
	ResultFailed       = ReasonFailed
	ResultCallerGone   = "caller_gone"
	ResultBackendError = "backend_error"
	ResultInvalid      = "invalid"
)

// Details of a ring that stopped before every member was rung.
const (
	DetailAtCapacity    = "at_capacity"
	DetailDND           = "do_not_disturb"
	DetailCallTimeout   = "call_timeout"
	DetailNoHangupCause = "NONE"
)

// Tally is what a ring that got no answer did.
type Tally struct {
	// Causes are the hangup causes of the attempts that rang, in order.
	Causes []string
	// Full counts the members passed over as at capacity, drained or in
	// wrap-up; DND those left out for do-not-disturb.
	Full, DND int
	// Stop is why it stopped.
	Stop Stop
}

// Result names how a ring that got no answer ended: the result (no_answer
// when a member rang out, all_busy when every member was busy, full or on
// do-not-disturb, failed otherwise, caller_gone when the caller hung up),
// the detail (why it stopped before every member was rung: call_timeout,
// at_capacity, do_not_disturb; else the last hangup cause, "NONE" without
// any), and a summary that says what happened, e.g. "rang 1 member
// (NO_ANSWER); 2 members at capacity, drained or in wrap-up; then none left
// with room".
func (t Tally) Result() (result, detail, summary string) {
	busy, unanswered := 0, 0
	for _, c := range t.Causes {
		if busyCauses[c] {
			busy++
		} else if unansweredCauses[c] {
			unanswered++
		}
	}
	rung := len(t.Causes)
	last := DetailNoHangupCause
	if rung > 0 {
		last = t.Causes[rung-1]
	}
	switch {
	case t.Stop == StopCallerGone:
		result, detail = ResultCallerGone, last
	case t.Stop == StopDeadline:
		result, detail = ResultNoAnswer, DetailCallTimeout
	case rung == 0 && t.Full > 0:
		result, detail = ResultAllBusy, DetailAtCapacity
	case rung == 0 && t.DND > 0:
		result, detail = ResultAllBusy, DetailDND
	case rung == 0:
		result, detail = ResultFailed, last
	case unanswered > 0:
		result, detail = ResultNoAnswer, last
	case busy == rung:
		result, detail = ResultAllBusy, last
	default:
		result, detail = ResultFailed, last
	}
	if rung > 0 && t.Stop == StopFull {
		detail = DetailAtCapacity
	}
	return result, detail, t.summary(last)
}

func (t Tally) summary(last string) string {
	var parts []string
	switch rung := len(t.Causes); rung {
	case 0:
		parts = append(parts, "rang no member")
	case 1:
		parts = append(parts, "rang 1 member ("+last+")")
	default:
		parts = append(parts, fmt.Sprintf("rang %d members (last %s)", rung, last))
	}
	if t.Full > 0 {
		parts = append(parts, lb.Plural(t.Full, "member")+" at capacity, drained or in wrap-up")
	}
	if t.DND > 0 {
		parts = append(parts, lb.Plural(t.DND, "member")+" on do-not-disturb")
	}
	switch t.Stop {
	case StopFull:
		parts = append(parts, "then none left with room")
	case StopDeadline:
		parts = append(parts, "then the call timeout ran out")
	case StopCallerGone:
		parts = append(parts, "then the caller hung up")
	}
	return strings.Join(parts, "; ")
}
