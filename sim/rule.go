package sim

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/ringlb/ringlb/lb"
)

// Rule is a model of how ringlb's memory balancer ranks a group's members
// (least loaded first, then a tie rule), with tie rules lb does not have:
// for research only, to try a rule on the traces before it is built. The
// rows the report calls ringlb always run the real lb.
//
// With the options of lb's rules (DefaultRuleOptions, or RuleLRU,
// RuleList, RuleTalk with them) it chooses exactly as lb.Memory with the
// matching options; a test holds it to that on every trace.
type Rule struct {
	opts    RuleOptions
	members map[string]*ruleMember
	seq     uint64 // counts hold starts, for lru ties
	started bool
	first   int64 // ns of the first choice: the balancer's start
	// talkSum and talks are the answered talk time and calls seen, for
	// RuleTalk's no-answer weight.
	talkSum time.Duration
	talks   int
	cands   []ruleCand
	// plan forces the choice among equally loaded members, by decision;
	// decisions records every choice among two or more (see Bound).
	plan      []int
	decisions []decision
	// stop, when set, makes Next fail with errStop at the first choice
	// among two or more idle members past the plan (see Lookahead).
	stop bool
}

// errStop stops a run at a choice the lookahead makes.
var errStop = errors.New("sim: stopped at a choice")

// RuleTie is the order Rule gives equally loaded members.
type RuleTie int

const (
	// RuleFewest: fewest answered calls (faded), then lru; lb's fewest.
	RuleFewest RuleTie = iota
	// RuleTalk: least talk time (faded; from the hold's start to its
	// release, as lb counts it), then lru: lb's talk.
	RuleTalk
	// RuleLRU: the member whose last hold started longest ago.
	RuleLRU
	// RuleList: list order.
	RuleList
)

// String names the tie rule.
func (t RuleTie) String() string {
	switch t {
	case RuleTalk:
		return "talk"
	case RuleLRU:
		return "lru"
	case RuleList:
		return "list"
	}
	return "fewest"
}

// RuleStart is the score a member starts from, for fewest and talk ties.
type RuleStart int

const (
	// StartWhenChosen: until first chosen, a member ranks at the lowest
	// score of the list it is ranked in, and is given that score when
	// chosen (lb before its start window).
	StartWhenChosen RuleStart = iota
	// StartWhenRanked: a member is given the lowest score of the list the
	// first time it is ranked.
	StartWhenRanked
	// StartZeroFirstHour: as StartWhenRanked, but a member first ranked
	// within RuleOptions.FirstHour of the balancer's first choice starts
	// at zero: at the start of a shift nobody has answered anything yet
	// (lb's rule).
	StartZeroFirstHour
)

// String names the start rule.
func (s RuleStart) String() string {
	switch s {
	case StartWhenRanked:
		return "lowest when ranked"
	case StartZeroFirstHour:
		return "zero in the first hour"
	}
	return "lowest when chosen"
}

// RuleOptions are the rule's knobs.
type RuleOptions struct {
	Tie RuleTie
	// HalfLife fades scores by half every HalfLife; 0 never fades them.
	HalfLife time.Duration
	Start    RuleStart
	// FirstHour is StartZeroFirstHour's window; 0 means an hour.
	FirstHour time.Duration
	// Lift raises a member back from an absence, at its next ranking, to
	// the lowest score of the members it is ranked with (those scored and
	// not returning themselves), if it is below; LiftMean to their mean
	// instead (lb's rule). A drained member is back when undrained; one on
	// do-not-disturb, marked away as the ring helper does, when it next
	// answers a leg.
	Lift, LiftMean bool
	// LiftAway lifts a member marked away at every ranking it is in until
	// it is back, as a returning one (and leaves it out of the others),
	// so that its first call back is not won on its score from before
	// the absence.
	LiftAway bool
	// OppWeight ranks a member by its score plus OppWeight times its
	// opportunities: the rankings it was idle in (least loaded, load 0),
	// fading by half every OppHalfLife; a returning member's are lifted to
	// the others' mean with its score. A member in many groups, offered
	// more calls no other member can take, yields ties now to one in few.
	OppWeight   float64
	OppHalfLife time.Duration
	// NoAnswerWeight adds this many answered calls (RuleTalk: mean talk
	// times) to a member's score when an offer rings out unanswered.
	NoAnswerWeight float64
	// Backoff ranks a member after its equally loaded peers for this long
	// after an offer rang out unanswered; with BackoffDoubles, twice as
	// long for each unanswered offer in a row (up to 64 times), so that
	// one missed call costs little and a member who never answers is
	// left alone. An answer ends it (lb's rule).
	Backoff        time.Duration
	BackoffDoubles bool
	// MaxNoAnswer leaves a member out while its back-off runs once it has
	// left this many offers in a row unanswered (0: never).
	MaxNoAnswer int
	// Wrapup is lb's wrapup option.
	Wrapup time.Duration
	// Untracked leaves direct calls unseen, as a switch without the call
	// tracker.
	Untracked bool
}

