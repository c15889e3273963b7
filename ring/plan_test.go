package ring

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ringlb/ringlb/lb"
)

// keys returns the members of a spec given as bare keys.
func keys(ks ...string) []MemberSpec {
	out := make([]MemberSpec, len(ks))
	for i, k := range ks {
		out[i] = MemberSpec{Key: k}
	}
	return out
}

func memberKeys(p Plan) string {
	var ks []string
	for _, m := range p.Members {
		ks = append(ks, m.Key)
	}
	return strings.Join(ks, ",")
}

func TestSpecCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    Spec
		want string // members joined by ",", or "error: <part of the message>"
	}{
		{"dedup", Spec{Mode: "parallel", Members: keys("user/1", "user/2", "user/1")}, "user/1,user/2"},
		{"balancing", Spec{Mode: "balancing", Balancer: "sales", Members: keys("user/1")}, "user/1"},
		{"balancing without balancer", Spec{Mode: "balancing", Members: keys("user/1")}, "error: balancing needs a balancer"},
		{"balancing ignores no holds", Spec{Mode: "balancing", Balancer: "sales", NoHolds: true, Members: keys("user/1")}, "user/1"},
		{"empty", Spec{Mode: "parallel"}, "error: non-empty array"},
		{"empty member", Spec{Mode: "parallel", Members: keys("user/1", "")}, "error: members[2]"},
		{"space", Spec{Mode: "parallel", Members: keys("user/1 x")}, "error: has a space"},
		{"dollar", Spec{Mode: "parallel", Members: keys("user/${x}")}, "error: has a space, quote"},
		{"dial string delimiter", Spec{Mode: "parallel", Members: keys("user/1,user/2")}, "error: joins the keys"},
		{"pipe", Spec{Mode: "parallel", Members: keys("user/1|user/2")}, "error: delimits dial strings"},
		{"enterprise", Spec{Mode: "parallel", Members: keys("a:_:b")}, "error: "},
		{"not an endpoint", Spec{Mode: "parallel", Members: keys("1001")}, "error: not an endpoint"},
		{"bad balancer name", Spec{Mode: "balancing", Balancer: "my group", Members: keys("user/1")}, "error: balancer name"},
		{"timeout", Spec{Mode: "parallel", Timeout: 7200, Members: keys("user/1")}, "error: timeout"},
		{"deadline", Spec{Mode: "sequential", Deadline: 0.5, Members: keys("user/1")}, "error: deadline"},
		{"member timeout", Spec{Mode: "sequential", Members: []MemberSpec{{Key: "user/1", Timeout: -3}}}, `error: member "user/1": ringlb: ring: timeout`},
		{"unknown mode", Spec{Mode: "ringall", Members: keys("user/1")}, "error: mode"},
		{"unknown policy", Spec{Mode: "parallel", OnBackendError: "ignore", Members: keys("user/1")}, "error: on_backend_error"},
		{"the ring's timeout", Spec{Mode: "parallel", Vars: [][2]string{{"originate_timeout", "5"}}, Members: keys("user/1")}, "error: originate_timeout"},
		{"the ring's tag", Spec{Mode: "parallel", Members: []MemberSpec{{Key: "user/1", Legs: []Leg{{"user/1", [][2]string{{"ringlb_dest", "x"}}}}}}}, "error: ringlb_dest"},
		{"bad variable", Spec{Mode: "parallel", Vars: [][2]string{{"a b", "1"}}, Members: keys("user/1")}, "error: variable name"},
		{"bad leg variable", Spec{Mode: "parallel", Members: []MemberSpec{{Key: "user/1", Legs: []Leg{{"user/1", [][2]string{{"x", "it's"}}}}}}}, "error: cannot carry"},
		{"a key that is no endpoint, with legs", Spec{Mode: "sequential", Members: []MemberSpec{{Key: "1001@a.example", Legs: []Leg{{Endpoint: "loopback/1001"}}}}}, "1001@a.example"},
		{"on do-not-disturb, no legs needed", Spec{Mode: "sequential", Members: []MemberSpec{{Key: "1001@a.example", DND: true}, {Key: "user/2"}}}, "user/2"},
	} {
		got, err := tc.s.Check()
		if strings.HasPrefix(tc.want, "error: ") {
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), strings.TrimPrefix(tc.want, "error: ")) {
				t.Errorf("%s: %v, %v; want an error with %q", tc.name, memberKeys(got), err, tc.want)
			}
			continue
		}
		if err != nil || memberKeys(got) != tc.want {
			t.Errorf("%s: %v, %v; want %s", tc.name, memberKeys(got), err, tc.want)
		}
	}
	many := make([]MemberSpec, MaxMembers+1)
	for i := range many {
		many[i].Key = "user/" + strconv.Itoa(i)
	}
	if _, err := (Spec{Mode: "sequential", Members: many}).Check(); !errors.Is(err, ErrInvalid) {
		t.Errorf("too many members: %v", err)
	}
	if _, err := (Spec{Mode: "sequential", Members: many[:MaxMembers]}).Check(); err != nil {
		t.Errorf("%d members: %v", MaxMembers, err)
	}
}

