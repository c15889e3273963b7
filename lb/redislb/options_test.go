package redislb

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ringlb/ringlb/lb"
	"github.com/ringlb/ringlb/lb/lbtest"
)

func TestRegistered(t *testing.T) {
	if registerErr != nil {
		t.Fatal(registerErr)
	}
}

// The text form of the options of a store (see lb's TestParseOptions for
// the others).
func TestParseOptions(t *testing.T) {
	lbtest.ParseOptionCases(t, []lbtest.OptionCase{
		{Name: "redis", Pairs: [][2]string{{"url", "redis://127.0.0.1:6379/0"}, {"lease", "10"}, {"timeout", "250ms"}, {"key_prefix", "app:"}, {"node", "fs1"}},
			Check: func(o lb.Options) bool {
				return o.Lease == 10*time.Second && o.Timeout == 250*time.Millisecond && o.KeyPrefix == "app:" && o.Node == "fs1"
			}},
		{Name: "short lease", Pairs: [][2]string{{"url", "redis://h"}, {"lease", "0.5"}}, Bad: true},
		{Name: "bad scheme", Pairs: [][2]string{{"url", "http://h"}}, Bad: true},
		{Name: "brace prefix", Pairs: [][2]string{{"url", "redis://h"}, {"key_prefix", "{x}"}}, Bad: true},
		{Name: "age under lease", Pairs: [][2]string{{"url", "redis://h"}, {"lease", "30"}, {"max_hold_age", "10"}}, Bad: true},
		// Regression: values that round to zero silently meant the
		// default timeout.
		{Name: "timeout rounds to zero", Pairs: [][2]string{{"url", "redis://h"}, {"timeout", "1e-7"}}, Bad: true},
		{Name: "timeout 10us", Pairs: [][2]string{{"url", "redis://h"}, {"timeout", "10us"}}, Bad: true},
		{Name: "timeout 1ms", Pairs: [][2]string{{"url", "redis://h"}, {"timeout", "0.001"}},
			Check: func(o lb.Options) bool { return o.Timeout == time.Millisecond }},
		{Name: "ipv6 cluster", Pairs: [][2]string{{"url", "redis+cluster://[::1]:7000,[::1]:7001"}},
			Check: func(o lb.Options) bool { return o.URL != "" }},
		{Name: "ipv6 sentinel", Pairs: [][2]string{{"url", "redis+sentinel://[::1]:26379,[::1]:26380/0?master_name=m"}},
			Check: func(o lb.Options) bool { return o.URL != "" }},
		{Name: "lease 0 is the default", Pairs: [][2]string{{"url", "redis://h"}, {"lease", "0"}, {"timeout", "0"}},
			Check: func(o lb.Options) bool { return o.Lease == lb.DefaultLease && o.Timeout == lb.DefaultTimeout }},
		{Name: "max_idle with a url", Pairs: [][2]string{{"url", "redis://h"}, {"max_idle", "5"}}, Bad: true},
	})
}

// Regression: a URL's dial_timeout, read_timeout, write_timeout,
// pool_timeout, retries and protocol were accepted and then ignored, as
// ringlb sets them itself. They are refused, naming the parameter and
// what to use instead.
func TestRedisURLParametersRingLBSets(t *testing.T) {
	for param, want := range map[string]string{
		"dial_timeout": "use timeout", "read_timeout": "use timeout", "write_timeout": "use timeout",
		"pool_timeout": "use timeout", "max_retries": "never retries", "min_retry_backoff": "never retries",
		"max_retry_backoff": "never retries", "protocol": "RESP2",
	} {
		for _, url := range []string{"redis://h/0?" + param + "=1", "rediss://h/0?db=1&" + param + "=2"} {
			_, err := lb.ParseOptions([][2]string{{"url", url}})
			if !errors.Is(err, lb.ErrInvalidArgument) || !strings.Contains(err.Error(), "parameter "+param) ||
				!strings.Contains(err.Error(), want) {
				t.Errorf("%s: %v; want ErrInvalidArgument naming the parameter and saying %q", url, err, want)
			}
		}
	}
	// What go-redis reads and ringlb does not set is kept.
	uo, err := parseURL("redis://h/0?pool_fifo=true&max_concurrent_dials=3&conn_max_lifetime=1m&conn_max_lifetime_jitter=1s")
	if err != nil || !uo.PoolFIFO || uo.MaxConcurrentDials != 3 || uo.ConnMaxLifetimeJitter != time.Second {
		t.Errorf("parseURL = %+v, %v", uo, err)
	}
}

// Names that lb refuses, the Redis backend refuses too (see lb's
// TestNamesMustBeText).
func TestRedisNamesMustBeText(t *testing.T) {
	for _, name := range []string{"s\xffles", "sa\x00les", "sales::eu", "::", "a{b}"} {
		if _, err := New(name, lb.Options{URL: "redis://127.0.0.1:1"}); !errors.Is(err, lb.ErrInvalidArgument) {
			t.Errorf("New(%q): %v, want ErrInvalidArgument", name, err)
		}
	}
	for _, o := range []lb.Options{{URL: "redis://h", Node: "fs\xff"}, {URL: "redis://h", KeyPrefix: "p\x00"}} {
		if _, err := New("names", o); !errors.Is(err, lb.ErrInvalidArgument) {
			t.Errorf("New with %+v: %v", o, err)
		}
	}
}

// FuzzParseOptions checks that any key/value text either parses into
// options a backend accepts, or fails with ErrInvalidArgument; never a
// panic, never options that New then rejects otherwise.
func FuzzParseOptions(f *testing.F) {
	f.Add("url", "redis://127.0.0.1:1/0", "lease", "2")
	f.Add("url", "redis+sentinel://h:1,h:2/0?master_name=m", "timeout", "0.1")
	f.Add("url", "redis+cluster://h:1,h:2", "key_prefix", "x:")
	f.Add("url", "unix:///tmp/r.sock?db=2", "node", "n")
	f.Add("url", "redis://h/0?foo=1", "tie", "random")
	f.Add("url", "redis://h/0?dial_timeout=1s", "max_idle", "3")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		lbtest.CheckParsed(t, [][2]string{{k1, v1}, {k2, v2}})
	})
}