// DefaultRuleOptions are lb's default rules as the model's options: fewest
// ties faded by lb.DefaultHalfLife, zero in the start window, lifted to the
// mean on return, and the doubling no-answer back-off.
func DefaultRuleOptions() RuleOptions {
	return RuleOptions{Tie: RuleFewest, HalfLife: lb.DefaultHalfLife, Start: StartZeroFirstHour,
		FirstHour: lb.DefaultStartWindow, LiftMean: true, Backoff: lb.DefaultNoAnswerBackoff, BackoffDoubles: true,
		MaxNoAnswer: lb.DefaultMaxNoAnswer}
}

// String describes the options in a few words.
func (o RuleOptions) String() string {
	s := o.Tie.String()
	if o.Tie == RuleFewest || o.Tie == RuleTalk {
		if o.HalfLife > 0 {
			s += ", half-life " + shortDuration(o.HalfLife)
		} else {
			s += ", no fading"
		}
		s += ", " + o.Start.String()
		switch {
		case o.LiftMean:
			s += ", lift to the mean on return"
		case o.Lift:
			s += ", lift on return"
		}
		if o.LiftAway {
			s += " and while away"
		}
		if o.OppWeight != 0 {
			s += fmt.Sprintf(", %g per opportunity (half-life %s)", o.OppWeight, shortDuration(o.OppHalfLife))
		}
		if o.NoAnswerWeight > 0 {
			s += fmt.Sprintf(", no-answer counts %g", o.NoAnswerWeight)
		}
	}
	if o.Backoff > 0 {
		s += ", no-answer back-off " + shortDuration(o.Backoff)
		if o.BackoffDoubles {
			s += " doubling"
		}
		if o.MaxNoAnswer > 0 {
			s += fmt.Sprintf(", out after %d in a row", o.MaxNoAnswer)
		}
	}
	return s
}

// shortDuration prints 4h0m0s as 4h and 1m0s as 1m.
func shortDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

type ruleMember struct {
	holds     []ruleHold
	lastSeq   uint64
	rank      float64 // the score in lb's rank form: log2(s) + t/half
	opp       float64 // opportunities, in rank form with OppHalfLife
	hasOpp    bool
	scored    bool
	wrapUntil int64
	backUntil int64
	missed    int // unanswered offers in a row
	drained   bool
	away      bool // marked away: back when it next answers a leg
	returning bool // back: lifted at its next ranking
}

type ruleHold struct {
	id       int // call, or -1-direct call
	answered bool
	start    int64 // hold start (ns)
}

type ruleCand struct {
	m    *ruleMember
	dest string
	load int
	back bool
	pos  int
	key  float64 // score plus opportunities at now (OppWeight)
}

type decision struct {
	n, chosen int // equally loaded members, and the one chosen (list order)
}

// NewRule returns a Rule with opts.
func NewRule(opts RuleOptions) *Rule {
	if opts.FirstHour == 0 {
		opts.FirstHour = time.Hour
	}
	return &Rule{opts: opts, members: make(map[string]*ruleMember)}
}

