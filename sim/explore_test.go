package sim

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/ringlb/ringlb/lb"
)

func TestExplore(t *testing.T) {
	if os.Getenv("EXPLORE") == "" {
		t.Skip()
	}
	for _, s := range Shifts() {
		line := s.Name + ":"
		bl := ""
		for seed := uint64(1); seed <= 4; seed++ {
			cfg := DefaultConfig()
			cfg.Seed = seed
			s.Apply(&cfg)
			tr, _ := NewTrace(cfg)
			p, c, _ := MemorySpec("ringlb", lb.Options{}).Open()
			res, err := Run(cfg, tr, "ringlb", p)
			c()
			if err != nil {
				t.Fatal(err)
			}
			t0 := time.Now()
			b, err := FindBound(cfg, tr, BoundOptions{})
			if err != nil {
				t.Fatal(err)
			}
			line += fmt.Sprintf(" %.2f", res.Spread())
			bl += fmt.Sprintf(" %.2f(base %.2f %s, %d dec, %d runs, %v)", b.Spread, b.Base, b.BaseRule, b.Decisions, b.Runs, time.Since(t0).Round(time.Millisecond))
		}
		fmt.Println(line, "| bound", bl)
	}
}

func BenchmarkRuleRun(b *testing.B) {
	s, _ := ScenarioByName("two-groups")
	cfg := DefaultConfig()
	s.Apply(&cfg)
	tr, _ := NewTrace(cfg)
	b.ReportAllocs()
	for b.Loop() {
		r := NewRule(RuleOptions{Tie: RuleFewest, HalfLife: 4 * time.Hour})
		if _, err := simulate(cfg, tr, "x", r, false); err != nil {
			b.Fatal(err)
		}
	}
}
