package sim

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/ringlb/ringlb/lb"
)

// traceOf returns the config and trace of scenario or shift name at seed,
// cut to calls calls (scenarios) or length (shifts).
func traceOf(t *testing.T, name string, seed uint64, calls int, length time.Duration) (Config, *Trace) {
	t.Helper()
	s, ok := ScenarioByName(name)
	if !ok {
		t.Fatalf("no trace %s", name)
	}
	cfg := DefaultConfig()
	cfg.Seed, cfg.Calls = seed, calls
	s.Apply(&cfg)
	if cfg.Duration > 0 {
		cfg.ScaleShift(float64(length) / float64(cfg.Duration))
	}
	tr, err := NewTrace(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, tr
}

// The research model chooses exactly as lb.Memory for the ties both have,
// on every trace: what a variant of it changes is the variant, not the
// model.
func TestRuleMatchesMemory(t *testing.T) {
	type pair struct {
		lb   lb.Options
		rule RuleOptions
	}
	pairs := []pair{
		{lb.Options{}, RuleOptions{Tie: RuleFewest, HalfLife: lb.DefaultHalfLife}},
		{lb.Options{HalfLife: -1}, RuleOptions{Tie: RuleFewest}},
		{lb.Options{HalfLife: 30 * time.Minute}, RuleOptions{Tie: RuleFewest, HalfLife: 30 * time.Minute}},
		{lb.Options{Tie: lb.TieLRU}, RuleOptions{Tie: RuleLRU}},
		{lb.Options{Tie: lb.TieList}, RuleOptions{Tie: RuleList}},
	}
	var names []string
	for _, s := range append(Scenarios(), Shifts()...) {
		names = append(names, s.Name)
	}
	for _, name := range names {
		for seed := uint64(1); seed <= 2; seed++ {
			cfg, tr := traceOf(t, name, seed, 800, 3*time.Hour)
			for _, p := range pairs {
				p.lb.DefaultWrapup, p.rule.Wrapup = cfg.Wrapup, cfg.Wrapup
				what := fmt.Sprintf("%s seed %d, %s", name, seed, p.rule)
				mem, closeFn, err := MemorySpec("m", p.lb).Open()
				if err != nil {
					t.Fatal(err)
				}
				memRec, memRes := run(t, cfg, tr, mem)
				closeFn()
				ruleRec, ruleRes := run(t, cfg, tr, NewRule(p.rule))
				if !reflect.DeepEqual(memRec.legs, ruleRec.legs) {
					t.Errorf("%s: legs differ from lb's", what)
					for i := range memRec.legs {
						if i < len(ruleRec.legs) && memRec.legs[i] != ruleRec.legs[i] {
							t.Errorf("first difference at leg %d: lb %+v, rule %+v", i, memRec.legs[i], ruleRec.legs[i])
							break
						}
					}
					continue
				}
				if !reflect.DeepEqual(memRes, ruleRes) {
					t.Errorf("%s: results differ from lb's", what)
				}
			}
		}
	}
}
