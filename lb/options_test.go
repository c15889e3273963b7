package lb

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseOptions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pairs [][2]string
		check func(Options) bool
		bad   bool
	}{
		{name: "empty", check: func(o Options) bool { return o.Tie == TieFewest && o.URL == "" }},
		{name: "tie list", pairs: [][2]string{{"tie", "list"}}, check: func(o Options) bool { return o.Tie == TieList }},
		{name: "tie random", pairs: [][2]string{{"tie", "random"}}, check: func(o Options) bool { return o.Tie == TieRandom }},
		{name: "lua float capacity", pairs: [][2]string{{"capacity", "2.0"}}, check: func(o Options) bool { return o.DefaultCapacity == 2 }},
		{name: "per dest", pairs: [][2]string{{"capacity:user/1000", "3"}}, check: func(o Options) bool { return o.Capacity["user/1000"] == 3 }},
		{name: "age 0 never", pairs: [][2]string{{"max_hold_age", "0"}}, check: func(o Options) bool { return o.MaxHoldAge < 0 }},
		{name: "age duration", pairs: [][2]string{{"max_hold_age", "4h"}}, check: func(o Options) bool { return o.MaxHoldAge == 4*time.Hour }},
		{name: "redis", pairs: [][2]string{{"url", "redis://127.0.0.1:6379/0"}, {"lease", "10"}, {"timeout", "250ms"}, {"key_prefix", "app:"}, {"node", "fs1"}},
			check: func(o Options) bool {
				return o.Lease == 10*time.Second && o.Timeout == 250*time.Millisecond && o.KeyPrefix == "app:" && o.Node == "fs1"
			}},
		{name: "unknown", pairs: [][2]string{{"colour", "red"}}, bad: true},
		{name: "twice", pairs: [][2]string{{"tie", "lru"}, {"tie", "list"}}, bad: true},
		{name: "bad tie", pairs: [][2]string{{"tie", "fifo"}}, bad: true},
		{name: "negative capacity", pairs: [][2]string{{"capacity", "-1"}}, bad: true},
		{name: "fractional capacity", pairs: [][2]string{{"capacity", "1.5"}}, bad: true},
		{name: "both capacities", pairs: [][2]string{{"capacity", "1"}, {"default_capacity", "2"}}, bad: true},
		{name: "empty dest capacity", pairs: [][2]string{{"capacity:", "1"}}, bad: true},
		{name: "lease without url", pairs: [][2]string{{"lease", "10"}}, bad: true},
		{name: "short lease", pairs: [][2]string{{"url", "redis://h"}, {"lease", "0.5"}}, bad: true},
		{name: "bad scheme", pairs: [][2]string{{"url", "http://h"}}, bad: true},
		{name: "brace prefix", pairs: [][2]string{{"url", "redis://h"}, {"key_prefix", "{x}"}}, bad: true},
		{name: "age under lease", pairs: [][2]string{{"url", "redis://h"}, {"lease", "30"}, {"max_hold_age", "10"}}, bad: true},
		{name: "nan", pairs: [][2]string{{"max_hold_age", "NaN"}}, bad: true},
		// Regression: values that round to zero silently meant "never
		// expire" or "the default timeout".
		{name: "age rounds to zero", pairs: [][2]string{{"max_hold_age", "1e-10"}}, bad: true},
		{name: "age 1ns", pairs: [][2]string{{"max_hold_age", "1ns"}}, bad: true},
		{name: "timeout rounds to zero", pairs: [][2]string{{"url", "redis://h"}, {"timeout", "1e-7"}}, bad: true},
		{name: "timeout 10us", pairs: [][2]string{{"url", "redis://h"}, {"timeout", "10us"}}, bad: true},
		{name: "timeout 1ms", pairs: [][2]string{{"url", "redis://h"}, {"timeout", "0.001"}},
			check: func(o Options) bool { return o.Timeout == time.Millisecond }},
		{name: "ipv6 cluster", pairs: [][2]string{{"url", "redis+cluster://[::1]:7000,[::1]:7001"}},
			check: func(o Options) bool { return o.URL != "" }},
		{name: "ipv6 sentinel", pairs: [][2]string{{"url", "redis+sentinel://[::1]:26379,[::1]:26380/0?master_name=m"}},
			check: func(o Options) bool { return o.URL != "" }},
	} {
		o, err := ParseOptions(tc.pairs)
		if tc.bad {
			if !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("%s: err = %v, want ErrInvalidArgument", tc.name, err)
			}
			continue
		}
		if err != nil || !tc.check(o) {
			t.Errorf("%s: %+v, %v", tc.name, o, err)
		}
	}
}

