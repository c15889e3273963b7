package lb_test

import (
	"testing"

	"github.com/ringlb/ringlb/lb"
	"github.com/ringlb/ringlb/lb/lbtest"
)

func TestConformanceMemory(t *testing.T) {
	lbtest.Conformance(t, func(t *testing.T, opts lb.Options) lb.Balancer {
		m, err := lb.NewScope(nil).Open(t.Name(), opts) // fresh: no other test's calls
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	})
}

func TestSharedMemory(t *testing.T) {
	lbtest.Shared(t, func(t *testing.T, oa, ob lb.Options) (lb.Balancer, lb.Balancer) {
		return scopePair(t, lb.NewScope(nil), oa, ob)
	})
}
