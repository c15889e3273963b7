package lb_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringlb/ringlb/lb"
	"github.com/ringlb/ringlb/lb/lbtest"
)

// The text form of options, without a URL: every one a store backend
// takes is in lb/redislb's tests, where a backend is linked in.
func TestParseOptions(t *testing.T) {
	lbtest.ParseOptionCases(t, []lbtest.OptionCase{
		{Name: "empty", Check: func(o lb.Options) bool { return o.Tie == lb.TieFewest && o.URL == "" }},
		{Name: "tie list", Pairs: [][2]string{{"tie", "list"}}, Check: func(o lb.Options) bool { return o.Tie == lb.TieList }},
		{Name: "tie random", Pairs: [][2]string{{"tie", "random"}}, Check: func(o lb.Options) bool { return o.Tie == lb.TieRandom }},
		{Name: "tie talk", Pairs: [][2]string{{"tie", "talk"}}, Check: func(o lb.Options) bool { return o.Tie == lb.TieTalk }},
		{Name: "start window", Pairs: [][2]string{{"start_window", "600"}}, Check: func(o lb.Options) bool { return o.StartWindow == 10*time.Minute }},
		{Name: "no-answer back-off", Pairs: [][2]string{{"no_answer_backoff", "1m"}}, Check: func(o lb.Options) bool { return o.NoAnswerBackoff == time.Minute }},
		{Name: "max no-answer", Pairs: [][2]string{{"max_no_answer", "5"}}, Check: func(o lb.Options) bool { return o.MaxNoAnswer == 5 }},
		{Name: "max no-answer never", Pairs: [][2]string{{"max_no_answer", "never"}}, Check: func(o lb.Options) bool { return o.MaxNoAnswer < 0 }},
		{Name: "max no-answer 0", Pairs: [][2]string{{"max_no_answer", "0"}}, Check: func(o lb.Options) bool { return o.MaxNoAnswer == lb.DefaultMaxNoAnswer }},
		{Name: "max no-answer too many", Pairs: [][2]string{{"max_no_answer", "1001"}}, Bad: true},
		{Name: "max no-answer negative", Pairs: [][2]string{{"max_no_answer", "-1"}}, Bad: true},
		{Name: "bad back-off", Pairs: [][2]string{{"no_answer_backoff", "-3"}}, Bad: true},
		// Longer, 64 times it overflowed the memory backend's clock (from
		// about 1.4e8 s) while Redis kept it: the backends disagreed.
		{Name: "longest back-off", Pairs: [][2]string{{"no_answer_backoff", "3600"}}, Check: func(o lb.Options) bool { return o.NoAnswerBackoff == lb.MaxNoAnswerBackoff }},
		{Name: "back-off too long", Pairs: [][2]string{{"no_answer_backoff", "3601"}}, Bad: true},
		{Name: "back-off that overflowed", Pairs: [][2]string{{"no_answer_backoff", "200000000"}}, Bad: true},
		{Name: "lua float capacity", Pairs: [][2]string{{"capacity", "2.0"}}, Check: func(o lb.Options) bool { return o.DefaultCapacity == 2 }},
		{Name: "per dest", Pairs: [][2]string{{"capacity:user/1000", "3"}}, Check: func(o lb.Options) bool { return o.Capacity["user/1000"] == 3 }},
		{Name: "age never", Pairs: [][2]string{{"max_hold_age", "never"}}, Check: func(o lb.Options) bool { return o.MaxHoldAge < 0 }},
		{Name: "age duration", Pairs: [][2]string{{"max_hold_age", "4h"}}, Check: func(o lb.Options) bool { return o.MaxHoldAge == 4*time.Hour }},
		{Name: "unknown", Pairs: [][2]string{{"colour", "red"}}, Bad: true},
		{Name: "twice", Pairs: [][2]string{{"tie", "lru"}, {"tie", "list"}}, Bad: true},
		{Name: "bad tie", Pairs: [][2]string{{"tie", "fifo"}}, Bad: true},
		{Name: "negative capacity", Pairs: [][2]string{{"capacity", "-1"}}, Bad: true},
		{Name: "fractional capacity", Pairs: [][2]string{{"capacity", "1.5"}}, Bad: true},
		{Name: "both capacities", Pairs: [][2]string{{"capacity", "1"}, {"default_capacity", "2"}}, Bad: true},
		{Name: "empty dest capacity", Pairs: [][2]string{{"capacity:", "1"}}, Bad: true},
		{Name: "lease without url", Pairs: [][2]string{{"lease", "10"}}, Bad: true},
		{Name: "nan", Pairs: [][2]string{{"max_hold_age", "NaN"}}, Bad: true},
		// Regression: values that round to zero silently meant "never
		// expire" or "the default timeout".
		{Name: "age rounds to zero", Pairs: [][2]string{{"max_hold_age", "1e-10"}}, Bad: true},
		{Name: "age 1ns", Pairs: [][2]string{{"max_hold_age", "1ns"}}, Bad: true},
		{Name: "never is no number", Pairs: [][2]string{{"wrapup", "never"}}, Bad: true},
	})
}