// Regression: ParseMode folded the case of the mode while the Lua helper
// dispatched on the raw string, so "Parallel" rang the members one at a
// time. The plan carries the canonical mode for every spelling.
func TestSpecCheckCanonicalMode(t *testing.T) {
	for in, want := range map[string]Mode{"Parallel": ModeParallel, " SEQUENTIAL ": ModeSequential, "Balancing": ModeBalancing} {
		p, err := Spec{Mode: in, Balancer: "sales", Members: keys("user/1")}.Check()
		if err != nil || p.Mode != want {
			t.Errorf("%q: %v, %v; want %v", in, p.Mode, err, want)
		}
	}
}

func TestSpecCheckCanonicalPlan(t *testing.T) {
	p, err := Spec{
		Mode: "sequential", Balancer: "sales", Timeout: 20.9, Deadline: 60,
		Vars: [][2]string{{"hold_music", "x"}},
		Members: []MemberSpec{
			{Key: "user/1001"},
			{Key: "user/1002@a.example", Timeout: 10, Legs: []Leg{
				{"user/1002@a.example", [][2]string{{"presence_id", "1002@a.example"}}},
				{"loopback/0612", [][2]string{{"leg_delay_start", "5"}}},
			}},
			{Key: "user/1003", DND: true},
		},
	}.Check()
	if err != nil {
		t.Fatal(err)
	}
	want := Plan{
		Mode: ModeSequential, Policy: Fallback, Balancer: "sales", Timeout: 20 * time.Second, Deadline: time.Minute,
		Vars: [][2]string{{"hold_music", "x"}, {"ignore_early_media", "true"}},
		Members: []Member{
			{"user/1001", 20 * time.Second, []Leg{{"user/1001", [][2]string{{DestVar, "user/1001"}}}}},
			{"user/1002@a.example", 10 * time.Second, []Leg{
				{"user/1002@a.example", [][2]string{{"presence_id", "1002@a.example"}, {DestVar, "user/1002@a.example"}}},
				{"loopback/0612", [][2]string{{"leg_delay_start", "5"}, {DestVar, "user/1002@a.example"}}},
			}},
		},
		DND: []string{"user/1003"},
	}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("plan\n%+v\nwant\n%+v", p, want)
	}
	if p, err := (Spec{Mode: "parallel", Balancer: "sales", NoHolds: true, Members: keys("user/1")}).Check(); err != nil || p.Balancer != "" {
		t.Fatalf("no holds: balancer %q, %v", p.Balancer, err)
	}
	if p, err := (Spec{Mode: "parallel", OnBackendError: "fail", Members: keys("user/1")}).Check(); err != nil || p.Policy != Fail {
		t.Fatalf("policy %v, %v", p.Policy, err)
	}
}

