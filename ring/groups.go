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
// balancer rang to find such pairs, so that the switch's log can say so
// once, in the operator's first hour rather than in a month's statistics.

// Bounds of what Groups remembers, so that its memory is bounded whatever
// names the dialplans send: rings of further balancers, and further
// members of a balancer, are not compared.
const (
	// MaxGroups is the most balancers Groups remembers.
	MaxGroups = 256
	// MaxGroupMembers is the most members Groups remembers of one balancer.
	MaxGroupMembers = 1024
	// maxMixed is the most pairs Groups remembers having reported.
	maxMixed = 1024
)

// Mixed is a pair of balancers whose rings share some members but not all.
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

// Full is what Note reports, once, when a ring of a balancer it cannot
// remember comes: MaxGroups are remembered already.
type Full struct{ Balancer string }

// Groups tells when balancers' rings share some members but not all. Its
// zero value is ready; it is safe for simultaneous use.
type Groups struct {
	// mu is read-locked by the rings that list no member new to their
	// balancer, nearly all of them, so that they do not wait on each other.
	mu       sync.RWMutex
	groups   map[string]*group   // by balancer
	index    map[string][]*group // member -> the balancers that rang it
	reported map[[2]*group]bool  // pairs found already
	full     bool                // a balancer past MaxGroups was met
}

// group is what Groups remembers of one balancer: every member its rings
// listed, and the balancers that rang one of them too.
type group struct {
	name       string
	members    map[string]bool
	neighbours map[*group]bool
}

// Note records that a ring of balancer listed keys, and returns the pairs
// it makes with other balancers whose rings listed some of the same
// members but not all (over every ring of each), each pair once for the
// life of g, and Full once when balancer is past MaxGroups. A ring that
// lists no member new to its balancer costs a map lookup per key under a
// read lock; one that does compares the balancer with those that share a
// member with it, at most MaxGroupMembers times in all per balancer. Note
// copies what it keeps: balancer and keys may be views of memory the
// caller frees when Note returns.
func (g *Groups) Note(balancer string, keys []string) ([]Mixed, *Full) {
	return g.note(balancer, nil, keys)
}

// NotePlan is Note for the ring of plan p: its members and those left out
// for do-not-disturb, without building a list of them. A plan without a
// balancer is not noted.
func (g *Groups) NotePlan(p Plan) ([]Mixed, *Full) {
	if p.Balancer == "" {
		return nil, nil
	}
	return g.note(p.Balancer, p.Members, p.DND)
}

// note is Note over the keys of members, then keys.
func (g *Groups) note(balancer string, members []Member, keys []string) ([]Mixed, *Full) {
	g.mu.RLock()
	gr := g.groups[balancer]
	known := gr != nil && !gr.adds(members, keys)
	g.mu.RUnlock()
	if known {
		return nil, nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	// Another ring may have added the same members meanwhile.
	gr = g.groups[balancer]
	if gr != nil && !gr.adds(members, keys) {
		return nil, nil
	}
	if gr == nil {
		if g.groups == nil {
			g.groups = make(map[string]*group)
			g.index = make(map[string][]*group)
			g.reported = make(map[[2]*group]bool)
		}
		if len(g.groups) >= MaxGroups {
			if g.full {
				return nil, nil
			}
			g.full = true
			return nil, &Full{Balancer: strings.Clone(balancer)}
		}
		// The strings may be views of the caller's memory (the C ABI passes
		// them without copying): what outlives the call is copied.
		gr = &group{name: strings.Clone(balancer), members: make(map[string]bool), neighbours: make(map[*group]bool)}
		g.groups[gr.name] = gr
	}
	for _, m := range members {
		g.add(gr, m.Key)
	}
	for _, k := range keys {
		g.add(gr, k)
	}
	var out []Mixed
	for o := range gr.neighbours {
		pair := [2]*group{gr, o}
		if o.name < gr.name {
			pair = [2]*group{o, gr}
		}
		if g.reported[pair] || len(g.reported) >= maxMixed {
			continue
		}
		if m := compare(gr, o); m.OnlyA > 0 || m.OnlyB > 0 {
			g.reported[pair] = true
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(x, y Mixed) int { return cmp.Compare(x.B, y.B) })
	return out, nil
}

// add remembers that gr's rings listed k, and the balancers that listed it
// too as gr's neighbours.
func (g *Groups) add(gr *group, k string) {
	if gr.members[k] || len(gr.members) >= MaxGroupMembers {
		return
	}
	k = strings.Clone(k)
	gr.members[k] = true
	for _, o := range g.index[k] {
		gr.neighbours[o], o.neighbours[gr] = true, true
	}
	g.index[k] = append(g.index[k], gr)
}

// adds reports whether the keys of members or keys list a member gr has not
// remembered yet (and has room for).
func (gr *group) adds(members []Member, keys []string) bool {
	if len(gr.members) >= MaxGroupMembers {
		return false
	}
	for _, m := range members {
		if !gr.members[m.Key] {
			return true
		}
	}
	for _, k := range keys {
		if !gr.members[k] {
			return true
		}
	}
	return false
}

// compare counts what a and b, neighbours, share and what only one has.
func compare(a, b *group) Mixed {
	m := Mixed{A: a.name, B: b.name}
	for k := range a.members {
		if b.members[k] {
			m.NShared++
			m.Shared = append(m.Shared, k)
		} else {
			m.OnlyA++
		}
	}
	m.OnlyB = len(b.members) - m.NShared
	slices.Sort(m.Shared)
	m.Shared = slices.Clip(m.Shared[:min(len(m.Shared), 3)])
	return m
}
