package lb_test

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/ringlb/ringlb/lb"
)

// A backend registered for the scheme "memtest": a memory balancer with
// list ties, so a test can tell it opened. (This test binary links no
// store backend.)
var registerErr = lb.RegisterBackend(lb.Backend{
	Schemes:  []string{"memtest"},
	ParseURL: func(url string) (any, error) { return strings.TrimPrefix(url, "memtest://"), nil },
	Open: func(name string, c *lb.Config, url any) (lb.Balancer, error) {
		if url != "x" || c.Options().URL != "memtest://x" {
			return nil, fmt.Errorf("opened with url %v, options %+v", url, c.Options())
		}
		return lb.NewMemory(name, lb.Options{Tie: lb.TieList})
	},
})

// The registry opens the backend registered for a URL's scheme, with the
// URL as that backend read it; refuses a scheme that selects none, naming
// it only when it is a plain word; and refuses to register a scheme twice.
func TestBackendByScheme(t *testing.T) {
	if registerErr != nil {
		t.Fatal(registerErr)
	}
	var reg lb.Registry
	n, err := reg.Open("by-scheme", lb.Options{URL: "memtest://x", Lease: lb.MinLease})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close(n.Name)
	if m, ok := n.Balancer.(*lb.Memory); !ok || n.Options.URL != "memtest://x" || n.Options.Timeout != lb.DefaultTimeout {
		t.Fatalf("opened %T with %+v", m, n.Options)
	}
	if _, ok := n.StoreStats(); ok {
		t.Fatal("a memory balancer reports store stats")
	}
	for _, tc := range []struct{ url, want, hidden string }{
		{"redis://h", `url: scheme "redis" is not memtest`, ""},
		{"http://:Sec9Pw@h", `url: scheme "http" is not memtest`, "Sec9Pw"},
		{"Sec9Pw://h", "url: the scheme is not memtest", "Sec9Pw"},
		{"Sec9Pw", "url: the scheme is not memtest", "Sec9Pw"},
		{"memtest://x\x00y", "control character", ""},
		{"memtest://" + strings.Repeat("x", lb.MaxURLLen), "longer than " + strconv.Itoa(lb.MaxURLLen), ""},
	} {
		_, err := reg.Open("no-backend", lb.Options{URL: tc.url})
		if !errors.Is(err, lb.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) ||
			tc.hidden != "" && strings.Contains(err.Error(), tc.hidden) {
			t.Errorf("url %.20q: %v; want ErrInvalidArgument saying %q", tc.url, err, tc.want)
		}
	}
	for _, b := range []lb.Backend{
		{Schemes: []string{"memtest"}, ParseURL: func(string) (any, error) { return nil, nil },
			Open: func(string, *lb.Config, any) (lb.Balancer, error) { return nil, nil }},
		{Schemes: []string{"other"}},
		{},
	} {
		if err := lb.RegisterBackend(b); err == nil {
			t.Errorf("RegisterBackend(%v) accepted", b.Schemes)
		}
	}
}

// Regression: nothing bounded how many balancers a process opened, so
// dialplans sending ever new group names grew memory without end. Past
// MaxBalancers a new name is an error; names open stay usable.
func TestRegistryBoundsOpenBalancers(t *testing.T) {
	var reg lb.Registry
	for i := range lb.MaxBalancers {
		if _, err := reg.Open(fmt.Sprintf("g%d", i), lb.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := reg.Open("one-too-many", lb.Options{})
	if !errors.Is(err, lb.ErrInvalidArgument) || !strings.Contains(err.Error(), strconv.Itoa(lb.MaxBalancers)) {
		t.Fatalf("open past the bound: %v; want ErrInvalidArgument naming it", err)
	}
	if _, err := reg.Open("g7", lb.Options{}); err != nil {
		t.Fatalf("reopening an open name: %v", err)
	}
	if _, err := reg.Close("g7"); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Open("one-too-many", lb.Options{}); err != nil {
		t.Fatalf("open after one closed: %v", err)
	}
}
