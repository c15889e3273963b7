package lb_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ringlb/ringlb/lb"
	"github.com/ringlb/ringlb/lb/lbtest"
)

func TestTextFault(t *testing.T) {
	for s, want := range map[string]string{
		"user/1001":            "",
		"user/jürgen@beispiel": "",
		"日本/1":                 "",
		"a\x00b":               "has a control character",
		"a\nb":                 "has a control character",
		"a\x7fb":               "has a control character",
		"user/\xff":            "is not valid UTF-8",
		"user/\xc3":            "is not valid UTF-8", // cut mid-rune
		"\xed\xa0\x80":         "is not valid UTF-8", // a surrogate
	} {
		if got := lb.TextFault(s); got != want {
			t.Errorf("TextFault(%q) = %q, want %q", s, got, want)
		}
	}
}

// Regression: a name that is not valid UTF-8 emptied the whole Prometheus
// exposition, and one with a NUL byte was cut short on its way through C.
// Every name that enters is refused as invalid instead: balancer names,
// destinations, call ids, node names, key prefixes and option keys and
// values that become names.
func TestNamesMustBeText(t *testing.T) {
	for _, name := range []string{"s\xffles", "sa\x00les", "sales::eu", "::", "a{b}"} {
		if _, err := lb.Default.Open(name, lb.Options{}); !errors.Is(err, lb.ErrInvalidArgument) {
			t.Errorf("Open(%q): %v, want ErrInvalidArgument", name, err)
		}
		if _, err := lb.NewMemory(name, lb.Options{}); !errors.Is(err, lb.ErrInvalidArgument) {
			t.Errorf("NewMemory(%q): %v, want ErrInvalidArgument", name, err)
		}
	}
	for _, name := range []string{"sales:eu", "ventes-été"} {
		if _, err := lb.NewMemory(name, lb.Options{}); err != nil {
			t.Errorf("NewMemory(%q): %v", name, err)
		}
	}
	m, err := lb.NewMemory("names", lb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, bad := range []string{"user/\xff", "user/1\x00", "user/\xc3"} {
		if _, err := m.Acquire(ctx, bad, "c1"); !errors.Is(err, lb.ErrInvalidArgument) {
			t.Errorf("Acquire(%q): %v", bad, err)
		}
		if _, err := m.Acquire(ctx, "user/1", bad); !errors.Is(err, lb.ErrInvalidArgument) {
			t.Errorf("Acquire with call id %q: %v", bad, err)
		}
		if _, err := m.Next(ctx, []string{"user/1", bad}, "c1"); !errors.Is(err, lb.ErrInvalidArgument) {
			t.Errorf("Next with %q: %v", bad, err)
		}
		if _, err := m.Load(ctx, []string{bad}); !errors.Is(err, lb.ErrInvalidArgument) {
			t.Errorf("Load(%q): %v", bad, err)
		}
	}
	lbtest.WantLoad(t, m, []string{"user/1"}, []int{0})
	for _, pairs := range [][][2]string{
		{{"capacity:user/\xff", "1"}},
		{{"wrapup:user/\x00", "1"}},
		{{"url", "redis://h"}, {"node", "fs\xff"}},
		{{"url", "redis://h"}, {"node", "fs\x001"}},
		{{"url", "redis://h"}, {"key_prefix", "p\xff:"}},
		{{"url", "redis://h"}, {"key_prefix", "p\x00:"}},
		{{"tie", "lru\x00x"}},
		{{"user_domains", "keep\x00"}},
		{{"url", "redis://h\x00:1"}},
		{{"colour\xff", "red"}},
	} {
		if _, err := lb.ParseOptions(pairs); !errors.Is(err, lb.ErrInvalidArgument) {
			t.Errorf("ParseOptions(%q): %v, want ErrInvalidArgument", pairs, err)
		}
	}
	// A refused url says which part is wrong, and nothing of the url.
	_, err = lb.ParseOptions([][2]string{{"url", "redis://:Zq7\x00Sec9Pw@h:6379/0"}})
	if !errors.Is(err, lb.ErrInvalidArgument) || strings.Contains(err.Error(), "Zq7") || strings.Contains(err.Error(), "Sec9") {
		t.Errorf("url with a NUL byte: %v", err)
	}
}