func (r *Rule) ns(now time.Duration) int64 { return simEpoch.Add(now).UnixNano() }

// out reports whether m is left out at ns for leaving MaxNoAnswer offers
// in a row unanswered, its back-off still running.
func (r *Rule) out(m *ruleMember, ns int64) bool {
	return r.opts.MaxNoAnswer > 0 && m.missed >= r.opts.MaxNoAnswer && ns < m.backUntil
}

// LeftOut implements outReporter.
func (r *Rule) LeftOut(now time.Duration, call, node int, agent string) bool {
	m := r.members[agent]
	return m != nil && r.out(m, r.ns(now))
}

func (r *Rule) member(dest string) *ruleMember {
	m := r.members[dest]
	if m == nil {
		m = &ruleMember{}
		r.members[dest] = m
	}
	return m
}

// rankOf and scoreOf are lb's: a score s as of t ranks as log2(s) + t/half,
// so scores fading at one rate compare without updating them.
func (r *Rule) rankOf(s float64, now int64) float64 {
	v := math.Log2(s)
	if h := r.opts.HalfLife; h > 0 {
		v += float64(now) / float64(h)
	}
	return v
}

func (r *Rule) scoreOf(v float64, now int64) float64 {
	if h := r.opts.HalfLife; h > 0 {
		v -= float64(now) / float64(h)
	}
	return math.Exp2(v)
}

// add adds x to m's score at now.
func (r *Rule) add(m *ruleMember, x float64, now int64) {
	s := 0.0
	if m.scored {
		s = r.scoreOf(m.rank, now)
	}
	m.rank, m.scored = r.rankOf(s+x, now), true
}

func (r *Rule) scores() bool { return r.opts.Tie == RuleFewest || r.opts.Tie == RuleTalk }

// compare orders a before b as lb does, with the back-off first among
// equal loads.
func (r *Rule) compare(a, b *ruleCand) int {
	if a.load != b.load {
		return a.load - b.load
	}
	if a.back != b.back {
		if a.back {
			return 1
		}
		return -1
	}
	switch r.opts.Tie {
	case RuleFewest, RuleTalk:
		if r.opts.OppWeight != 0 {
			if a.key != b.key {
				if a.key < b.key {
					return -1
				}
				return 1
			}
		} else if a.m.rank != b.m.rank {
			if a.m.rank < b.m.rank {
				return -1
			}
			return 1
		}
		fallthrough
	case RuleLRU:
		if a.m.lastSeq != b.m.lastSeq {
			if a.m.lastSeq < b.m.lastSeq {
				return -1
			}
			return 1
		}
	}
	return a.pos - b.pos
}

