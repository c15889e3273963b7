package main

import (
	"strings"
	"testing"

	"github.com/ringlb/ringlb/internal/hostlog"
	"github.com/ringlb/ringlb/ring"
)

// Two ring groups on balancers of different names that share some members
// but not all are told to the switch's log once; groups with the same
// members, and rings without a balancer, are not.
func TestNoteGroupWarnsOnceOfGroupsSharingSomeMembers(t *testing.T) {
	var lines []string
	hostlog.SetSink(func(l hostlog.Level, s string) {
		if l == hostlog.Warning {
			lines = append(lines, s)
		}
	})
	defer hostlog.SetSink(nil)
	plan := func(balancer string, keys ...string) ring.Plan {
		spec := ring.Spec{Mode: "balancing", Balancer: balancer}
		for _, k := range keys {
			spec.Members = append(spec.Members, ring.MemberSpec{Key: k, Timeout: 20})
		}
		p, err := spec.Check()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	var g ring.Groups
	noteGroup(&g, plan("sales", "user/1001", "user/1002", "user/1003", "user/1004"))
	noteGroup(&g, plan("copy", "user/1004", "user/1003", "user/1002", "user/1001"))
	if len(lines) != 0 {
		t.Fatalf("groups with the same members: %q", lines)
	}
	noteGroup(&g, plan("support", "user/1003", "user/1004", "user/1005", "user/1006"))
	noteGroup(&g, plan("support", "user/1003", "user/1004", "user/1005", "user/1006"))
	if len(lines) != 2 || !strings.Contains(lines[0], `balancers "support" and "copy" share members (user/1003, user/1004)`) ||
		!strings.Contains(lines[1], `"support" and "sales"`) || !strings.Contains(lines[0], "one balancer name") {
		t.Fatalf("log: %q", lines)
	}
}
