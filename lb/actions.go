package lb

import (
	"context"
	"fmt"
)

// What drain, undrain, away, rejoin and reset did, and the lines operators read about it:
// ringlbctl prints them for a Redis balancer, and the fs_cli admin script
// (through the C ABI and the Lua module) for a balancer inside the switch.
// One renderer, so both say the same, as for the tables of report.go.

// Actions an operator takes on destinations.
const (
	ActionDrain   = "drain"
	ActionUndrain = "undrain"
	ActionReset   = "reset"
	// ActionAway marks a member absent without draining it (Away);
	// ActionRejoin marks it back (Rejoin).
	ActionAway   = "away"
	ActionRejoin = "rejoin"
)

// ActionResult is what an action did to one destination: Text is the line
// operators read; the value itself is what ringlbctl --json prints.
type ActionResult interface {
	Text(balancer string) string
}

// DrainResult is what drain or undrain did to one destination.
type DrainResult struct {
	Dest    string `json:"dest"`
	Drained bool   `json:"drained"`
	// Changed is false when it already was in that state.
	Changed bool `json:"changed"`
	// Known is false when the balancer had never seen the destination,
	// often a typo.
	Known bool `json:"known"`
	// Active is its active calls, which keep counting when it is drained.
	Active int `json:"active"`
}

// ResetResult is what reset did to one destination.
type ResetResult struct {
	Dest    string `json:"dest"`
	Dropped int    `json:"dropped"`
	Known   bool   `json:"known"`
}

// Text is the line about r on balancer b, e.g. "sales: drained user/1001
// (2 active calls keep counting until they end)".
func (r DrainResult) Text(b string) string {
	verb := "undrained"
	if r.Drained {
		verb = "drained"
	}
	switch {
	case !r.Changed && r.Drained:
		return fmt.Sprintf("%s: %s was already drained", b, r.Dest)
	case !r.Changed:
		return fmt.Sprintf("%s: %s was not drained", b, r.Dest)
	case !r.Known:
		return fmt.Sprintf("%s: %s %s (new to this balancer: check the spelling)", b, verb, r.Dest)
	case r.Drained && r.Active == 1:
		return fmt.Sprintf("%s: drained %s (1 active call keeps counting until it ends)", b, r.Dest)
	case r.Drained && r.Active > 1:
		return fmt.Sprintf("%s: drained %s (%d active calls keep counting until they end)", b, r.Dest, r.Active)
	}
	return fmt.Sprintf("%s: %s %s", b, verb, r.Dest)
}

// PresenceResult is what away or rejoin did to one destination.
type PresenceResult struct {
	Dest string `json:"dest"`
	// Away is true for away, false for rejoin.
	Away  bool `json:"away"`
	Known bool `json:"known"`
}

// Text is the line about r on balancer b, e.g. "sales: user/1001 rejoins:
// lifted to the mean score of its group at its next ranking".
func (r PresenceResult) Text(b string) string {
	var s string
	if r.Away {
		s = fmt.Sprintf("%s: %s is away: it rejoins when its next call shows it back", b, r.Dest)
	} else {
		s = fmt.Sprintf("%s: %s rejoins: lifted to the mean score of its group at its next ranking", b, r.Dest)
	}
	if !r.Known {
		s += " (new to this balancer: check the spelling)"
	}
	return s
}

// Text is the line about r on balancer b, e.g. "sales: reset user/1001,
// dropped 2 holds".
func (r ResetResult) Text(b string) string {
	s := fmt.Sprintf("%s: reset %s, dropped %s", b, r.Dest, Plural(r.Dropped, "hold"))
	if !r.Known {
		s += " (new to this balancer: check the spelling)"
	}
	return s
}

// Act applies action (ActionDrain, ActionUndrain, ActionAway, ActionRejoin
// or ActionReset) to each of dests on b, in order, and says what it did to
// each; s is b's state before, which tells whether a destination was
// drained, known and how many calls it had. On the first error it stops and returns what it did so far
// with the error.
func Act(ctx context.Context, b Balancer, s Snapshot, action string, dests []string) ([]ActionResult, error) {
	var out []ActionResult
	for _, dest := range dests {
		was, known := DestStatus{Dest: dest}, false
		for _, d := range s.Destinations {
			if d.Dest == dest {
				was, known = d, true
				break
			}
		}
		var err error
		var r ActionResult
		switch action {
		case ActionDrain, ActionUndrain:
			drained := action == ActionDrain
			if drained {
				err = b.Drain(ctx, dest)
			} else {
				err = b.Undrain(ctx, dest)
			}
			r = DrainResult{Dest: dest, Drained: drained, Changed: was.Drained != drained, Known: known, Active: was.Active}
		case ActionAway:
			err = b.Away(ctx, dest)
			r = PresenceResult{Dest: dest, Away: true, Known: known}
		case ActionRejoin:
			err = b.Rejoin(ctx, dest)
			r = PresenceResult{Dest: dest, Known: known}
		case ActionReset:
			var n int
			n, err = b.Reset(ctx, dest)
			r = ResetResult{Dest: dest, Dropped: n, Known: known}
		default:
			return out, fmt.Errorf("ringlb: %w: action %q (want %s, %s, %s, %s or %s)", ErrInvalidArgument, action,
				ActionDrain, ActionUndrain, ActionAway, ActionRejoin, ActionReset)
		}
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}
