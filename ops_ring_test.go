package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/ringlb/ringlb/internal/hostlog"
	"github.com/ringlb/ringlb/ring"
)

// Two ring groups on balancers of different names that share some members
// but not all are told to the switch's log once; groups with the same
// members, one of them on do-not-disturb for a ring, and rings without a
// balancer, are not.
func TestNoteGroupWarnsOnceOfGroupsSharingSomeMembers(t *testing.T) {
	var lines []string
	hostlog.SetSink(func(l hostlog.Level, s string) {
		if l == hostlog.Warning {
			lines = append(lines, s)
		}
	})
	defer hostlog.SetSink(hostLog)
	plan := func(balancer string, dnd []string, keys ...string) ring.Plan {
		spec := ring.Spec{Mode: "balancing", Balancer: balancer}
		if balancer == "" {
			spec.Mode = "sequential"
		}
		for _, k := range keys {
			spec.Members = append(spec.Members, ring.MemberSpec{Key: k, Timeout: 20, DND: slices.Contains(dnd, k)})
		}
		p, err := spec.Check()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	var g ring.Groups
	noteGroup(&g, plan("sales", nil, "user/1001", "user/1002", "user/1003", "user/1004"))
	noteGroup(&g, plan("copy", []string{"user/1002"}, "user/1004", "user/1003", "user/1002", "user/1001"))
	noteGroup(&g, plan("", nil, "user/1001", "user/1009"))
	if len(lines) != 0 {
		t.Fatalf("groups with the same members: %q", lines)
	}
	noteGroup(&g, plan("support", nil, "user/1003", "user/1004", "user/1005", "user/1006"))
	noteGroup(&g, plan("support", nil, "user/1003", "user/1004", "user/1005", "user/1006"))
	noteGroup(&g, plan("vip", nil, "user/1003"))
	if len(lines) != 5 ||
		!strings.Contains(lines[0], `balancers "support" and "copy" have members in common (user/1003, user/1004) but not all (2 only in "support", 2 only in "copy")`) ||
		!strings.Contains(lines[1], `"support" and "sales"`) || !strings.Contains(lines[0], "one balancer name") ||
		!strings.Contains(lines[2], `every member of "vip" is in "copy", which has 3 more`) {
		t.Fatalf("log: %q", lines)
	}
}
