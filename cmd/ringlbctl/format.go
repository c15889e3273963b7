package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ringlb/ringlb/lb"
)

// The JSON shapes are the command's interface for scripts: objects, so that
// fields can be added without breaking readers; times in RFC 3339, UTC.
// Capacity is left out, and whether a member is out for no answer: they
// come from each node's configuration (capacity, max_no_answer), not
// stored in Redis, so the ctl cannot know them.

type destJSON struct {
	Dest     string     `json:"dest"`
	Active   int        `json:"active"`
	Ringing  int        `json:"ringing"`
	Talking  int        `json:"talking"`
	Drained  bool       `json:"drained"`
	Started  int64      `json:"started"`
	Answered int64      `json:"answered"`
	Score    float64    `json:"score"`
	LastHold *time.Time `json:"last_hold"` // null if never
	// WrapupUntil is when its wrap-up ends; null when not in wrap-up.
	WrapupUntil *time.Time `json:"wrapup_until"`
	// Unanswered counts its offers in a row that rang out unanswered;
	// BackoffUntil is when its no-answer back-off ends, null when none.
	Unanswered   int        `json:"unanswered"`
	BackoffUntil *time.Time `json:"backoff_until"`
}

type holdJSON struct {
	Dest       string     `json:"dest"`
	CallID     string     `json:"call_id"`
	State      string     `json:"state"`
	Node       string     `json:"node"`
	Start      time.Time  `json:"start"`
	AgeSeconds int64      `json:"age_seconds"`
	Expires    *time.Time `json:"expires"` // null if the hold never lapses
}

type statusOut struct {
	Balancer     string     `json:"balancer"`
	Backend      string     `json:"backend"`
	Prefix       string     `json:"prefix"`
	Time         time.Time  `json:"time"`
	Destinations []destJSON `json:"destinations"`
	Holds        []holdJSON `json:"holds"`
}

type holdsOut struct {
	Balancer string     `json:"balancer"`
	Time     time.Time  `json:"time"`
	Holds    []holdJSON `json:"holds"`
}

type doneOut struct {
	Balancer     string            `json:"balancer"`
	Action       string            `json:"action"`
	Destinations []lb.ActionResult `json:"destinations"`
}

// writeDone prints what drain, undrain or reset did.
func (c *ctl) writeDone(rs []lb.ActionResult) int {
	if c.json {
		if rs == nil {
			rs = []lb.ActionResult{}
		}
		return c.writeJSON(doneOut{Balancer: c.balancer, Action: c.cmd.name, Destinations: rs})
	}
	for _, r := range rs {
		fmt.Fprintln(c.stdout, r.Text(c.balancer))
	}
	return exitOK
}

func (c *ctl) writeJSON(v any) int {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		fmt.Fprintf(c.stderr, "ringlbctl: %s: %v\n", c.cmd.name, err)
		return exitFailed
	}
	fmt.Fprintf(c.stdout, "%s\n", b)
	return exitOK
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func holdList(s lb.Snapshot, now time.Time) []holdJSON {
	out := make([]holdJSON, 0, len(s.Holds))
	for _, h := range s.Holds {
		out = append(out, holdJSON{
			Dest: h.Dest, CallID: h.CallID, State: h.State, Node: h.Node, Start: h.Start.UTC(),
			AgeSeconds: int64(lb.Age(now, h.Start) / time.Second), Expires: timePtr(h.Expires),
		})
	}
	return out
}

func statusJSON(s lb.Snapshot, prefix string, now time.Time) statusOut {
	out := statusOut{Balancer: s.Name, Backend: s.Backend, Prefix: prefix, Time: now.UTC(),
		Destinations: make([]destJSON, 0, len(s.Destinations)), Holds: holdList(s, now)}
	for _, d := range s.Destinations {
		var wrap, back *time.Time
		if d.WrapupUntil.After(now) {
			wrap = timePtr(d.WrapupUntil)
		}
		if d.BackoffUntil.After(now) {
			back = timePtr(d.BackoffUntil)
		}
		out.Destinations = append(out.Destinations, destJSON{Dest: d.Dest, Active: d.Active,
			Ringing: d.Ringing, Talking: d.Talking, Drained: d.Drained, Started: d.Started,
			Answered: d.Answered, Score: d.Score, LastHold: timePtr(d.LastHold), WrapupUntil: wrap,
			Unanswered: d.Unanswered, BackoffUntil: back})
	}
	return out
}

func holdsJSON(s lb.Snapshot, now time.Time) holdsOut {
	return holdsOut{Balancer: s.Name, Time: now.UTC(), Holds: holdList(s, now)}
}
