// Command ringlb-sim runs the balance-quality simulation of package sim:
// seeded call-centre traces fed to ringlb (memory with fewest, lru and list
// ties, and several nodes sharing one Redis), a model of genesis,
// sequential and random ring groups. Each trace runs over several seeds;
// the shift traces also get the hindsight bound (sim.FindBound). It prints
// markdown: one trace's tables, or with -scenario all the whole report
// that `make sim` writes to docs/balance.md.
//
// Usage:
//
//	go run ./cmd/ringlb-sim [flags]
//
// The Redis policy runs on a private redis-server the command starts (and
// stops), or on the in-process miniredis when redis-server is not
// installed, unless -redis-url names a server. On a named server its keys
// go under a fresh "ringlb-sim:<time>:" prefix, so a run never touches
// other data; every hold is released by the end of the run, but the few
// bookkeeping keys (no TTL) stay, and the command prints their pattern on
// stderr for deletion. -redis=false leaves the Redis policy out.
//
// -variants adds research variants of the tie rule (sim.Variants, run on
// the model sim.Rule, never as the ringlb rows) and prints how each does
// on every trace.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/ringlb/ringlb/internal/redistest"
	"github.com/ringlb/ringlb/sim"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// redisTraces are the traces the Redis policy runs on.
var redisTraces = []string{"default", "two-groups"}