// Regression: 0 meant the default in Options but "never" in the text form
// for fewest_half_life and max_hold_age, so one value did opposite things
// depending on where it was written. Zero is the default everywhere;
// "never" is spelled out (a negative duration in Options).
func TestZeroIsTheDefaultEverywhere(t *testing.T) {
	lbtest.ParseOptionCases(t, []lbtest.OptionCase{
		{Name: "half-life 0", Pairs: [][2]string{{"fewest_half_life", "0"}},
			Check: func(o lb.Options) bool { return o.HalfLife == lb.DefaultHalfLife }},
		{Name: "half-life never", Pairs: [][2]string{{"fewest_half_life", "never"}},
			Check: func(o lb.Options) bool { return o.HalfLife < 0 }},
		{Name: "age 0", Pairs: [][2]string{{"max_hold_age", "0"}},
			Check: func(o lb.Options) bool { return o.MaxHoldAge == lb.DefaultMaxHoldAge }},
		{Name: "max_idle 0", Pairs: [][2]string{{"max_idle", "0"}},
			Check: func(o lb.Options) bool { return o.MaxIdle == lb.DefaultMaxIdle }},
		{Name: "wrapup 0", Pairs: [][2]string{{"wrapup", "0"}},
			Check: func(o lb.Options) bool { return o.DefaultWrapup == 0 }},
		{Name: "start window 0", Pairs: [][2]string{{"start_window", "0"}},
			Check: func(o lb.Options) bool { return o.StartWindow == lb.DefaultStartWindow }},
		{Name: "start window never", Pairs: [][2]string{{"start_window", "never"}},
			Check: func(o lb.Options) bool { return o.StartWindow < 0 }},
		{Name: "back-off 0", Pairs: [][2]string{{"no_answer_backoff", "0"}},
			Check: func(o lb.Options) bool { return o.NoAnswerBackoff == lb.DefaultNoAnswerBackoff }},
		{Name: "back-off never", Pairs: [][2]string{{"no_answer_backoff", "never"}},
			Check: func(o lb.Options) bool { return o.NoAnswerBackoff < 0 }},
	})
	for _, tc := range []struct {
		o    lb.Options
		want lb.Options
	}{
		{lb.Options{}, lb.Options{HalfLife: lb.DefaultHalfLife, StartWindow: lb.DefaultStartWindow,
			NoAnswerBackoff: lb.DefaultNoAnswerBackoff, MaxNoAnswer: lb.DefaultMaxNoAnswer, MaxHoldAge: lb.DefaultMaxHoldAge, MaxIdle: lb.DefaultMaxIdle}},
		{lb.Options{HalfLife: -time.Hour, StartWindow: -1, NoAnswerBackoff: -time.Second, MaxNoAnswer: -7, MaxHoldAge: -1},
			lb.Options{HalfLife: -1, StartWindow: -1, NoAnswerBackoff: -1, MaxNoAnswer: -1, MaxHoldAge: -1, MaxIdle: lb.DefaultMaxIdle}},
	} {
		c, err := tc.o.Check()
		if err != nil || !reflect.DeepEqual(c.Options(), tc.want) {
			t.Errorf("Check(%+v) = %+v, %v; want %+v", tc.o, c.Options(), err, tc.want)
		}
	}
}

