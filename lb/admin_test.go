package lb_test

import (
	"slices"
	"testing"

	"github.com/ringlb/ringlb/lb"
)

func TestRegistryNames(t *testing.T) {
	var r lb.Registry
	if got := r.Names(); len(got) != 0 {
		t.Fatalf("zero registry: %v", got)
	}
	for _, n := range []string{"support", "sales", "billing"} {
		if _, err := r.Open(n, lb.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Close("support"); err != nil {
		t.Fatal(err)
	}
	if got, want := r.Names(), []string{"billing", "sales"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
}
