package lb

import (
	"fmt"
	"strings"
	"sync"
)

// Registry holds named balancers so that every caller opening one name gets
// the same instance. This is how each call's fresh Lua state in FreeSWITCH
// shares one balancer. The zero value is ready to use; it is safe for
// simultaneous use by multiple goroutines.
type Registry struct {
	mu     sync.RWMutex
	byName map[string]*Named
	byID   map[uint64]*Named
	lastID uint64
}

// Named is a balancer in a Registry.
type Named struct {
	Balancer
	// ID is a small number that identifies the balancer in the registry for
	// its whole life; the C ABI uses it as a handle.
	ID uint64
	// Name is the name it was opened with.
	Name string
	// Options are the options it was opened with, defaults applied.
	Options Options

	canon string
	stats stats
}

// Default is the process-wide registry used by the C ABI and Lua module.
var Default Registry

// Open returns the balancer named name, creating it with s on first use, of
// the backend s selects (see lb.Open). Opening a name again with the same
// options returns the same balancer; with other options it returns
// ErrOptionsMismatch. Opening a new name while MaxBalancers are open is an
// error wrapping ErrInvalidArgument. Options are checked here, a *Config
// was checked when it was made: either way once.
//
// A new balancer is created outside the registry's lock (a store's
// balancer may wait up to its timeout for the store), so that the
// balancers already open are never held up by it.
func (r *Registry) Open(name string, s Settings) (*Named, error) {
	c, err := openConfig(name, s)
	if err != nil {
		return nil, err
	}
	r.mu.RLock()
	n, full := r.byName[name], len(r.byName) >= MaxBalancers
	r.mu.RUnlock()
	if n == nil {
		if full {
			return nil, errFull(name)
		}
		b, err := c.open(name)
		if err != nil {
			return nil, err
		}
		if n, err = r.add(name, c, b); err != nil {
			b.Close()
			return nil, err
		}
		if n.Balancer == b {
			return n, nil
		}
		b.Close() // another caller opened the name meanwhile: theirs it is
	}
	if n.canon != c.canon {
		return nil, fmt.Errorf("ringlb: open %q: %w", name, ErrOptionsMismatch)
	}
	return n, nil
}

// add registers b as name, unless a caller did so first: then it returns
// that one, and b is the caller's to close.
func (r *Registry) add(name string, c *Config, b Balancer) (*Named, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := r.byName[name]; n != nil {
		return n, nil
	}
	if len(r.byName) >= MaxBalancers {
		return nil, errFull(name)
	}
	if r.byName == nil {
		r.byName = make(map[string]*Named)
		r.byID = make(map[uint64]*Named)
	}
	r.lastID++
	n := &Named{Balancer: b, ID: r.lastID, Name: strings.Clone(name), Options: c.Options(), canon: c.canon}
	r.byName[name] = n
	r.byID[n.ID] = n
	return n, nil
}

// errFull is the error of opening name in a full registry.
func errFull(name string) error {
	return fmt.Errorf("ringlb: open %q: %w: %d balancers open, the most one process may have", name, ErrInvalidArgument, MaxBalancers)
}

// Get returns the balancer with the given ID, or nil.
func (r *Registry) Get(id uint64) *Named {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.byID[id]
}

// Lookup returns the balancer with the given name, or nil.
func (r *Registry) Lookup(name string) *Named {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.byName[name]
}

// Close closes and forgets the balancer named name; a later Open creates it
// anew. It reports whether there was one.
func (r *Registry) Close(name string) (bool, error) {
	r.mu.Lock()
	n := r.byName[name]
	if n != nil {
		delete(r.byName, name)
		delete(r.byID, n.ID)
	}
	r.mu.Unlock()
	if n == nil {
		return false, nil
	}
	return true, n.Balancer.Close()
}
