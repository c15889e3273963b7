package sim

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/ringlb/ringlb/lb"
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
// offer in a row, a lift while away, opportunities counted beside the
// score (see RuleOptions.OppWeight), and talk-time ties.
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
	// Lifted while away too; and lb's rules with opportunities counted.
	lifted := DefaultRuleOptions()
	lifted.LiftAway = true
	add(lifted)
	for _, w := range []float64{0.015, 0.02} {
		for _, h := range []time.Duration{time.Hour, 2 * time.Hour, 4 * time.Hour} {
			o := DefaultRuleOptions()
			o.OppWeight, o.OppHalfLife = w, h
			add(o)
		}
	}
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

// isVariant reports whether policy name is a research variant or a choice
// (ChoiceSpecs): policies the trace tables leave out.
func isVariant(name string) bool {
	return strings.HasPrefix(name, variantPrefix) || strings.HasPrefix(name, choicePrefix)
}

// choicePrefix starts the names of ChoiceSpecs.
const choicePrefix = "ringlb with "

// NoMaxNoAnswer is the ChoiceSpec of lb with max_no_answer never: a member
// that keeps missing is still offered, after its peers. The tables of
// agents that never answer show it beside the policies.
const NoMaxNoAnswer = choicePrefix + "no max_no_answer"

// TalkTies is the ChoiceSpec of lb with talk ties (tie = "talk"): the rule
// for even occupancy, judged on traces whose agents' talk times differ.
const TalkTies = choicePrefix + "talk ties"

// ChoiceSpecs are lb itself with one of its defaults changed, beside the
// default ringlb policy: the evidence behind each default (half-life,
// start window, no-answer back-off, the tie), written by WriteChoices;
// and lb with its defaults opened one balancer per group, as the ring
// helper opens it when each group has its own name.
func ChoiceSpecs(cfg Config) []Spec {
	w := cfg.Wrapup
	return []Spec{
		MemorySpec(choicePrefix+"half-life 4h", lb.Options{HalfLife: 4 * time.Hour, DefaultWrapup: w}),
		MemorySpec(choicePrefix+"half-life 24h", lb.Options{HalfLife: 24 * time.Hour, DefaultWrapup: w}),
		MemorySpec(choicePrefix+"no fading", lb.Options{HalfLife: -1, DefaultWrapup: w}),
		MemorySpec(choicePrefix+"no start window", lb.Options{StartWindow: -1, DefaultWrapup: w}),
		MemorySpec(choicePrefix+"no no-answer back-off", lb.Options{NoAnswerBackoff: -1, DefaultWrapup: w}),
		MemorySpec(choicePrefix+"no fading, no no-answer back-off", lb.Options{HalfLife: -1, NoAnswerBackoff: -1, DefaultWrapup: w}),
		MemorySpec(NoMaxNoAnswer, lb.Options{MaxNoAnswer: -1, DefaultWrapup: w}),
		MemorySpec(TalkTies, lb.Options{Tie: lb.TieTalk, DefaultWrapup: w}),
		GroupSpec(choicePrefix+"one balancer per group", cfg.Groups, lb.Options{DefaultWrapup: w}),
	}
}

// WriteVariants writes how each variant (and each ringlb policy) did on
// every trace: seeds meeting the target, and the mean and worst max/min;
// then, for variants that pass everywhere, the occupancy spread on traces
// with unequal agents and the returning agents' worst share.
func WriteVariants(w io.Writer, runs []TraceRun) error {
	return writeRules(w, runs, func(p string) bool { return isVariant(p) || strings.HasPrefix(p, "ringlb") },
		"## Research: tie rules on every trace\n\n"+
			"Each cell: seeds meeting the target, then max/min mean (worst). The rule rows run the model sim.Rule, not lb.\n\n")
}

// WriteChoices writes how lb with its defaults did on every trace beside
// lb with one default changed (ChoiceSpecs), in WriteVariants's table.
func WriteChoices(w io.Writer, runs []TraceRun) error {
	return writeRules(w, runs, func(p string) bool { return p == "ringlb" || strings.HasPrefix(p, choicePrefix) },
		choicesIntro)
}