// Regression: max_idle was accepted with a url and ignored (a store keeps
// its own bound). An option its backend would ignore is an error, and the
// store's options without a url too.
func TestOptionsABackendWouldIgnore(t *testing.T) {
	for _, o := range []lb.Options{
		{URL: "redis://h", MaxIdle: 5},
		{KeyPrefix: "p:"}, {Lease: time.Minute}, {Timeout: time.Second}, {Node: "n"},
	} {
		_, err := o.Check()
		if !errors.Is(err, lb.ErrInvalidArgument) {
			t.Errorf("Check(%+v) = %v, want ErrInvalidArgument", o, err)
		}
	}
	_, err := lb.ParseOptions([][2]string{{"url", "redis://h"}, {"max_idle", "5"}})
	if !errors.Is(err, lb.ErrInvalidArgument) || !strings.Contains(err.Error(), "max_idle") {
		t.Errorf("max_idle with a url: %v, want an error naming max_idle", err)
	}
}

// FuzzParseOptions checks that any key/value text either parses into
// options a backend accepts, or fails with ErrInvalidArgument; never a
// panic, never options that Open then rejects otherwise.
func FuzzParseOptions(f *testing.F) {
	f.Add("tie", "lru", "capacity", "2")
	f.Add("capacity:a", "1.0", "max_hold_age", "4h")
	f.Add("fewest_half_life", "never", "max_idle", "0")
	f.Add("max_hold_age", "1e300", "capacity", "99999999999")
	f.Add("url", "redis://127.0.0.1:1/0", "lease", "2")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		lbtest.CheckParsed(t, [][2]string{{k1, v1}, {k2, v2}})
	})
}

func TestUniqueMembers(t *testing.T) {
	long := make([]string, 40)
	for i := range long {
		long[i] = fmt.Sprintf("d%d", i)
	}
	for _, c := range []struct {
		name              string
		dests             []string
		u                 lb.UserDomains
		wantKeys, wantNam string
	}{
		{"plain", []string{"a", "b"}, lb.DomainsIgnore, "a,b", "a,b"},
		{"duplicate", []string{"a", "b", "a"}, lb.DomainsIgnore, "a,b", "a,b"},
		{"one user two spellings", []string{"user/1@x", "sofia/gw/1", "user/1"}, lb.DomainsIgnore, "user/1,sofia/gw/1", "user/1@x,sofia/gw/1"},
		{"domains kept", []string{"user/1@x", "user/1"}, lb.DomainsKeep, "user/1@x,user/1", "user/1@x,user/1"},
		{"long list with a duplicate", append(append([]string{}, long...), "d3"), lb.DomainsIgnore, strings.Join(long, ","), strings.Join(long, ",")},
		{"empty", nil, lb.DomainsIgnore, "", ""},
	} {
		in := slices.Clone(c.dests)
		keys, named, err := lb.UniqueMembers(c.dests, c.u)
		if err != nil || strings.Join(keys, ",") != c.wantKeys || strings.Join(named, ",") != c.wantNam {
			t.Errorf("%s: uniqueMembers = %q, %q, %v; want %s / %s", c.name, keys, named, err, c.wantKeys, c.wantNam)
		}
		if !slices.Equal(in, c.dests) {
			t.Errorf("%s: the caller's list changed to %q", c.name, c.dests)
		}
	}
	if _, _, err := lb.UniqueMembers([]string{"a", ""}, lb.DomainsIgnore); !errors.Is(err, lb.ErrInvalidArgument) {
		t.Errorf("empty destination: err = %v", err)
	}
}
