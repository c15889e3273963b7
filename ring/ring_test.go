package ring

import (
	"errors"
	"testing"
)

func TestParseMode(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Mode
	}{{"parallel", ModeParallel}, {"sequential", ModeSequential}, {"balancing", ModeBalancing}, {" Balancing ", ModeBalancing}} {
		got, err := ParseMode(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseMode(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if got.String() != tt.want.String() {
			t.Errorf("String round trip of %q", tt.in)
		}
	}
	for _, in := range []string{"", "ringall", "enterprise", "parallel,"} {
		if _, err := ParseMode(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseMode(%q) error %v, want ErrInvalid", in, err)
		}
	}
}

func TestParseBackendPolicy(t *testing.T) {
	for in, want := range map[string]BackendPolicy{"": Fallback, "fallback": Fallback, "fail": Fail} {
		if got, err := ParseBackendPolicy(in); err != nil || got != want {
			t.Errorf("ParseBackendPolicy(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseBackendPolicy("ignore"); !errors.Is(err, ErrInvalid) {
		t.Errorf("ignore accepted: %v", err)
	}
}
