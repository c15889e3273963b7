package ring

import (
	"errors"
	"strings"
	"testing"
)

// switchHookSplit splits a hangup hook command as the switch's api_hook
// does (src/switch_core_state_machine.c): at its first ':' when a second
// follows it, else at its first space. It returns the API command run.
func switchHookSplit(cmd string) string {
	if i := strings.IndexByte(cmd, ':'); i >= 0 && strings.HasPrefix(cmd[i:], "::") {
		return cmd[:i]
	}
	c, _, _ := strings.Cut(cmd, " ")
	return c
}

// Regression: a member or balancer name with "::" at its first ':' made the
// switch cut the release hook there and run "lua ringlb_release.lua ...
// gw" as the API command, which does not exist: the holds stayed until
// max_hold_age. Invalid UTF-8 and control bytes are refused too.
func TestCheckRefusesWhatBreaksTheHook(t *testing.T) {
	bal := Options{Mode: ModeBalancing, Balancer: true}
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
		got, err := Check(bal, []string{tc.dest}, tc.bname)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q on %q: %v", tc.dest, tc.bname, err)
		case tc.want == "" && (len(got) != 1 || got[0] != tc.dest):
			t.Errorf("%q on %q: members %q", tc.dest, tc.bname, got)
		case tc.want != "" && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q on %q: %v, want an error with %q", tc.dest, tc.bname, err, tc.want)
		}
	}
}

// Every word hookFault accepts keeps the release command whole wherever it
// stands in it, and every word it refuses for its ':' would cut it: the
// rule is the switch's, no wider. Words are all strings of up to six bytes
// over a small alphabet.
func TestHookFaultIsTheSwitchRule(t *testing.T) {
	const alphabet = "a:/@"
	words := []string{""}
	for n := 1; n <= 6; n++ {
		for _, w := range words {
			if len(w) == n-1 {
				for i := 0; i < len(alphabet); i++ {
					words = append(words, w+alphabet[i:i+1])
				}
			}
		}
	}
	for _, w := range words[1:] {
		f := hookFault(w)
		for _, cmd := range []string{
			"lua ringlb_release.lua " + w + " uuid-1 user/1001",
			"lua ringlb_release.lua sales uuid-1 " + w + " user/1001",
			"lua ringlb_release.lua sales uuid-1 user/1001 " + w,
		} {
			whole := switchHookSplit(cmd) == "lua"
			if f == "" && !whole {
				t.Fatalf("%q accepted, but the switch runs %q of %q", w, switchHookSplit(cmd), cmd)
			}
			if f != "" && whole {
				t.Fatalf("%q refused (%s), but the switch keeps %q whole", w, f, cmd)
			}
		}
	}
}