// run is the command, with its arguments and outputs passed in for tests.
// It returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	cfg := sim.DefaultConfig()
	fs := flag.NewFlagSet("ringlb-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "first seed of the traces and of the random policy")
	seeds := fs.Int("seeds", 10, "seeds per trace: -seed, -seed+1, ...")
	fs.IntVar(&cfg.Calls, "calls", cfg.Calls, "number of calls (the default call centre's scenarios; shift traces run for their shift)")
	scale := fs.Float64("scale", 1, "multiply the shift traces' length (and their logouts) by this")
	fs.Float64Var(&cfg.ArrivalsPerHour, "rate", cfg.ArrivalsPerHour, "Poisson arrivals per hour, all groups together (default call centre)")
	fs.DurationVar(&cfg.TalkMean, "talk", cfg.TalkMean, "mean talk time, exponential (default call centre)")
	fs.DurationVar(&cfg.RingTimeout, "ring-timeout", cfg.RingTimeout, "how long an unanswered leg rings")
	fs.DurationVar(&cfg.AnswerMin, "answer-min", cfg.AnswerMin, "shortest delay before an agent answers")
	fs.DurationVar(&cfg.AnswerMax, "answer-max", cfg.AnswerMax, "longest delay before an agent answers (below -ring-timeout)")
	fs.DurationVar(&cfg.BusyDelay, "busy-delay", cfg.BusyDelay, "how long a busy agent's leg takes to be rejected")
	fs.DurationVar(&cfg.PatienceMean, "patience", cfg.PatienceMean, "mean caller patience (exponential); 0 = callers never hang up")
	fs.Float64Var(&cfg.NoAnswer, "no-answer", cfg.NoAnswer, "mean chance that an idle agent does not answer (default call centre)")
	fs.Float64Var(&cfg.NoAnswerSpread, "no-answer-spread", cfg.NoAnswerSpread, "agents' no-answer chances range over no-answer×(1±spread) (default call centre)")
	fs.IntVar(&cfg.Nodes, "nodes", cfg.Nodes, "switches calls are spread over (Redis policy)")
	fs.DurationVar(&cfg.GenesisGap, "genesis-gap", cfg.GenesisGap, "genesis: time between its choice (MGET) and its increment (INCR)")
	groups := fs.String("groups", "", "groups as name=member,member,...@weight separated by ';' (default call centre; default: "+formatGroups(cfg.Groups)+")")
	useRedis := fs.Bool("redis", true, "include the ringlb Redis policy (traces "+strings.Join(redisTraces, ", ")+")")
	redisURL := fs.String("redis-url", "", "Redis server for the Redis policy (default: a private redis-server, else an in-process miniredis)")
	bound := fs.Bool("bound", true, "search the hindsight bound of each shift trace's seeds")
	boundRuns := fs.Int("bound-runs", 0, "cap the bound search's simulations per seed (0: no cap)")
	lookahead := fs.Bool("lookahead", false, "also play each shift trace's seeds with a rule that looks ahead without hindsight (slow)")
	variants := fs.Bool("variants", false, "also run research variants of the tie rule on the model and print how each does")
	workers := fs.Int("workers", 0, "seeds run at once (0: one per CPU)")
	perAgent := fs.Bool("per-agent", false, "also print answered calls and offers per agent (single scenario)")
	out := fs.String("out", "", "also write the output to this file")
	svg := fs.String("svg", "", "also draw a chart into this SVG file: answered calls per agent by policy, an agent's legs over time, and with -scenario all the spread of every shift trace")
	svgAgent := fs.String("svg-agent", "", "the agent whose legs the chart follows (default: the first of the trace)")
	var names []string
	for _, s := range append(sim.Scenarios(), sim.Shifts()...) {
		names = append(names, s.Name)
	}
	scenario := fs.String("scenario", "default", "trace to run: "+strings.Join(names, ", ")+", or all (the whole report)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ringlb-sim: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *groups != "" {
		g, err := parseGroups(*groups)
		if err != nil {
			fmt.Fprintf(stderr, "ringlb-sim: %v\n", err)
			return 2
		}
		cfg.Groups = g
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "ringlb-sim: %v\n", err)
		return 2
	}
	if *seeds < 1 || *scale <= 0 || *boundRuns < 0 {
		fmt.Fprintf(stderr, "ringlb-sim: -seeds %d, -scale %v, -bound-runs %d (want >= 1, > 0, >= 0)\n", *seeds, *scale, *boundRuns)
		return 2
	}
	var scenarios, shifts []sim.Scenario
	if *scenario == "all" {
		scenarios, shifts = sim.Scenarios(), sim.Shifts()
	} else {
		s, ok := sim.ScenarioByName(*scenario)
		if !ok {
			fmt.Fprintf(stderr, "ringlb-sim: unknown scenario %q (want %s or all)\n", *scenario, strings.Join(names, ", "))
			return 2
		}
		if isShift(s.Name) {
			shifts = []sim.Scenario{s}
		} else {
			scenarios = []sim.Scenario{s}
		}
	}

	o := sim.SuiteOptions{Base: cfg, ShiftScale: *scale, Bound: *bound, BoundRuns: *boundRuns, Lookahead: *lookahead, Workers: *workers}
	for i := range *seeds {
		o.Seeds = append(o.Seeds, cfg.Seed+uint64(i))
	}
	if *useRedis {
		url, note, stop, err := redisFor(*redisURL)
		if err != nil {
			fmt.Fprintf(stderr, "ringlb-sim: %v\n", err)
			return 1
		}
		defer stop()
		if note != "" {
			fmt.Fprintf(stderr, "ringlb-sim: %s\n", note)
		}
		o.RedisURL, o.RedisTraces = url, redisTraces
		o.RedisPrefix = "ringlb-sim:" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"
		if *redisURL != "" {
			defer fmt.Fprintf(stderr, "ringlb-sim: Redis keys of this run match %q (redis-cli --scan --pattern '%s*' | xargs redis-cli unlink)\n", o.RedisPrefix+"*", o.RedisPrefix)
		}
	}
	o.Extra = sim.ChoiceSpecs
	if *variants {
		o.Extra = func(cfg sim.Config) []sim.Spec { return append(sim.ChoiceSpecs(cfg), sim.VariantSpecs(cfg)...) }
	}
	scenarioRuns, err := sim.RunSuite(scenarios, false, o)
	if err != nil {
		fmt.Fprintf(stderr, "ringlb-sim: %v\n", err)
		return 1
	}
	shiftRuns, err := sim.RunSuite(shifts, true, o)
	if err != nil {
		fmt.Fprintf(stderr, "ringlb-sim: %v\n", err)
		return 1
	}

	var b strings.Builder
	switch {
	case *scenario == "all":
		err = sim.WriteReport(&b, shiftRuns, scenarioRuns, sim.ReportOptions{
			Seeds: o.Seeds, BoundRuns: *boundRuns, Command: command(args)})
	case len(scenarioRuns) == 1:
		t := &scenarioRuns[0]
		err = sim.WriteTable(&b, t.Seeds[0].Config, t.Seeds[0].Results, t.Seeds[0].Notes)
		if err == nil && *perAgent {
			err = sim.WriteAgents(&b, t.Seeds[0].Results)
		}
		if err == nil && len(t.Seeds) > 1 {
			err = sim.WriteSeedsLine(&b, t)
		}
	default:
		t := &shiftRuns[0]
		fmt.Fprintf(&b, "## Shift trace %s: %s\n\n", t.Scenario.Name, t.Scenario.About)
		err = sim.WriteTrace(&b, t)
	}
	if err == nil && *scenario == "all" {
		b.WriteString("\n")
		err = sim.WriteChoices(&b, append(shiftRuns, scenarioRuns...))
	}
	if err == nil && *variants {
		b.WriteString("\n")
		err = sim.WriteVariants(&b, append(shiftRuns, scenarioRuns...))
	}
	if err != nil {
		fmt.Fprintf(stderr, "ringlb-sim: %v\n", err)
		return 1
	}
	if _, err := io.WriteString(stdout, b.String()); err != nil {
		return 1
	}
	if *out != "" {
		if err := os.WriteFile(*out, []byte(b.String()), 0o644); err != nil {
			fmt.Fprintf(stderr, "ringlb-sim: %v\n", err)
			return 1
		}
	}
	if *svg != "" {
		chartRuns := scenarioRuns
		if len(chartRuns) == 0 {
			chartRuns = shiftRuns
		}
		results := chartRuns[0].Seeds[0].Results
		agent := *svgAgent
		if agent == "" {
			agent = results[0].Agents[0].Agent
		}
		var c strings.Builder
		if err := sim.WriteReportChart(&c, results, agent, 2*time.Hour, []string{"ringlb", "genesis"}, shiftRuns); err != nil {
			fmt.Fprintf(stderr, "ringlb-sim: %v\n", err)
			return 1
		}
		if err := os.WriteFile(*svg, []byte(c.String()), 0o644); err != nil {
			fmt.Fprintf(stderr, "ringlb-sim: %v\n", err)
			return 1
		}
	}
	return 0
}

