package lbtest

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/ringlb/ringlb/lb"
)

// OptionCase is a row of a table of lb.ParseOptions cases: Check holds
// for the options parsed from Pairs (defaults applied), or, when Bad,
// parsing fails with lb.ErrInvalidArgument.
type OptionCase struct {
	Name  string
	Pairs [][2]string
	Check func(lb.Options) bool
	Bad   bool
}

// ParseOptionCases runs a table of OptionCases.
func ParseOptionCases(t *testing.T, cases []OptionCase) {
	t.Helper()
	for _, tc := range cases {
		c, err := lb.ParseOptions(tc.Pairs)
		if tc.Bad {
			if !errors.Is(err, lb.ErrInvalidArgument) {
				t.Errorf("%s: err = %v, want ErrInvalidArgument", tc.Name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.Name, err)
		} else if o := c.Options(); !tc.Check(o) {
			t.Errorf("%s: %+v", tc.Name, o)
		}
	}
}

// CheckParsed checks what lb.ParseOptions makes of pairs: an error
// wrapping lb.ErrInvalidArgument, or a Config that checks again to the
// same options (defaults are idempotent) and that lb.Open takes, or
// refuses with lb.ErrInvalidArgument; never a panic. For fuzzing.
func CheckParsed(t *testing.T, pairs [][2]string) {
	c, err := lb.ParseOptions(pairs)
	if err != nil {
		if !errors.Is(err, lb.ErrInvalidArgument) {
			t.Fatalf("error %v does not wrap ErrInvalidArgument", err)
		}
		return
	}
	again, err := c.Options().Check()
	if err != nil {
		t.Fatalf("parsed options fail their check: %v", err)
	}
	if !reflect.DeepEqual(again.Options(), c.Options()) {
		t.Fatalf("defaults are not idempotent: %+v, then %+v", c.Options(), again.Options())
	}
	b, err := lb.Open("fuzz", c)
	if err != nil {
		if !errors.Is(err, lb.ErrInvalidArgument) || strings.Contains(err.Error(), "panic") {
			t.Fatalf("Open with parsed options: %v", err)
		}
		return
	}
	b.Close()
}