// Next implements Policy.
func (r *Rule) Next(now time.Duration, call, node int, remaining []string) (string, error) {
	ns := r.ns(now)
	if !r.started {
		r.started, r.first = true, ns
	}
	r.cands = r.cands[:0]
	for i, dest := range remaining {
		m := r.member(dest)
		if m.drained || ns < m.wrapUntil {
			continue
		}
		if r.out(m, ns) {
			continue
		}
		r.cands = append(r.cands, ruleCand{m: m, dest: dest, load: len(m.holds), back: ns < m.backUntil, pos: i})
	}
	if len(r.cands) == 0 {
		return "", fmt.Errorf("sim: rule: every member drained or in wrap-up: %w", lb.ErrAtCapacity)
	}
	// The lowest and mean score among the scored that are not returning:
	// where unscored members start, and returning ones are lifted (with
	// OppWeight, their opportunities too, to the mean of the others').
	low := math.Inf(-1)
	sum, opps, n := 0.0, 0.0, 0
	for _, c := range r.cands {
		if c.m.scored && !c.m.returning && !(r.opts.LiftAway && c.m.away) {
			if n == 0 || c.m.rank < low {
				low = c.m.rank
			}
			sum += r.scoreOf(c.m.rank, ns)
			opps += r.oppsOf(c.m, ns)
			n++
		}
	}
	if r.scores() {
		for _, c := range r.cands {
			if !(c.m.returning || r.opts.LiftAway && c.m.away) || !c.m.scored {
				continue
			}
			c.m.returning = false
			if r.opts.OppWeight != 0 && n > 0 {
				if mean := opps / float64(n); mean > r.oppsOf(c.m, ns) {
					c.m.opp, c.m.hasOpp = math.Log2(mean)+float64(ns)/float64(r.opts.OppHalfLife), true
				}
			}
			switch {
			case n == 0:
			case r.opts.LiftMean:
				c.m.rank = max(c.m.rank, r.rankOf(sum/float64(n), ns))
			case r.opts.Lift:
				c.m.rank = max(c.m.rank, low)
			}
		}
	}
	if r.scores() && r.opts.Start != StartWhenChosen {
		if r.opts.Start == StartZeroFirstHour && ns-r.first < int64(r.opts.FirstHour) {
			low = math.Inf(-1)
		}
		for _, c := range r.cands {
			if !c.m.scored {
				c.m.rank, c.m.scored, c.m.returning = low, true, false
			}
		}
	}
	// Unscored members rank at low until chosen (lb today); compare reads
	// ranks, and an unscored member's rank means nothing else.
	if r.scores() {
		for _, c := range r.cands {
			if !c.m.scored {
				c.m.rank = low
			}
		}
	}
	if r.scores() && r.opts.OppWeight != 0 {
		r.opportunities(ns)
	}
	best := 0
	minLoad, tied := r.cands[0].load, 0
	for i := range r.cands {
		if r.compare(&r.cands[i], &r.cands[best]) < 0 {
			best = i
		}
		minLoad = min(minLoad, r.cands[i].load)
	}
	for i := range r.cands {
		if r.cands[i].load == minLoad {
			tied++
		}
	}
	if tied >= 2 {
		k := len(r.decisions)
		if r.stop && minLoad == 0 && k >= len(r.plan) {
			return "", errStop
		}
		pick := -1
		if k < len(r.plan) && r.plan[k] >= 0 && r.plan[k] < tied {
			pick = r.plan[k]
		}
		chosen, n := 0, 0
		for i := range r.cands {
			if r.cands[i].load != minLoad {
				continue
			}
			if n == pick {
				best = i
			}
			if i == best {
				chosen = n
			}
			n++
		}
		r.decisions = append(r.decisions, decision{n: tied, chosen: chosen})
	}
	c := r.cands[best]
	if r.scores() && !c.m.scored {
		c.m.rank, c.m.scored = low, true
	}
	r.hold(c.m, call, ns)
	return c.dest, nil
}

// oppsOf returns m's opportunities at ns (OppWeight).
func (r *Rule) oppsOf(m *ruleMember, ns int64) float64 {
	if !m.hasOpp || r.opts.OppWeight == 0 {
		return 0
	}
	return math.Exp2(m.opp - float64(ns)/float64(r.opts.OppHalfLife))
}

// opportunities counts one for every idle candidate at ns and sets the
// candidates' keys: score plus OppWeight times opportunities.
func (r *Rule) opportunities(ns int64) {
	t := float64(ns) / float64(r.opts.OppHalfLife)
	for i := range r.cands {
		if c := &r.cands[i]; c.load == 0 {
			c.m.opp, c.m.hasOpp = math.Log2(r.oppsOf(c.m, ns)+1)+t, true
		}
	}
	for i := range r.cands {
		c := &r.cands[i]
		c.key = r.scoreOf(c.m.rank, ns) + r.opts.OppWeight*r.oppsOf(c.m, ns)
	}
}

func (r *Rule) hold(m *ruleMember, id int, ns int64) {
	m.holds = append(m.holds, ruleHold{id: id, start: ns})
	r.seq++
	m.lastSeq = r.seq
}

// drop removes m's hold id and returns it.
func (r *Rule) drop(m *ruleMember, id int) (ruleHold, bool) {
	for i, h := range m.holds {
		if h.id == id {
			m.holds = append(m.holds[:i], m.holds[i+1:]...)
			return h, true
		}
	}
	return ruleHold{}, false
}