// choicesIntro says what the defaults are and why; the table after it is
// the evidence, measured anew by every run.
const choicesIntro = `## Choosing the defaults

The ringlb rows run lb's defaults: fewest ties; a member's score starts when it is first ranked (not
when first chosen), at zero in the balancer's first hour and after it at the lowest score of the members
it is ranked with; a member back from an absence (undrain, rejoin, or its first answered call after the
ring helper marked it away for do-not-disturb) is lifted to the mean score of the members it is next ranked
with; an offer that rings out puts its member after its equally loaded peers for 30 s, doubling with
each one in a row (to 32 minutes) until it answers, and after three in a row it is not offered until
that back-off ends; scores fade with a half-life of 12 hours. Each
"ringlb with" row is lb with one of those changed. Each cell: seeds meeting the target, then max/min mean
(worst); "worst return share" is the returning agents' worst first hour back against the others' (1 is
even); the last two columns are the occupancy spread on the mixed trace, whose agents differ in talk time,
over every agent and over the agents that answer their calls (all but the one that misses 40 % of them).

Why these. In a shift's first hour nobody has answered much, so a member first ranked then is no late
joiner: it starts at zero with the others, which the "no start window" row shows matters most to the
returning agents' share. The lift on return is always on: an agent back from a break at its old score
would take every tie until it had caught up. The back-off is what stops a member who never answers from
being offered first whenever it is idle, and max_no_answer (3: after three misses in a row it is not
offered at all until its back-off ends) what stops it being offered whenever it is the only member idle,
which the back-off alone cannot: see the never-answers trace's table of first offers, where "no
max_no_answer" gives it more than its fair share. Neither changes the equal agents' spread much; max_no_answer
costs the mixed trace's agent who misses 40 % of its calls a few minutes out now and then (the legs
counted apart from busy offers), one seed of that trace, and a little occupancy spread. Fading: with
8-hour shifts a half-life of 12 hours keeps the whole shift in the score, so a shift ends as even as it
can, while yesterday's counts weigh a quarter by the next morning and a balancer that runs for weeks
does not carry last month's imbalance into today; "no fading" never forgets and 4 hours forgets the
morning by the afternoon, and both meet the target on fewer seeds here. Talk ties answer another
question, even occupancy rather than even calls: by calls they miss the target, as they should, and
their occupancy spread on the mixed trace is the lowest. Over every agent it stays well above 1.15
because the agent that misses 40 % of its calls talks less: it is already offered more calls than the
others, and offering it still more to even out its occupancy would reward not answering (the mixed
trace's occupancy table).

One balancer or one per group. Every other row runs one balancer for all the groups of a trace, so a
member's score counts every call it answered. "ringlb with one balancer per group" is lb with its
defaults opened as ringlb_ring.lua opens it when each ring group has a name of its own (the group
argument names the balancer): the balancers share loads, so no member is offered a call while on one,
but each keeps its own tie scores, which count only the calls it placed. Each balancer evens out its
own group's calls, so an agent in two groups takes a share of both and answers up to nearly twice as
many calls as an agent in one: that row misses the target on every seed of every trace. Groups that
share agents must share one balancer name for their calls to be spread evenly across them.

`

// writeRules writes the table of WriteVariants for the policies keep
// selects, after head.
func writeRules(w io.Writer, runs []TraceRun, keep func(string) bool, head string) error {
	var b strings.Builder
	var policies []string
	for i := range runs {
		for _, p := range runs[i].Policies() {
			if keep(p) && !slices.Contains(policies, p) {
				policies = append(policies, p)
			}
		}
	}
	b.WriteString(head)
	cols := []string{"policy", "all traces"}
	for i := range runs {
		cols = append(cols, runs[i].Scenario.Name)
	}
	tableHead(&b, 1, append(cols, "worst return share", "occupancy max/min, mixed (mean, worst)",
		"the same, answering agents")...)
	type row struct {
		line   string
		passed int
	}
	var rows []row
	for _, p := range policies {
		var cells strings.Builder
		total, of := 0, 0
		worstShare := math.NaN()
		var occ, ans []float64
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
					ans = append(ans, r.AnsweringOccupancySpread())
				}
			}
		}
		om, ow := stats(occ)
		am, aw := stats(ans)
		line := fmt.Sprintf("| %s | %d/%d |%s %s | %s (%s) | %s (%s) |\n", p, total, of, cells.String(), fmtRatio(worstShare),
			fmtRatio(om), fmtRatio(ow), fmtRatio(am), fmtRatio(aw))
		rows = append(rows, row{line, total})
	}
	slices.SortStableFunc(rows, func(a, c row) int { return c.passed - a.passed })
	for _, r := range rows {
		b.WriteString(r.line)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