// isShift reports whether name is a shift trace.
func isShift(name string) bool {
	for _, s := range sim.Shifts() {
		if s.Name == name {
			return true
		}
	}
	return false
}

// command is the command line that made a report, for its header; file
// names are left as they are.
func command(args []string) string {
	return strings.TrimSpace("go run ./cmd/ringlb-sim " + strings.Join(args, " "))
}

// redisFor returns the Redis URL for the Redis policy: url when given, else
// a private redis-server, else an in-process miniredis (with a note). stop
// frees what it started.
func redisFor(url string) (string, string, func(), error) {
	if url != "" {
		return url, "", func() {}, nil
	}
	if srv, err := redistest.Launch(); err == nil {
		return srv.URL(), "", srv.Stop, nil
	} else if redistest.Binary() != "" {
		return "", "", nil, err
	}
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		return "", "", nil, fmt.Errorf("miniredis: %w", err)
	}
	return "redis://" + mr.Addr(), "redis-server not found: the Redis policy runs on an in-process miniredis", mr.Close, nil
}

// parseGroups reads name=member,member@weight;... ; the weight defaults to 1.
func parseGroups(s string) ([]sim.Group, error) {
	var gs []sim.Group
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, rest, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("group %q: want name=member,member@weight", part)
		}
		g := sim.Group{Name: strings.TrimSpace(name), Weight: 1}
		if members, w, ok := strings.Cut(rest, "@"); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(w), 64)
			if err != nil {
				return nil, fmt.Errorf("group %q: weight %q", g.Name, w)
			}
			g.Weight, rest = f, members
		}
		for _, m := range strings.Split(rest, ",") {
			g.Members = append(g.Members, strings.TrimSpace(m))
		}
		gs = append(gs, g)
	}
	return gs, nil
}

func formatGroups(gs []sim.Group) string {
	var parts []string
	for _, g := range gs {
		parts = append(parts, fmt.Sprintf("%s=%s@%g", g.Name, strings.Join(g.Members, ","), g.Weight))
	}
	return strings.Join(parts, ";")
}