// answered marks m's hold id answered at now.
func (r *Rule) answered(m *ruleMember, id int, ns int64) {
	for i := range m.holds {
		if h := &m.holds[i]; h.id == id && !h.answered {
			h.answered = true
			m.missed, m.backUntil = 0, 0
			r.back(m)
			if r.opts.Tie != RuleTalk {
				r.add(m, 1, ns)
			}
		}
	}
}

// release drops m's hold id at now: an answered one starts wrap-up and,
// for talk ties, adds its talk time.
func (r *Rule) release(m *ruleMember, id int, ns int64) {
	h, ok := r.drop(m, id)
	if !ok || !h.answered {
		return
	}
	if ns+int64(r.opts.Wrapup) > m.wrapUntil {
		m.wrapUntil = ns + int64(r.opts.Wrapup)
	}
	talk := time.Duration(ns - h.start)
	r.talkSum += talk
	r.talks++
	if r.opts.Tie == RuleTalk {
		r.add(m, talk.Seconds(), ns)
	}
}

// LegEnded implements Policy.
func (r *Rule) LegEnded(now time.Duration, call, node int, dest string, o Outcome) error {
	ns := r.ns(now)
	m := r.member(dest)
	if o == Answered {
		r.answered(m, call, ns)
		return nil
	}
	ringing := r.ringing(m, call)
	r.release(m, call, ns)
	if o == NoAnswer && ringing {
		if w := r.opts.NoAnswerWeight; w > 0 && r.scores() {
			if r.opts.Tie == RuleTalk {
				w *= r.meanTalk().Seconds()
			}
			r.add(m, w, ns)
		}
		m.missed++
		if b := r.opts.Backoff; b > 0 {
			if r.opts.BackoffDoubles {
				b <<= min(m.missed-1, 6)
			}
			m.backUntil = ns + int64(b)
		}
	}
	return nil
}

// meanTalk is the mean answered talk time seen so far; a minute before any.
func (r *Rule) meanTalk() time.Duration {
	if r.talks == 0 {
		return time.Minute
	}
	return r.talkSum / time.Duration(r.talks)
}

// Hangup implements Policy.
func (r *Rule) Hangup(now time.Duration, call, node int, dest string) error {
	r.release(r.member(dest), call, r.ns(now))
	return nil
}

// DirectStarted implements Tracker: Count then Answered, as the call
// tracker does.
func (r *Rule) DirectStarted(now time.Duration, id int, agent string) error {
	if r.opts.Untracked {
		return nil
	}
	m := r.member(agent)
	r.hold(m, -1-id, r.ns(now))
	r.answered(m, -1-id, r.ns(now))
	return nil
}

// DirectEnded implements Tracker.
func (r *Rule) DirectEnded(now time.Duration, id int, agent string) error {
	if r.opts.Untracked {
		return nil
	}
	r.release(r.member(agent), -1-id, r.ns(now))
	return nil
}

// back notes that m is back: an absence marked away ends.
func (r *Rule) back(m *ruleMember) {
	if m.away {
		m.away, m.returning = false, true
	}
}

// ringing reports whether m has hold id, not answered.
func (r *Rule) ringing(m *ruleMember, id int) bool {
	for _, h := range m.holds {
		if h.id == id {
			return !h.answered
		}
	}
	return false
}

// LoggedOut implements Presence: a drained member is left out of ranking;
// one on do-not-disturb is not listed by the ring helper, which marks it
// away.
func (r *Rule) LoggedOut(now time.Duration, agent string, via Signal) error {
	m := r.member(agent)
	if via == Drained {
		m.drained = true
	} else {
		m.away = true
	}
	return nil
}

// LoggedIn implements Presence: an undrained member is back, lifted at its
// next ranking; one back from do-not-disturb is back when its next leg
// ends.
func (r *Rule) LoggedIn(now time.Duration, agent string, via Signal) error {
	m := r.member(agent)
	if via == Drained && m.drained {
		m.drained, m.returning = false, true
		m.missed, m.backUntil = 0, 0
	}
	return nil
}
