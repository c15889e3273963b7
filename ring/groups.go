package ring

import (
	"cmp"
	"slices"
	"strings"
	"sync"
)

// Tie scores are each balancer's while loads are shared: when ring groups on
// balancers of different names share some members but not all, each
// balancer evens out only its own group's calls, and the members in both
// groups answer up to twice as many calls as the others (README, "Groups
// that share agents share a balancer"). Groups remembers the members each
// balancer last rang to find such pairs, so that the switch's log can say so
// once, in the operator's first hour rather than in a month's statistics.

// MaxGroups is the most balancers Groups remembers the members of; rings on
// others are not compared.
const MaxGroups = 256

// maxMixed is the most pairs Groups remembers having reported.
const maxMixed = 1024

// Mixed is a pair of balancers whose last rings share some members but not
// all.
type Mixed struct {
	// A is the balancer just rung, B the other.
	A, B string
	// Shared are the members both rang, up to three of them, sorted;
	// NShared counts them all.
	Shared  []string
	NShared int
	// OnlyA and OnlyB count the members only one of them rang.
	OnlyA, OnlyB int
}

// Groups tells when balancers' rings share some members but not all. Its
// zero value is ready; it is safe for simultaneous use.
type Groups struct {
	mu       sync.Mutex
	members  map[string][]string // balancer -> the keys of its last ring, sorted, each once
	reported map[[2]string]bool  // pairs found already, sorted
}

// Note records that a ring of balancer rang keys, and returns the pairs
// with other balancers that share some of its members but not all,
// each pair once for the life of g. A ring with the members of the
// balancer's last ring, in any order, costs sorting them and a comparison
// with the last. Note copies
// what it keeps: balancer and keys may be views of memory the caller
// frees when Note returns.
func (g *Groups) Note(balancer string, keys []string) []Mixed {
	// As a set: a dialplan may list a group's members in any order.
	keys = slices.Compact(slices.Sorted(slices.Values(keys)))
	g.mu.Lock()
	defer g.mu.Unlock()
	if last, ok := g.members[balancer]; ok && slices.Equal(last, keys) {
		return nil
	}
	if g.members == nil {
		g.members = make(map[string][]string)
		g.reported = make(map[[2]string]bool)
	}
	if _, ok := g.members[balancer]; !ok && len(g.members) >= MaxGroups {
		return nil
	}
	// The strings may be views of the caller's memory (the C ABI passes
	// them without copying): what outlives the call is copied.
	balancer = strings.Clone(balancer)
	kept := make([]string, len(keys))
	for i, k := range keys {
		kept[i] = strings.Clone(k)
	}
	g.members[balancer] = kept
	keys = kept
	set := make(map[string]bool, len(keys))
	for _, k := range keys {
		set[k] = true
	}
	var out []Mixed
	for other, theirs := range g.members {
		if other == balancer {
			continue
		}
		pair := [2]string{min(balancer, other), max(balancer, other)}
		if g.reported[pair] || len(g.reported) >= maxMixed {
			continue
		}
		m := mixed(balancer, other, keys, set, theirs)
		if m.NShared == 0 || m.OnlyA == 0 && m.OnlyB == 0 {
			continue
		}
		g.reported[pair] = true
		out = append(out, m)
	}
	slices.SortFunc(out, func(x, y Mixed) int { return cmp.Compare(x.B, y.B) })
	return out
}

// mixed compares a's members keys (set: the same as a set) with b's,
// theirs; both sorted, each member once.
func mixed(a, b string, keys []string, set map[string]bool, theirs []string) Mixed {
	m := Mixed{A: a, B: b}
	for _, k := range theirs {
		if !set[k] {
			m.OnlyB++
		}
	}
	for _, k := range keys {
		if _, found := slices.BinarySearch(theirs, k); !found {
			m.OnlyA++
			continue
		}
		m.NShared++
		if len(m.Shared) < 3 {
			m.Shared = append(m.Shared, k)
		}
	}
	return m
}
