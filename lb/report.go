package lb

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"
)

// The tables operators read: ringlbctl prints them for a Redis balancer,
// and the fs_cli admin script (through the C ABI and the Lua module) for a
// balancer inside the switch. One renderer, so both read alike.

// StatusOptions say what a status table shows beyond the snapshot.
type StatusOptions struct {
	// Prefix is the Redis key prefix, shown in the title when not empty.
	Prefix string
	// Capacity adds a CAPACITY column. Only a switch knows the capacities it
	// was opened with: Redis does not store them.
	Capacity bool
	// Out shows a member left out for no answer (DestStatus.Out) in the
	// DRAINED column, with how long it stays out, and counts them in the
	// total line. Only a switch knows its balancer's max_no_answer: Redis
	// does not store it.
	Out bool
}

// WriteStatus writes s as a status table: a title, one row per
// destination (active calls, of which ringing and talking, drained, or out
// for no answer and for how long, calls started and answered, the tie
// score, wrap-up left, last call), and a total line. Times are shown
// relative to now.
func WriteStatus(w io.Writer, s Snapshot, now time.Time, o StatusOptions) error {
	where := s.Backend
	if o.Prefix != "" {
		where += fmt.Sprintf(", prefix %q", o.Prefix)
	}
	fmt.Fprintf(w, "balancer %s (%s) at %s\n", s.Name, where, now.UTC().Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	capacity := ""
	if o.Capacity {
		capacity = "CAPACITY\t"
	}
	fmt.Fprintf(tw, "DEST\tACTIVE\tRINGING\tTALKING\t%sDRAINED\tSTARTED\tANSWERED\tSCORE\tWRAP-UP\tLAST CALL\n", capacity)
	active, ringing, talking, drained, out := 0, 0, 0, 0, 0
	for _, d := range s.Destinations {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t", d.Dest, d.Active, d.Ringing, d.Talking)
		if o.Capacity {
			capacity := "-"
			if d.Capacity > 0 {
				capacity = fmt.Sprint(d.Capacity)
			}
			fmt.Fprintf(tw, "%s\t", capacity)
		}
		wrap := "-"
		if d.WrapupUntil.After(now) {
			wrap = d.WrapupUntil.Sub(now).Round(time.Second).String()
		}
		offered := yesNo(d.Drained)
		if o.Out && !d.Drained && d.Out && d.BackoffUntil.After(now) {
			offered = "out " + d.BackoffUntil.Sub(now).Round(time.Second).String()
			out++
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%s\t%s\n", offered, d.Started, d.Answered, d.Score, wrap,
			ago(now, d.LastHold))
		active += d.Active
		ringing += d.Ringing
		talking += d.Talking
		if d.Drained {
			drained++
		}
	}
	tw.Flush()
	outs := ""
	if out > 0 {
		outs = fmt.Sprintf(", %d out for no answer", out)
	}
	_, err := fmt.Fprintf(w, "%s, %d drained%s, %s (%d ringing, %d talking)\n", Plural(len(s.Destinations), "destination"),
		drained, outs, Plural(active, "active call"), ringing, talking)
	return err
}

// WriteHolds writes the holds of s, only those on dests when any are
// given: destination, call id, state, node, age, and when the lease lapses.
func WriteHolds(w io.Writer, s Snapshot, now time.Time, dests []string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DEST\tCALL ID\tSTATE\tNODE\tAGE\tLAPSES IN")
	n := 0
	for _, h := range s.Holds {
		if len(dests) > 0 && !slices.Contains(dests, h.Dest) {
			continue
		}
		lapses := "never"
		if !h.Expires.IsZero() {
			lapses = Age(h.Expires, now).Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", h.Dest, h.CallID, h.State, h.Node,
			Age(now, h.Start).Round(time.Second), lapses)
		n++
	}
	if n == 0 {
		_, err := fmt.Fprintf(w, "%s: no holds\n", s.Name)
		return err
	}
	tw.Flush()
	_, err := fmt.Fprintf(w, "%s\n", Plural(n, "hold"))
	return err
}

// Age is how long before now t was, never negative: Redis hold times come
// from the Redis server's clock, which may be a little ahead of ours.
func Age(now, t time.Time) time.Duration {
	if d := now.Sub(t); d > 0 {
		return d
	}
	return 0
}

// ago renders how long before now t was, for tables.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return Age(now, t).Round(time.Second).String() + " ago"
}

// Plural writes a count with its noun: "1 hold", "2 holds".
func Plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