// A parallel ring is one attempt as long as its longest member, cut to the
// deadline; shorter members stop ringing at their own timeout.
func TestSpecCheckParallelTurn(t *testing.T) {
	p, err := Spec{Mode: "parallel", Timeout: 30, Deadline: 25.5, Members: []MemberSpec{
		{Key: "user/1", Timeout: 10}, {Key: "user/2"},
		{Key: "user/3", Timeout: 5, Legs: []Leg{{"user/3", [][2]string{{"leg_timeout", "3"}}}}},
	}}.Check()
	if err != nil {
		t.Fatal(err)
	}
	if p.Timeout != 25*time.Second {
		t.Fatalf("attempt %v, want 25s (the deadline)", p.Timeout)
	}
	ds, err := p.DialString(p.Members, seconds(p.Timeout))
	if err != nil {
		t.Fatal(err)
	}
	want := "{ignore_early_media=true,originate_timeout=25}[leg_timeout=10,ringlb_dest=user/1]user/1," +
		"[ringlb_dest=user/2]user/2,[leg_timeout=3,ringlb_dest=user/3]user/3"
	if ds != want {
		t.Fatalf("dial string\n%s\nwant\n%s", ds, want)
	}
	legs := 0
	many := make([]MemberSpec, 3)
	for i := range many {
		many[i].Key = fmt.Sprintf("k/%d", i)
		for j := 0; j < 50; j++ {
			many[i].Legs = append(many[i].Legs, Leg{Endpoint: fmt.Sprintf("user/%d", legs)})
			legs++
		}
	}
	if _, err := (Spec{Mode: "parallel", Members: many}).Check(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("%d legs at once: %v", legs, err)
	}
	if _, err := (Spec{Mode: "sequential", Members: many}).Check(); err != nil {
		t.Fatalf("%d legs one member at a time: %v", legs, err)
	}
}

// Regression: the switch cuts a hangup hook command at its first ':' when
// a second follows (api_hook), so a member "sofia/gateway/gw::1" made the
// release hook run "lua ringlb_release.lua ... gw", which does not exist,
// and the hold lived until max_hold_age. Invalid UTF-8 and control bytes
// are refused too.
func TestSpecCheckRefusesWhatBreaksTheHook(t *testing.T) {
	for _, tc := range []struct {
		dest, bname, want string // want: "" accepted, else part of the error
	}{
		{"sofia/gateway/gw::1", "sales", `"::" at its first ':'`},
		{"loopback/1000::x", "sales", `"::"`},
		{"sofia/internal/sip:1000@2001:db8::1", "sales", ""}, // an IPv6 SIP URI: its first ':' is single
		{"user/1001", "sales::eu", `balancer name "sales::eu" cannot go into a hangup hook`},
		{"user/1001", "sales:eu::x", ""},
		{"user/10\xff", "sales", "UTF-8"},
		{"user/1001", "s\xffles", "UTF-8"},
		{"user/1\x00", "sales", "control character"},
		{"user/1001", "sa\x7fles", "control character"},
	} {
		got, err := Spec{Mode: "balancing", Balancer: tc.bname, Members: keys(tc.dest)}.Check()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q on %q: %v", tc.dest, tc.bname, err)
		case tc.want == "" && memberKeys(got) != tc.dest:
			t.Errorf("%q on %q: members %q", tc.dest, tc.bname, memberKeys(got))
		case tc.want != "" && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q on %q: %v, want an error with %q", tc.dest, tc.bname, err, tc.want)
		}
	}
}