// FuzzParseOptions checks that any key/value text either parses into
// options a backend accepts, or fails with ErrInvalidArgument; never a
// panic, never options that NewMemory or NewRedis then reject otherwise.
func FuzzParseOptions(f *testing.F) {
	f.Add("tie", "lru", "capacity", "2")
	f.Add("capacity:a", "1.0", "max_hold_age", "4h")
	f.Add("url", "redis://127.0.0.1:1/0", "lease", "2")
	f.Add("url", "redis+sentinel://h:1,h:2/0?master_name=m", "timeout", "0.1")
	f.Add("url", "redis+cluster://h:1,h:2", "key_prefix", "x:")
	f.Add("url", "unix:///tmp/r.sock?db=2", "node", "n")
	f.Add("url", "redis://h/0?foo=1", "tie", "random")
	f.Add("max_hold_age", "1e300", "capacity", "99999999999")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		o, err := ParseOptions([][2]string{{k1, v1}, {k2, v2}})
		if err != nil {
			if !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("error %v does not wrap ErrInvalidArgument", err)
			}
			return
		}
		d := o.withDefaults()
		if err := d.validate(); err != nil {
			t.Fatalf("parsed options fail validation: %v", err)
		}
		if d.canonical() != d.withDefaults().canonical() {
			t.Fatalf("defaults are not idempotent")
		}
		if o.URL == "" {
			m, err := NewMemory("fuzz", o)
			if err != nil {
				t.Fatalf("NewMemory rejects parsed options: %v", err)
			}
			m.Close()
			return
		}
		// NewRedis never connects, so this is cheap; a URL that only the
		// full parser rejects must still be ErrInvalidArgument.
		r, err := NewRedis("fuzz", o)
		if err != nil {
			if !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("NewRedis(%q) error %v does not wrap ErrInvalidArgument", o.URL, err)
			}
			if strings.Contains(err.Error(), "panic") {
				t.Fatalf("NewRedis: %v", err)
			}
			return
		}
		r.Close()
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
		u                 UserDomains
		wantKeys, wantNam string
	}{
		{"plain", []string{"a", "b"}, DomainsIgnore, "a,b", "a,b"},
		{"duplicate", []string{"a", "b", "a"}, DomainsIgnore, "a,b", "a,b"},
		{"one user two spellings", []string{"user/1@x", "sofia/gw/1", "user/1"}, DomainsIgnore, "user/1,sofia/gw/1", "user/1@x,sofia/gw/1"},
		{"domains kept", []string{"user/1@x", "user/1"}, DomainsKeep, "user/1@x,user/1", "user/1@x,user/1"},
		{"long list with a duplicate", append(append([]string{}, long...), "d3"), DomainsIgnore, strings.Join(long, ","), strings.Join(long, ",")},
		{"empty", nil, DomainsIgnore, "", ""},
	} {
		in := slices.Clone(c.dests)
		keys, named, err := uniqueMembers(c.dests, c.u)
		if err != nil || strings.Join(keys, ",") != c.wantKeys || strings.Join(named, ",") != c.wantNam {
			t.Errorf("%s: uniqueMembers = %q, %q, %v; want %s / %s", c.name, keys, named, err, c.wantKeys, c.wantNam)
		}
		if !slices.Equal(in, c.dests) {
			t.Errorf("%s: the caller's list changed to %q", c.name, c.dests)
		}
	}
	if _, _, err := uniqueMembers([]string{"a", ""}, DomainsIgnore); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("empty destination: err = %v", err)
	}
}
