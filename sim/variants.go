package sim

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// Variant is a research tie rule: a name and the Rule options it runs.
type Variant struct {
	Name    string
	Options RuleOptions
}

// variantPrefix starts every variant's name, so that reports tell them from
// the policies that run the real lb.
const variantPrefix = "rule: "

// Variants are the tie rules tried on the model: lb's fewest today (which
// the model matches), then every combination of the changes under study
// (half-life 4 h, 8 h, 12 h or none; start as today or at zero in the first
// hour; on return, no lift, a lift to the lowest or to the mean of the
// list-mates; an unanswered offer counting as a call, a one-minute back-off
// after one, or neither), a back-off that doubles with each unanswered
// offer in a row, and talk-time ties.
func Variants() []Variant {
	var out []Variant
	add := func(o RuleOptions) {
		out = append(out, Variant{Name: variantPrefix + o.String(), Options: o})
	}
	halves := []time.Duration{4 * time.Hour, 8 * time.Hour, 12 * time.Hour, 0}
	for _, start := range []RuleStart{StartWhenChosen, StartZeroFirstHour} {
		for lift := range 3 {
			for _, h := range halves {
				for _, na := range []int{0, 1, 2} {
					o := RuleOptions{Tie: RuleFewest, HalfLife: h, Start: start, Lift: lift == 1, LiftMean: lift == 2}
					switch na {
					case 1:
						o.NoAnswerWeight = 1
					case 2:
						o.Backoff = time.Minute
					}
					add(o)
				}
			}
		}
	}
	for _, h := range []time.Duration{12 * time.Hour, 0} {
		add(RuleOptions{Tie: RuleFewest, HalfLife: h, Start: StartZeroFirstHour, LiftMean: true, Backoff: 30 * time.Second, BackoffDoubles: true})
	}
	add(RuleOptions{Tie: RuleFewest, HalfLife: 4 * time.Hour, Start: StartWhenRanked})
	add(RuleOptions{Tie: RuleFewest, Start: StartWhenRanked, Lift: true, NoAnswerWeight: 1})
	for _, h := range []time.Duration{4 * time.Hour, 8 * time.Hour, 0} {
		add(RuleOptions{Tie: RuleTalk, HalfLife: h, Start: StartZeroFirstHour, LiftMean: true})
		add(RuleOptions{Tie: RuleTalk, HalfLife: h, Start: StartZeroFirstHour, LiftMean: true, NoAnswerWeight: 1})
	}
	return out
}

// VariantSpecs are the Variants as policies for a run of cfg: with its
// wrap-up, as lb would be opened.
func VariantSpecs(cfg Config) []Spec {
	var specs []Spec
	for _, v := range Variants() {
		o := v.Options
		o.Wrapup = cfg.Wrapup
		specs = append(specs, RuleSpec(v.Name, o))
	}
	return specs
}

// isVariant reports whether policy name is a research variant.
func isVariant(name string) bool { return strings.HasPrefix(name, variantPrefix) }

// WriteVariants writes how each variant (and each ringlb policy) did on
// every trace: seeds meeting the target, and the mean and worst max/min;
// then, for variants that pass everywhere, the occupancy spread on traces
// with unequal agents and the returning agents' worst share.
func WriteVariants(w io.Writer, runs []TraceRun) error {
	var b strings.Builder
	var policies []string
	for i := range runs {
		for _, p := range runs[i].Policies() {
			if (isVariant(p) || strings.HasPrefix(p, "ringlb")) && !slices.Contains(policies, p) {
				policies = append(policies, p)
			}
		}
	}
	b.WriteString("## Research: tie rules on every trace\n\n")
	b.WriteString("Each cell: seeds meeting the target, then max/min mean (worst). The rule rows run the model sim.Rule, not lb.\n\n")
	cols := []string{"policy", "all traces"}
	for i := range runs {
		cols = append(cols, runs[i].Scenario.Name)
	}
	tableHead(&b, 1, append(cols, "worst return share", "occupancy max/min, mixed (mean, worst)")...)
	type row struct {
		line   string
		passed int
	}
	var rows []row
	for _, p := range policies {
		var cells strings.Builder
		total, of := 0, 0
		worstShare := math.NaN()
		var occ []float64
		for i := range runs {
			t := &runs[i]
			passed, n := t.Passes(p)
			total, of = total+passed, of+n
			m, wst := stats(t.spreads(p))
			if n == 0 {
				cells.WriteString(" — |")
				continue
			}
			fmt.Fprintf(&cells, " %d/%d %s (%s) |", passed, n, fmtRatio(m), fmtRatio(wst))
			for j := range t.Seeds {
				r, ok := t.Seeds[j].Result(p)
				if !ok {
					continue
				}
				for _, rr := range r.Returns {
					if sh := rr.Share(); math.IsNaN(worstShare) || math.Abs(math.Log(sh)) > math.Abs(math.Log(worstShare)) {
						worstShare = sh
					}
				}
				if t.Scenario.Name == "mixed" {
					occ = append(occ, r.OccupancySpread())
				}
			}
		}
		om, ow := stats(occ)
		line := fmt.Sprintf("| %s | %d/%d |%s %s | %s (%s) |\n", p, total, of, cells.String(), fmtRatio(worstShare), fmtRatio(om), fmtRatio(ow))
		rows = append(rows, row{line, total})
	}
	slices.SortStableFunc(rows, func(a, c row) int { return c.passed - a.passed })
	for _, r := range rows {
		b.WriteString(r.line)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
