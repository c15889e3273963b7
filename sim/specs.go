package sim

import (
	"errors"
	"fmt"
	"time"

	"github.com/ringlb/ringlb/lb"
)

// Spec names a policy and opens a fresh instance of it for one run. Close,
// if not nil, frees what Open took.
type Spec struct {
	Name string
	Open func() (p Policy, close func() error, err error)
}

// memoryOptions are ringlb's defaults except that holds never expire: every
// hold is released at simulated call end, whatever the wall clock says.
func memoryOptions(tie lb.TiePolicy) lb.Options {
	return lb.Options{Tie: tie, MaxHoldAge: -1}
}

// MemorySpec is ringlb's memory backend with the given tie policy, one
// balancer shared by every node (one switch).
func MemorySpec(name string, tie lb.TiePolicy) Spec {
	return Spec{Name: name, Open: func() (Policy, func() error, error) {
		m, err := lb.NewMemory(name, memoryOptions(tie))
		if err != nil {
			return nil, nil, err
		}
		return &LB{Nodes: []lb.Balancer{m}}, m.Close, nil
	}}
}

// RedisLease is the lease of the simulated Redis nodes: far longer than any
// run takes in wall-clock time, so no hold lapses and each ends by an
// explicit release at simulated call end.
const RedisLease = time.Hour

// RedisSpec is ringlb's Redis backend with nodes simulated switches, each with
// its own balancer opened with lb.NewRedis on the Redis at url. Each run
// uses keys under prefix plus the run's number, so runs do not share state.
func RedisSpec(name, url, prefix string, nodes int) Spec {
	run := 0
	return Spec{Name: name, Open: func() (Policy, func() error, error) {
		run++
		p := &LB{}
		closeAll := func() error {
			var errs []error
			for _, b := range p.Nodes {
				errs = append(errs, b.Close())
			}
			return errors.Join(errs...)
		}
		for i := range nodes {
			b, err := lb.NewRedis(name, lb.Options{
				URL:        url,
				KeyPrefix:  fmt.Sprintf("%s%d:", prefix, run),
				Lease:      RedisLease,
				MaxHoldAge: -1,
				Node:       fmt.Sprintf("sim-node-%d", i+1),
			})
			if err != nil {
				closeAll()
				return nil, nil, err
			}
			p.Nodes = append(p.Nodes, b)
		}
		return p, closeAll, nil
	}}
}

// StandardSpecs are the policies compared by default, in table order. The
// Redis policy is left out when redisURL is empty.
func StandardSpecs(cfg Config, redisURL, redisPrefix string) []Spec {
	specs := []Spec{
		MemorySpec("ringlb", lb.TieLRU),
		MemorySpec("ringlb-list", lb.TieList),
	}
	if redisURL != "" {
		specs = append(specs, RedisSpec(fmt.Sprintf("ringlb-redis-%dnode", cfg.Nodes), redisURL, redisPrefix, cfg.Nodes))
	}
	gap := cfg.GenesisGap
	seed := cfg.Seed
	specs = append(specs,
		Spec{Name: "genesis", Open: func() (Policy, func() error, error) { return NewGenesis(gap), nil, nil }},
		Spec{Name: "sequential", Open: func() (Policy, func() error, error) { return Sequential{}, nil, nil }},
		Spec{Name: "random", Open: func() (Policy, func() error, error) { return NewRandom(seed), nil, nil }},
	)
	return specs
}

// RunAll draws the trace of cfg and runs every spec over it. A policy that
// cannot be opened is left out of the results with a note saying why; an
// error during a run fails the whole comparison.
func RunAll(cfg Config, specs []Spec) (results []Result, notes []string, err error) {
	tr, err := NewTrace(cfg)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range specs {
		p, closeFn, err := s.Open()
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s was not run: %v", s.Name, err))
			continue
		}
		res, err := Run(cfg, tr, s.Name, p)
		if closeFn != nil {
			if cerr := closeFn(); err == nil && cerr != nil {
				err = fmt.Errorf("sim: %s: close: %w", s.Name, cerr)
			}
		}
		if err != nil {
			return nil, nil, err
		}
		results = append(results, res)
	}
	return results, notes, nil
}
