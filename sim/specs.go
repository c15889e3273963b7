package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
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

// GroupSpec is ringlb's memory backend as ringlb_ring.lua opens it: one
// balancer per group of the run's configuration (the group's name is the
// balancer's), sharing loads in one scope, each with its own tie scores,
// on simulated time.
func GroupSpec(name string, groups []Group, opts lb.Options) Spec {
	return Spec{Name: name, Open: func() (Policy, func() error, error) {
		opts.MaxHoldAge = -1
		clock := &Clock{Epoch: simEpoch}
		scope := lb.NewScope(clock.Now)
		p := &LB{Clock: clock, ByGroup: true}
		closeAll := func() error {
			var errs []error
			for _, b := range p.Nodes {
				errs = append(errs, b.Close())
			}
			return errors.Join(errs...)
		}
		for _, g := range groups {
			m, err := scope.Open(g.Name, opts)
			if err != nil {
				closeAll()
				return nil, nil, err
			}
			p.Nodes = append(p.Nodes, m)
		}
		return p, closeAll, nil
	}}
}

// RedisLease is the lease of the simulated Redis nodes: far longer than any
// run takes in wall-clock time, so no hold lapses and each ends by an
// explicit release at simulated call end.
const RedisLease = time.Hour

// RedisTimeout bounds each operation of the simulated Redis nodes: far
// above the default, as the simulation judges choices, not latency, and a
// busy machine must not fail a run.
const RedisTimeout = 10 * time.Second

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
			o.URL, o.KeyPrefix, o.Lease, o.MaxHoldAge, o.Timeout = url, fmt.Sprintf("%s%d:", prefix, run), RedisLease, -1, RedisTimeout
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
// Redis policy, and the memory one it must match, are left out when
// redisURL is empty.
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
	// cannot move: they run on traces where time does not matter (no
	// wrap-up, joins, logouts or direct calls), without fading, beside a
	// memory balancer without fading that they must match choice for
	// choice.
	if redisURL != "" && cfg.Wrapup == 0 && cfg.DirectPerHour == 0 && len(cfg.Joins) == 0 && len(cfg.Logouts) == 0 {
		specs = append(specs,
			MemorySpec(NoFading, timeless),
			RedisSpec(RedisName(cfg.Nodes), redisURL, redisPrefix, cfg.Nodes, timeless))
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

// timeless are lb's default rules without what reads the clock (fading,
// the start window, the no-answer back-off): the options of the Redis
// policy, whose clock the simulation cannot move, and of the memory one
// it must match.
var timeless = lb.Options{HalfLife: -1, StartWindow: -1, NoAnswerBackoff: -1}

// NoFading is the memory policy the Redis one is compared with.
const NoFading = "ringlb-no-fading"

// RedisName is the name of the Redis policy over nodes nodes.
func RedisName(nodes int) string { return fmt.Sprintf("ringlb-redis-%dnode", nodes) }

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

// RuleSpec is the research model Rule with opts (see Rule), on simulated
// time.
func RuleSpec(name string, opts RuleOptions) Spec {
	return Spec{Name: name, Open: func() (Policy, func() error, error) { return NewRule(opts), nil, nil }}
}

// Scenario is a named variation of a configuration, for the traces `make
// sim` runs side by side.
type Scenario struct {
	Name  string
	About string
	Apply func(*Config)
}

// Scenarios are the variations of the default call centre `make sim` runs:
// the default call centre, one agent joining mid-shift, wrap-up after each
// call, and calls dialled straight to agents.
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

// ShiftLength is the length of a shift trace unless it says otherwise.
const ShiftLength = 8 * time.Hour

// twoGroups makes c the shape most shift traces share: two groups of four
// sharing two of six agents, perGroup calls an hour each, talk mean talk,
// equal agents (5 % no-answer each), a ShiftLength shift.
func twoGroups(c *Config, perGroup float64, talk time.Duration) {
	c.Calls, c.Duration = 0, ShiftLength
	c.Groups = []Group{
		{Name: "sales", Members: []string{"1001", "1002", "1003", "1004"}, Weight: 1},
		{Name: "support", Members: []string{"1003", "1004", "1005", "1006"}, Weight: 1},
	}
	c.ArrivalsPerHour, c.TalkMean = 2*perGroup, talk
	c.NoAnswer, c.NoAnswerSpread = 0.05, 0
}

// manyGroups makes c ten groups of five over twenty agents, the members of
// each drawn at random from c.Seed (every agent in at least one group),
// perGroup calls an hour each.
func manyGroups(c *Config, perGroup float64) {
	twoGroups(c, perGroup, 180*time.Second)
	rng := rand.New(rand.NewPCG(c.Seed, 0x67726f7570732d6c)) // "groups-l"
	const agents, groups, size = 20, 10, 5
	for {
		c.Groups = c.Groups[:0]
		in := make([]bool, agents)
		for g := range groups {
			pick := rng.Perm(agents)[:size]
			slices.Sort(pick)
			var members []string
			for _, a := range pick {
				members = append(members, strconv.Itoa(1001+a))
				in[a] = true
			}
			c.Groups = append(c.Groups, Group{Name: fmt.Sprintf("g%02d", g+1), Members: members, Weight: 1})
		}
		if !slices.Contains(in, false) {
			break
		}
	}
	c.ArrivalsPerHour = groups * perGroup
}

// Shifts are the shift traces `make sim` runs, each over many seeds: the
// shapes of call centre ringlb must spread evenly over a whole shift.
func Shifts() []Scenario {
	return []Scenario{
		{Name: "two-groups", About: "two groups of 4 sharing 2 of 6 agents, 40 calls/h each, 180 s talk, 8 h",
			Apply: func(c *Config) { twoGroups(c, 40, 180*time.Second) }},
		{Name: "low-traffic", About: "the same at 6 calls/h each, 60 s talk",
			Apply: func(c *Config) { twoGroups(c, 6, 60*time.Second) }},
		{Name: "overload", About: "the same at 70 calls/h each: more calls than agents",
			Apply: func(c *Config) { twoGroups(c, 70, 180*time.Second) }},
		{Name: "mixed", About: "two groups; 1001 answers 60 % of calls, 1006 talks twice as long",
			Apply: func(c *Config) {
				twoGroups(c, 40, 180*time.Second)
				c.Traits = []Trait{{Agent: "1001", NoAnswer: 0.4}, {Agent: "1006", TalkScale: 2}}
			}},
		{Name: "many-groups", About: "10 groups of 5 over 20 agents, members drawn at random per seed, 18 calls/h each",
			Apply: func(c *Config) { manyGroups(c, 18) }},
		{Name: "logout-dnd", About: "two groups; 1002 on do-not-disturb from 2 h to 4 h",
			Apply: func(c *Config) {
				twoGroups(c, 40, 180*time.Second)
				c.Logouts = []Logout{{Agent: "1002", From: 2 * time.Hour, To: 4 * time.Hour, Via: DND}}
			}},
		{Name: "logout-drain", About: "two groups; 1002 drained in the balancer from 2 h to 4 h",
			Apply: func(c *Config) {
				twoGroups(c, 40, 180*time.Second)
				c.Logouts = []Logout{{Agent: "1002", From: 2 * time.Hour, To: 4 * time.Hour, Via: Drained}}
			}},
		{Name: "24h", About: "two groups over 24 h",
			Apply: func(c *Config) {
				twoGroups(c, 40, 180*time.Second)
				c.Duration = 24 * time.Hour
			}},
		{Name: "never-answers", About: "two groups; 1001 never answers",
			Apply: func(c *Config) {
				twoGroups(c, 40, 180*time.Second)
				c.Traits = []Trait{{Agent: "1001", NoAnswer: 1}}
			}},
	}
}

// ScenarioByName returns the scenario or shift called name.
func ScenarioByName(name string) (Scenario, bool) {
	for _, s := range append(Scenarios(), Shifts()...) {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}
