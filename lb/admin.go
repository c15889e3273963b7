package lb

import "sort"

// Names returns the names of the balancers open in r, sorted. Operators'
// tools use it to list what a process has open (the C ABI's ringlb_list and
// Lua's ringlb.list).
func (r *Registry) Names() []string {
	r.mu.RLock()
	names := make([]string, 0, len(r.byName))
	for name := range r.byName {
		names = append(names, name)
	}
	r.mu.RUnlock()
	sort.Strings(names)
	return names
}
