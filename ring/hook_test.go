package ring

import (
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
