package lb_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ringlb/ringlb/lb"
)

// The status table's DRAINED column says yes, no, or how long a member
// stays out for leaving its offers unanswered (DestStatus.Out), and the
// total line counts those out, when the reader knows (StatusOptions.Out).
func TestWriteStatusShowsMembersOutForNoAnswer(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	s := lb.Snapshot{Name: "sales", Backend: "memory", Destinations: []lb.DestStatus{
		{Dest: "user/1001", Unanswered: 3, BackoffUntil: now.Add(2 * time.Minute), Out: true},
		{Dest: "user/1002", Unanswered: 1, BackoffUntil: now.Add(30 * time.Second)},
		{Dest: "user/1003", Drained: true, Unanswered: 4, BackoffUntil: now.Add(time.Minute), Out: true},
	}}
	var b strings.Builder
	if err := lb.WriteStatus(&b, s, now, lb.StatusOptions{Out: true}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range [][]string{
		{"user/1001", "0", "0", "0", "out", "2m0s"},
		{"user/1002", "0", "0", "0", "no"},
		{"user/1003", "0", "0", "0", "yes"},
	} {
		found := false
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) >= len(want) && strings.Join(f[:len(want)], " ") == strings.Join(want, " ") {
				found = true
			}
		}
		if !found {
			t.Errorf("no row starting %q in\n%s", want, out)
		}
	}
	if !strings.Contains(out, "3 destinations, 1 drained, 1 out for no answer, 0 active calls") {
		t.Errorf("total line:\n%s", out)
	}
	// A reader without the balancer's options (ringlbctl) does not say.
	b.Reset()
	if err := lb.WriteStatus(&b, s, now, lb.StatusOptions{}); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); strings.Contains(out, "out") {
		t.Errorf("without StatusOptions.Out:\n%s", out)
	}
}
