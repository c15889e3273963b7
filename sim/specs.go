package sim

import (
	"errors"
	"fmt"
	"time"

	"github.com/ringlb/ringlb/lb"
	"github.com/ringlb/ringlb/lb/redislb"
)

// Spec names a policy and opens a fresh instance of it for one run. Close,
// if not nil, frees what Open took.
type Spec struct {
	Name string
	Open func() (p Policy, close func() error, err error)
}

// simEpoch is the wall-clock time simulated time 0 stands for.
var simEpoch = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

// MemorySpec is ringlb's memory backend with the given options, one
// balancer shared by every node (one switch), on simulated time. Holds
// never expire (MaxHoldAge -1): every hold is released at simulated call
// end.
func MemorySpec(name string, opts lb.Options) Spec {
	return memorySpec(name, opts, false)
}

func memorySpec(name string, opts lb.Options, untracked bool) Spec {
	return Spec{Name: name, Open: func() (Policy, func() error, error) {
		opts.MaxHoldAge = -1
		m, err := lb.NewMemory(name, opts)
		if err != nil {
			return nil, nil, err
		}
		clock := &Clock{Epoch: simEpoch}
		m.SetClock(clock.Now)
		return &LB{Nodes: []lb.Balancer{m}, Clock: clock, Untracked: untracked}, m.Close, nil
	}}
}

// RedisLease is the lease of the simulated Redis nodes: far longer than any
// run takes in wall-clock time, so no hold lapses and each ends by an
// explicit release at simulated call end.
const RedisLease = time.Hour

// RedisSpec is ringlb's Redis backend with nodes simulated switches, each with
// its own balancer opened with redislb.New on the Redis at url. Each run
// uses keys under prefix plus the run's number, so runs do not share state.
func RedisSpec(name, url, prefix string, nodes int, opts lb.Options) Spec {
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
			o := opts
			o.URL, o.KeyPrefix, o.Lease, o.MaxHoldAge = url, fmt.Sprintf("%s%d:", prefix, run), RedisLease, -1
			o.Node = fmt.Sprintf("sim-node-%d", i+1)
			b, err := redislb.New(name, o)
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
		MemorySpec("ringlb", lb.Options{DefaultWrapup: cfg.Wrapup}),
		MemorySpec("ringlb-lru", lb.Options{Tie: lb.TieLRU, DefaultWrapup: cfg.Wrapup}),
		MemorySpec("ringlb-list", lb.Options{Tie: lb.TieList, DefaultWrapup: cfg.Wrapup}),
	}
	if cfg.Wrapup > 0 {
		specs = append(specs, MemorySpec("ringlb-no-wrapup", lb.Options{}))
	}
	if cfg.DirectPerHour > 0 {
		specs = append(specs, memorySpec("ringlb-untracked", lb.Options{DefaultWrapup: cfg.Wrapup}, true))
	}
	// Redis balancers read the Redis server's clock, which the simulation
	// cannot move: only traces without wrap-up, joins or direct calls
	// (whose fewest decay matters little over a run) include them.
	if redisURL != "" && cfg.Wrapup == 0 && cfg.DirectPerHour == 0 && len(cfg.Joins) == 0 {
		specs = append(specs, RedisSpec(fmt.Sprintf("ringlb-redis-%dnode", cfg.Nodes), redisURL, redisPrefix, cfg.Nodes, lb.Options{}))
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

// Scenario is a named variation of a configuration, for the traces `make
// sim` runs side by side.
type Scenario struct {
	Name  string
	About string
	Apply func(*Config)
}

// Scenarios are the traces `make sim` runs: the default call centre, one
// agent joining mid-shift, wrap-up after each call, and calls dialled
// straight to agents.
func Scenarios() []Scenario {
	return []Scenario{
		{Name: "default", About: "the default call centre", Apply: func(*Config) {}},
		{Name: "late-joiner", About: "agent 1008 logs in 20 h into the run; answers counted from its second hour",
			Apply: func(c *Config) {
				c.Joins = []Join{{Agent: "1008", At: 20 * time.Hour}}
				c.MeasureFrom = 21 * time.Hour
			}},
		{Name: "wrap-up", About: "30 s of after-call work after each answered call",
			Apply: func(c *Config) { c.Wrapup = 30 * time.Second }},
		{Name: "direct-calls", About: "24 calls an hour dialled straight to random agents besides the groups",
			Apply: func(c *Config) { c.DirectPerHour = 24 }},
	}
}

// ScenarioByName returns the scenario called name.
func ScenarioByName(name string) (Scenario, bool) {
	for _, s := range Scenarios() {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}
