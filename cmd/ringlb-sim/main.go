// Command ringlb-sim runs the balance-quality simulation of package sim: one
// seeded call-centre trace fed to ringlb (memory with lru and list ties, and
// several nodes sharing one Redis), a model of genesis, sequential and random
// ring groups. It prints one markdown table with the model in its header.
//
// Usage:
//
//	go run ./cmd/ringlb-sim [flags]
//
// The Redis policy uses an in-process miniredis unless -redis-url names a
// real server. On a real server its keys go under a fresh
// "ringlb-sim:<time>:" prefix, so a run never touches other data; every hold
// is released by the end of the run, but the few bookkeeping keys (no TTL)
// stay, and the command prints their pattern on stderr for deletion.
// -redis=false leaves the Redis policy out.
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
	"github.com/ringlb/ringlb/sim"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command, with its arguments and outputs passed in for tests.
// It returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	cfg := sim.DefaultConfig()
	fs := flag.NewFlagSet("ringlb-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the trace and of the random policy")
	fs.IntVar(&cfg.Calls, "calls", cfg.Calls, "number of calls")
	fs.Float64Var(&cfg.ArrivalsPerHour, "rate", cfg.ArrivalsPerHour, "Poisson arrivals per hour, all groups together")
	fs.DurationVar(&cfg.TalkMean, "talk", cfg.TalkMean, "mean talk time (exponential)")
	fs.DurationVar(&cfg.RingTimeout, "ring-timeout", cfg.RingTimeout, "how long an unanswered leg rings")
	fs.DurationVar(&cfg.AnswerMin, "answer-min", cfg.AnswerMin, "shortest delay before an agent answers")
	fs.DurationVar(&cfg.AnswerMax, "answer-max", cfg.AnswerMax, "longest delay before an agent answers (below -ring-timeout)")
	fs.DurationVar(&cfg.BusyDelay, "busy-delay", cfg.BusyDelay, "how long a busy agent's leg takes to be rejected")
	fs.DurationVar(&cfg.PatienceMean, "patience", cfg.PatienceMean, "mean caller patience (exponential); 0 = callers never hang up")
	fs.Float64Var(&cfg.NoAnswer, "no-answer", cfg.NoAnswer, "mean chance that an idle agent does not answer")
	fs.Float64Var(&cfg.NoAnswerSpread, "no-answer-spread", cfg.NoAnswerSpread, "agents' no-answer chances range over no-answer×(1±spread)")
	fs.IntVar(&cfg.Nodes, "nodes", cfg.Nodes, "switches calls are spread over (Redis policy)")
	fs.DurationVar(&cfg.GenesisGap, "genesis-gap", cfg.GenesisGap, "genesis: time between its choice (MGET) and its increment (INCR)")
	groups := fs.String("groups", "", "groups as name=member,member,...@weight separated by ';' (default: "+formatGroups(cfg.Groups)+")")
	useRedis := fs.Bool("redis", true, "include the ringlb Redis policy")
	redisURL := fs.String("redis-url", "", "Redis server for the Redis policy (default: an in-process miniredis)")
	perAgent := fs.Bool("per-agent", false, "also print answered calls and offers per agent")
	out := fs.String("out", "", "also write the output to this file")
	svg := fs.String("svg", "", "also draw a chart into this SVG file: answered calls per agent by policy, and an agent's legs over time")
	svgAgent := fs.String("svg-agent", "", "the agent whose legs the chart follows (default: the first of the trace)")
	var names []string
	for _, s := range sim.Scenarios() {
		names = append(names, s.Name)
	}
	scenario := fs.String("scenario", "default", "trace to run: "+strings.Join(names, ", ")+", or all (one table each)")
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
	scenarios := sim.Scenarios()
	if *scenario != "all" {
		s, ok := sim.ScenarioByName(*scenario)
		if !ok {
			fmt.Fprintf(stderr, "ringlb-sim: unknown scenario %q (want %s or all)\n", *scenario, strings.Join(names, ", "))
			return 2
		}
		scenarios = []sim.Scenario{s}
	}

	url := ""
	if *useRedis {
		url = *redisURL
		if url == "" {
			mr := miniredis.NewMiniRedis()
			if err := mr.Start(); err != nil {
				fmt.Fprintf(stderr, "ringlb-sim: miniredis: %v\n", err)
				return 1
			}
			defer mr.Close()
			url = "redis://" + mr.Addr()
		}
	}
	prefix := "ringlb-sim:" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"
	if *useRedis && *redisURL != "" {
		defer fmt.Fprintf(stderr, "ringlb-sim: Redis keys of this run match %q (redis-cli --scan --pattern '%s*' | xargs redis-cli unlink)\n", prefix+"*", prefix)
	}
	var b strings.Builder
	var results []sim.Result
	for i, s := range scenarios {
		c := cfg
		s.Apply(&c)
		res, notes, err := sim.RunAll(c, sim.StandardSpecs(c, url, prefix+s.Name+":"))
		if err != nil {
			fmt.Fprintf(stderr, "ringlb-sim: %s: %v\n", s.Name, err)
			return 1
		}
		if i == 0 {
			results = res // the chart follows the first scenario
		}
		if len(scenarios) > 1 {
			fmt.Fprintf(&b, "## Scenario %s: %s\n\n", s.Name, s.About)
		}
		if err := sim.WriteTable(&b, c, res, notes); err != nil {
			fmt.Fprintf(stderr, "ringlb-sim: %v\n", err)
			return 1
		}
		if *perAgent {
			if err := sim.WriteAgents(&b, res); err != nil {
				fmt.Fprintf(stderr, "ringlb-sim: %v\n", err)
				return 1
			}
		}
		if len(scenarios) > 1 {
			b.WriteString("\n")
		}
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
		agent := *svgAgent
		if agent == "" {
			agent = results[0].Agents[0].Agent
		}
		var c strings.Builder
		if err := sim.WriteChart(&c, results, agent, 2*time.Hour, []string{"ringlb", "genesis"}); err != nil {
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
