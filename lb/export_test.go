package lb

import (
	"sort"
	"strings"
)

// Known lists the destinations a Memory has state for, for the external
// tests (package lb_test).
func Known(m *Memory) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for d := range m.dests {
		out = append(out, d)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// SnapshotSlice is how many entries a Memory snapshot copies per turn of
// its lock.
const SnapshotSlice = snapshotSlice

// ScopeMembers is how many members scope s keeps (nil: the process's).
func ScopeMembers(s *Scope) int {
	if s == nil {
		s = processScope
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.members)
}