func TestNextTurn(t *testing.T) {
	ctx := context.Background()
	m := newBalancer(t, lb.Options{DefaultCapacity: 1, Tie: lb.TieList})
	if _, err := m.Acquire(ctx, "a", "other"); err != nil { // a is full
		t.Fatal(err)
	}
	cands := []Candidate{{"a", 20 * time.Second}, {"b", 10 * time.Second}, {"c", 30 * time.Second}}
	for _, tc := range []struct {
		name  string
		h     Holder
		mode  Mode
		cands []Candidate
		left  time.Duration
		want  Turn
	}{
		{"sequential skips the full one", m, ModeSequential, cands, NoDeadline, Turn{Member: 1, Seconds: 10, Full: true, Skipped: []int{0}}},
		{"balancing takes the least loaded", m, ModeBalancing, cands[1:], NoDeadline, Turn{Member: 1, Seconds: 30, Full: true}},
		{"the deadline cuts the turn", nil, ModeSequential, cands, 12500 * time.Millisecond, Turn{Member: 0, Seconds: 12}},
		{"just time for the whole turn", nil, ModeSequential, cands, 20 * time.Second, Turn{Member: 0, Seconds: 20, Full: true}},
		{"under a second left", m, ModeBalancing, cands, 999 * time.Millisecond, Turn{Member: -1, Stop: StopDeadline}},
		{"nothing left", m, ModeBalancing, nil, NoDeadline, Turn{Member: -1, Stop: StopDone}},
		{"all full", m, ModeSequential, cands[:1], NoDeadline, Turn{Member: -1, Skipped: []int{0}, Stop: StopFull}},
		{"no balancer: list order", nil, ModeBalancing, cands, NoDeadline, Turn{Member: 0, Seconds: 20, Full: true}},
	} {
		got, err := NextTurn(ctx, tc.h, tc.mode, tc.cands, "call-"+tc.name, tc.left)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
	_, err := NextTurn(ctx, flaky{m, map[string]bool{"x": true}}, ModeSequential, []Candidate{{"e", time.Second}, {"x", time.Second}}, "call9", NoDeadline)
	if err != nil {
		t.Fatalf("e has room: %v", err)
	}
	if got, err := NextTurn(ctx, flaky{m, map[string]bool{"x": true}}, ModeSequential, []Candidate{{"a", time.Second}, {"x", time.Second}}, "call10", NoDeadline); !errors.Is(err, lb.ErrBackend) || !reflect.DeepEqual(got.Skipped, []int{0}) {
		t.Fatalf("backend down after a full member: %+v, %v", got, err)
	}
	if _, err := NextTurn(ctx, m, ModeParallel, cands, "call11", NoDeadline); !errors.Is(err, ErrInvalid) {
		t.Fatalf("parallel: %v", err)
	}
}

func TestTallyResult(t *testing.T) {
	for _, tc := range []struct {
		t                       Tally
		result, detail, summary string
	}{
		// Regression: a ring that rang a member out and then found the
		// others full ended as no_answer with detail AT_CAPACITY, hiding
		// the attempt.
		{Tally{Causes: []string{"NO_ANSWER"}, Full: 2, Stop: StopFull}, "no_answer", "at_capacity",
			"rang 1 member (NO_ANSWER); 2 members at capacity, drained or in wrap-up; then none left with room"},
		{Tally{Causes: []string{"NO_ANSWER", "NO_ANSWER"}, Stop: StopDone}, "no_answer", "NO_ANSWER", "rang 2 members (last NO_ANSWER)"},
		{Tally{Causes: []string{"USER_BUSY", "USER_BUSY", "CALL_REJECTED"}, Stop: StopDone}, "all_busy", "CALL_REJECTED", "rang 3 members (last CALL_REJECTED)"},
		{Tally{Causes: []string{"USER_BUSY"}, Full: 1, Stop: StopDone}, "all_busy", "USER_BUSY",
			"rang 1 member (USER_BUSY); 1 member at capacity, drained or in wrap-up"},
		{Tally{Full: 3, Stop: StopFull}, "all_busy", "at_capacity", "rang no member; 3 members at capacity, drained or in wrap-up; then none left with room"},
		{Tally{DND: 1, Stop: StopDone}, "all_busy", "do_not_disturb", "rang no member; 1 member on do-not-disturb"},
		{Tally{Causes: []string{"NO_ANSWER", "NO_ANSWER", "NO_ANSWER"}, Stop: StopDeadline}, "no_answer", "call_timeout",
			"rang 3 members (last NO_ANSWER); then the call timeout ran out"},
		{Tally{Causes: []string{"NO_ANSWER", "ORIGINATOR_CANCEL"}, Stop: StopCallerGone}, "caller_gone", "ORIGINATOR_CANCEL",
			"rang 2 members (last ORIGINATOR_CANCEL); then the caller hung up"},
		{Tally{Stop: StopCallerGone}, "caller_gone", "NONE", "rang no member; then the caller hung up"},
		{Tally{Causes: []string{"USER_BUSY", "NORMAL_TEMPORARY_FAILURE"}, Stop: StopDone}, "failed", "NORMAL_TEMPORARY_FAILURE",
			"rang 2 members (last NORMAL_TEMPORARY_FAILURE)"},
	} {
		r, d, s := tc.t.Result()
		if r != tc.result || d != tc.detail || s != tc.summary {
			t.Errorf("%+v:\n got %s, %s, %q\nwant %s, %s, %q", tc.t, r, d, s, tc.result, tc.detail, tc.summary)
		}
	}
}

func TestParseStop(t *testing.T) {
	for _, s := range []Stop{StopDone, StopFull, StopDeadline, StopCallerGone} {
		if got, err := ParseStop(s.String()); err != nil || got != s {
			t.Errorf("%v: %v, %v", s, got, err)
		}
	}
	if _, err := ParseStop("bogus"); !errors.Is(err, ErrInvalid) {
		t.Errorf("bogus: %v", err)
	}
}
