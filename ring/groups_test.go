package ring

import (
	"fmt"
	"reflect"
	"testing"
	"unsafe"
)

func TestGroupsFindsBalancersThatShareSomeMembers(t *testing.T) {
	type note struct {
		balancer string
		keys     []string
		want     []Mixed
	}
	for _, tc := range []struct {
		name  string
		notes []note
	}{
		{"the same members on two balancers even out either way", []note{
			{"sales", []string{"a", "b", "c"}, nil},
			{"support", []string{"c", "b", "a"}, nil},
		}},
		{"disjoint groups", []note{
			{"sales", []string{"a", "b"}, nil},
			{"support", []string{"c", "d"}, nil},
		}},
		{"two of six shared, said once", []note{
			{"sales", []string{"a", "b", "c", "d"}, nil},
			{"support", []string{"c", "d", "e", "f"}, []Mixed{{A: "support", B: "sales", Shared: []string{"c", "d"}, NShared: 2, OnlyA: 2, OnlyB: 2}}},
			{"sales", []string{"a", "b", "c", "d", "g"}, nil},
		}},
		{"one balancer for two groups: its members are both groups'", []note{
			{"all", []string{"a", "b"}, nil},
			{"all", []string{"c", "d"}, nil},
			{"other", []string{"d", "c", "b", "a"}, nil},
			{"other", []string{"a", "e"}, []Mixed{{A: "other", B: "all", Shared: []string{"a", "b", "c"}, NShared: 4, OnlyA: 1, OnlyB: 0}}},
		}},
		{"a subset, and groups that grow", []note{
			{"all", []string{"a", "b", "c", "d", "e"}, nil},
			{"two", []string{"d", "e"}, []Mixed{{A: "two", B: "all", Shared: []string{"d", "e"}, NShared: 2, OnlyA: 0, OnlyB: 3}}},
			{"other", []string{"x", "y"}, nil},
			{"other", []string{"x", "a"}, []Mixed{{A: "other", B: "all", Shared: []string{"a"}, NShared: 1, OnlyA: 2, OnlyB: 4}}},
			{"two", []string{"x"}, []Mixed{{A: "two", B: "other", Shared: []string{"x"}, NShared: 1, OnlyA: 2, OnlyB: 2}}},
		}},
		{"a member listed twice counts once", []note{
			{"sales", []string{"a", "a", "b"}, nil},
			{"support", []string{"a", "b", "b"}, nil},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var g Groups
			for i, n := range tc.notes {
				got, full := g.Note(n.balancer, n.keys)
				if !reflect.DeepEqual(got, n.want) || full != nil {
					t.Fatalf("note %d (%s %v) = %+v, %v; want %+v", i, n.balancer, n.keys, got, full, n.want)
				}
			}
		})
	}
}

// Balancers past MaxGroups, and members past MaxGroupMembers, are not
// remembered, so memory stays bounded whatever names the dialplans send;
// the first balancer left out is reported, once.
func TestGroupsBounded(t *testing.T) {
	var g Groups
	for i := range MaxGroups {
		if got, full := g.Note(fmt.Sprint("b", i), []string{fmt.Sprint("m", i)}); got != nil || full != nil {
			t.Fatalf("note %d = %+v, %v", i, got, full)
		}
	}
	if got, full := g.Note("late", []string{"m0", "other"}); got != nil || full == nil || full.Balancer != "late" {
		t.Fatalf("balancer past the bound: %+v, %v; want it reported as past the bound", got, full)
	}
	if got, full := g.Note("later", []string{"m0", "other"}); got != nil || full != nil {
		t.Fatalf("a second balancer past the bound: %+v, %v; want nothing", got, full)
	}
	if got, _ := g.Note("b0", []string{"m1"}); len(got) != 1 || got[0].B != "b1" {
		t.Fatalf("a remembered balancer that grew = %+v, want b1", got)
	}
	var big []string
	for i := range MaxGroupMembers + 10 {
		big = append(big, fmt.Sprint("x", i))
	}
	g.Note("b2", big)
	if n := len(g.groups["b2"].members); n != MaxGroupMembers {
		t.Fatalf("b2 remembers %d members, want %d", n, MaxGroupMembers)
	}
}

// What Groups keeps is its own: names passed as views of memory the caller
// reuses after Note returns (as the C ABI passes them) do not change it.
func TestGroupsKeepNoViewOfTheCallersMemory(t *testing.T) {
	var g Groups
	buf := []byte("sales user/1001 user/1002")
	view := func(from, to int) string { return unsafe.String(&buf[from], to-from) }
	g.Note(view(0, 5), []string{view(6, 15), view(16, 25)})
	copy(buf, "xxxxx user/1009 user/1008")
	if got, _ := g.Note("support", []string{"user/1002", "user/1003"}); len(got) != 1 || got[0].B != "sales" ||
		!reflect.DeepEqual(got[0].Shared, []string{"user/1002"}) || got[0].OnlyB != 1 {
		t.Fatalf("after the caller reused its memory: %+v, want support and sales sharing user/1002", got)
	}
	if got, _ := g.Note("sales", []string{"user/1001", "user/1002"}); got != nil {
		t.Fatalf("sales again, its members unchanged: %+v, want nothing (reported once)", got)
	}
}

// A ring whose members are all known costs no allocation.
func TestGroupsKnownRingAllocatesNothing(t *testing.T) {
	var g Groups
	keys := []string{"user/1001", "user/1002", "user/1003"}
	g.Note("sales", keys)
	if n := testing.AllocsPerRun(100, func() { g.Note("sales", keys) }); n != 0 {
		t.Fatalf("%v allocations per known ring", n)
	}
	// As ring_plan notes it: the plan's members and those on do-not-disturb.
	p := Plan{Balancer: "sales", Members: []Member{{Key: "user/1001"}, {Key: "user/1002"}}, DND: []string{"user/1003"}}
	if n := testing.AllocsPerRun(100, func() { g.NotePlan(p) }); n != 0 {
		t.Fatalf("%v allocations per known ring's plan", n)
	}
}
