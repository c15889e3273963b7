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
			{"sales", []string{"a", "b", "c", "d"}, nil},
			{"support", []string{"c", "d", "e"}, nil},
		}},
		{"a subset, and a group that changes", []note{
			{"all", []string{"a", "b", "c", "d", "e"}, nil},
			{"two", []string{"d", "e"}, []Mixed{{A: "two", B: "all", Shared: []string{"d", "e"}, NShared: 2, OnlyA: 0, OnlyB: 3}}},
			{"other", []string{"x", "y"}, nil},
			{"other", []string{"x", "a", "b", "c", "d"}, []Mixed{
				{A: "other", B: "all", Shared: []string{"a", "b", "c"}, NShared: 4, OnlyA: 1, OnlyB: 1},
				{A: "other", B: "two", Shared: []string{"d"}, NShared: 1, OnlyA: 4, OnlyB: 1},
			}},
		}},
		{"a member listed twice counts once", []note{
			{"sales", []string{"a", "a", "b"}, nil},
			{"support", []string{"a", "b", "b"}, nil},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var g Groups
			for i, n := range tc.notes {
				if got := g.Note(n.balancer, n.keys); !reflect.DeepEqual(got, n.want) {
					t.Fatalf("note %d (%s %v) = %+v, want %+v", i, n.balancer, n.keys, got, n.want)
				}
			}
		})
	}
}

// Balancers past MaxGroups are not remembered, so their rings are not
// compared: memory stays bounded whatever names the dialplans send.
func TestGroupsBounded(t *testing.T) {
	var g Groups
	for i := range MaxGroups {
		if got := g.Note(fmt.Sprint("b", i), []string{fmt.Sprint("m", i)}); got != nil {
			t.Fatalf("note %d = %+v", i, got)
		}
	}
	if got := g.Note("late", []string{"m0", "other"}); got != nil {
		t.Fatalf("balancer past the bound compared: %+v", got)
	}
	if got := g.Note("b0", []string{"m0", "m1"}); len(got) != 1 || got[0].B != "b1" {
		t.Fatalf("a remembered balancer that changed = %+v, want b1", got)
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
	if got := g.Note("support", []string{"user/1002", "user/1003"}); len(got) != 1 || got[0].B != "sales" ||
		!reflect.DeepEqual(got[0].Shared, []string{"user/1002"}) {
		t.Fatalf("after the caller reused its memory: %+v, want support and sales sharing user/1002", got)
	}
	if got := g.Note("sales", []string{"user/1001", "user/1002"}); got != nil {
		t.Fatalf("sales again, its members unchanged: %+v, want nothing (reported once)", got)
	}
}
