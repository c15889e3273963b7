package ring

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/ringlb/ringlb/lb"
)

// ErrInvalid is wrapped by every error of this package: a bad mode, option,
// leg or variable. Test for it with errors.Is.
var ErrInvalid = errors.New("invalid ring argument")

// Separator says how the legs of a dial string are rung.
type Separator int

const (
	// Parallel rings every leg at once; the first to answer wins (",").
	Parallel Separator = 0
	// Sequential rings the legs one after another ("|").
	Sequential Separator = 1
)

// String returns the separator as it appears in a dial string.
func (s Separator) String() string {
	switch s {
	case Parallel:
		return ","
	case Sequential:
		return "|"
	}
	return fmt.Sprintf("Separator(%d)", int(s))
}

// Limits of DialString. FreeSWITCH keeps at most MAX_PEERS (128) legs per
// "," group and 128 "|" groups, and at most 1024 pairs per {} block
// (var_array in switch_event_create_brackets); it drops what is past them
// without a word, so DialString refuses instead.
const (
	// MaxLegs is the most legs in one dial string, and so the most members
	// of a ring group (see Check): the one home of that number.
	MaxLegs = 128
	// MaxVars is the most variables in the {} block.
	MaxVars = 1024
	// MaxLegTimeout is the largest leg_timeout, in seconds (one day).
	MaxLegTimeout = 86400
	// MaxLegLen and MaxValueLen bound one leg and one value, in bytes.
	MaxLegLen   = 512
	MaxValueLen = 4096
	// MaxKeyLen bounds one variable name, in bytes.
	MaxKeyLen = 128
)

func dialErr(format string, args ...any) error {
	return fmt.Errorf("ringlb: dialstring: %s: %w", fmt.Sprintf(format, args...), ErrInvalid)
}

// Leg is one leg of a dial string: an endpoint such as user/1001, and the
// channel variables of that leg alone, written [k=v,...] in front of it.
type Leg struct {
	Endpoint string
	Vars     [][2]string
}

// DialString builds a FreeSWITCH dial string that rings legs joined by sep,
// with vars (name, value pairs, kept in the order given) in a {} block that
// applies to every leg, and, when legTimeout > 0, [leg_timeout=N] in front
// of each leg. legTimeout 0 means no per-leg timeout; negative is an error.
func DialString(legs []string, sep Separator, vars [][2]string, legTimeout int) (string, error) {
	return TaggedDialString(legs, sep, vars, legTimeout, "")
}

// TaggedDialString is DialString that also sets, when tag is not empty, the
// channel variable tag on each leg to that leg itself ([tag=<leg>]), so the
// leg that answers tells which member it is.
func TaggedDialString(legs []string, sep Separator, vars [][2]string, legTimeout int, tag string) (string, error) {
	if len(legs) > MaxLegs {
		return "", dialErr("%d legs (at most %d)", len(legs), MaxLegs)
	}
	ls := make([]Leg, len(legs))
	for i, leg := range legs {
		ls[i].Endpoint = leg
	}
	return TaggedLegsDialString(ls, sep, vars, legTimeout, tag)
}

// TaggedLegsDialString is LegsDialString that also gives each leg, besides
// its own variables, leg_timeout=legTimeout when legTimeout > 0 and, when
// tag is not empty, tag=<its endpoint>.
func TaggedLegsDialString(legs []Leg, sep Separator, vars [][2]string, legTimeout int, tag string) (string, error) {
	if tag != "" {
		if err := checkKey(tag); err != nil {
			return "", err
		}
	}
	if legTimeout < 0 || legTimeout > MaxLegTimeout {
		return "", dialErr("leg_timeout %d (want 0 to %d seconds)", legTimeout, MaxLegTimeout)
	}
	if len(legs) > MaxLegs {
		return "", dialErr("%d legs (at most %d)", len(legs), MaxLegs)
	}
	if legTimeout == 0 && tag == "" {
		return LegsDialString(legs, sep, vars)
	}
	ls := make([]Leg, len(legs))
	for i, l := range legs {
		v := make([][2]string, 0, len(l.Vars)+2)
		v = append(v, l.Vars...)
		if legTimeout > 0 {
			v = append(v, [2]string{"leg_timeout", strconv.Itoa(legTimeout)})
		}
		if tag != "" {
			v = append(v, [2]string{tag, l.Endpoint})
		}
		ls[i] = Leg{Endpoint: l.Endpoint, Vars: v}
	}
	return LegsDialString(ls, sep, vars)
}

// LegsDialString builds a FreeSWITCH dial string that rings legs joined by
// sep, with vars (name, value pairs, kept in the order given) in a {} block
// that applies to every leg, and each leg's own variables in a [] block in
// front of it.
//
// Values are escaped so that the switch hands every value to the new
// channels exactly as given, commas, quotes, backslashes, '=' and leading
// or trailing spaces included. What cannot be carried is refused with an
// error wrapping ErrInvalid: control characters (newline, CR, NUL, ...),
// braces that do not balance, "${" (the switch refuses to set such a value),
// ":_:" (it would turn the whole string into an enterprise originate), in a
// leg's own variables a quote, a backslash or a bracket (the switch finds
// the commas of a [] block before it reads escapes), and in endpoints,
// which are member names, invalid UTF-8 and any of the characters that
// delimit a dial string.
//
// How FreeSWITCH 1.10 reads the string, which the escaping follows (see
// signalwire/freeswitch src/switch_ivr_originate.c switch_ivr_originate,
// src/switch_event.c switch_event_create_brackets and src/switch_utils.c
// switch_find_end_paren, switch_separate_string, cleanup_separated_string):
//
//  1. strstr(dialstring, ":_:") anywhere selects enterprise originate.
//  2. A leading {...} block ends at the matching '}' found by
//     switch_find_end_paren, which counts '{' and '}' and knows no escape:
//     braces in values must balance.
//  3. The block is split on ',' by switch_separate_string: a backslash
//     protects the next byte, '...' quotes protect commas, and
//     cleanup_separated_string then turns \, \' \" \\ into the bare byte,
//     \n \r \t \s into LF CR TAB space, drops unescaped quote pairs and
//     trims leading and trailing spaces.
//  4. Each piece is split again, on its first '=', by the same function:
//     the cleanup runs a second time on the value. So a value is escaped
//     twice, once for each pass, and an empty value is sent as a quoted
//     empty string, since "k=" has no second part and is ignored.
//  5. The rest is split on '|' by the same function, which cleans up each
//     group once more. In each group, the commas inside a leg's [...] block
//     that no backslash precedes are then marked: as separators, or as
//     plain commas after an odd number of quotes (escaped ones count). The
//     group is split on ',' (another cleanup), and the block on its
//     separators and then on '=' as in 3 and 4. So a leg's own value is
//     escaped four times ('=', the block's separator, ',', '|'), and must
//     hold no quote and not end with a backslash, which the marking would
//     misread; legs, split the same way, hold no quote or backslash at all.
//     A leg or block starting with "^^" would change the delimiter; a
//     leading '<' starts an enterprise block.
//
// The channel variables are then set with the switch's variable check on,
// which refuses any value holding "${" (switch_string_var_check_const).
func LegsDialString(legs []Leg, sep Separator, vars [][2]string) (string, error) {
	if sep != Parallel && sep != Sequential {
		return "", dialErr("separator %d (want 0 for \",\" or 1 for \"|\")", int(sep))
	}
	if len(legs) == 0 {
		return "", dialErr("no legs")
	}
	if len(legs) > MaxLegs {
		return "", dialErr("%d legs (at most %d)", len(legs), MaxLegs)
	}
	for _, leg := range legs {
		if err := checkLeg(leg.Endpoint); err != nil {
			return "", err
		}
	}
	var b strings.Builder
	if len(vars) > 0 {
		b.WriteByte('{')
		if err := writeVars(&b, vars, false); err != nil {
			return "", err
		}
		b.WriteByte('}')
	}
	for i, leg := range legs {
		if i > 0 {
			b.WriteString(sep.String())
		}
		if len(leg.Vars) > 0 {
			b.WriteByte('[')
			if err := writeVars(&b, leg.Vars, true); err != nil {
				return "", err
			}
			b.WriteByte(']')
		}
		b.WriteString(leg.Endpoint)
	}
	out := b.String()
	if strings.Contains(out, ":_:") {
		// Unreachable given the checks above; kept so a future change to
		// them cannot silently produce an enterprise originate.
		return "", dialErr("result holds \":_:\"")
	}
	return out, nil
}

// writeVars writes the k=v pairs of vars, comma-separated and escaped, for
// the {} block or, with leg, a leg's [] block.
func writeVars(b *strings.Builder, vars [][2]string, leg bool) error {
	if len(vars) > MaxVars {
		return dialErr("%d variables (at most %d)", len(vars), MaxVars)
	}
	seen := make(map[string]bool, len(vars))
	for i, kv := range vars {
		k, v := kv[0], kv[1]
		if err := checkKey(k); err != nil {
			return err
		}
		if seen[k] {
			return dialErr("variable %q given twice", k)
		}
		seen[k] = true
		if err := checkValue(k, v); err != nil {
			return err
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte('=')
		if !leg {
			b.WriteString(escapeValue(v))
			continue
		}
		if i := strings.IndexAny(v, legValueSpecials); i >= 0 {
			return dialErr("value of %q has %q, which a leg's own variables cannot carry", k, v[i])
		}
		if strings.HasSuffix(v, `\`) {
			return dialErr("value of %q ends with a backslash, which a leg's own variables cannot carry", k)
		}
		b.WriteString(escapeLegValue(v))
	}
	return nil
}

// legValueSpecials are what a leg's own variable cannot hold anywhere: the
// switch counts every quote, and finds the block's end, before it reads a
// single escape (step 5 of LegsDialString).
const legValueSpecials = `'[]`

// legVarSep is the byte that separates the variables of a leg's [] block
// once the switch has marked them (UNQUOTED_ESC_COMMA).
const legVarSep = 2

// escapeLegValue escapes v, which holds nothing of legValueSpecials and
// does not end with a backslash, for the four cleanup passes of a leg's []
// block: '=', the block's separator, ',' and '|', innermost first.
func escapeLegValue(v string) string {
	s := "''" // the '=' pass drops a quote pair, leaving the empty value set
	if v != "" {
		s = escapePass(v, '=')
	}
	for _, d := range []byte{legVarSep, ',', '|'} {
		s = escapePass(s, d)
	}
	return s
}

// escapeValue escapes v for the two cleanup passes of step 3 and 4 in the
// DialString comment: first for the '=' split, then for the ',' split.
func escapeValue(v string) string {
	if v == "" {
		// A quote pair survives the first pass as '' (escaped quotes) and
		// the second pass drops it, leaving the empty value set.
		return `\'\'`
	}
	return escapePass(escapePass(v, '='), ',')
}

// escapePass escapes s so that one switch_separate_string pass with delim
// returns it unchanged as a single piece.
func escapePass(s string, delim byte) string {
	// first and last are the bounds of s without its leading and trailing
	// spaces.
	first, last := 0, len(s)-1
	for first < len(s) && s[first] == ' ' {
		first++
	}
	for last >= 0 && s[last] == ' ' {
		last--
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' || c == '\'' || c == '"' || c == delim:
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == ' ' && (i < first || i > last):
			// cleanup_separated_string trims bare leading and trailing
			// spaces; \s survives the trim and becomes a space.
			b.WriteString(`\s`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// checkKey accepts channel variable names: letters, digits, '_', '-', '.'.
func checkKey(k string) error {
	if k == "" {
		return dialErr("empty variable name")
	}
	if len(k) > MaxKeyLen {
		return dialErr("variable name of %d bytes (at most %d)", len(k), MaxKeyLen)
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return dialErr("variable name %q (want letters, digits, '_', '-', '.')", k)
		}
	}
	return nil
}

// checkValue refuses what no escaping can carry through the switch.
func checkValue(k, v string) error {
	if len(v) > MaxValueLen {
		return dialErr("value of %q: %d bytes (at most %d)", k, len(v), MaxValueLen)
	}
	if i := controlAt(v); i >= 0 {
		return dialErr("value of %q has control character %q", k, v[i])
	}
	if strings.Contains(v, ":_:") {
		return dialErr("value of %q holds \":_:\"", k)
	}
	if hasVarRef(v) {
		return dialErr("value of %q holds \"${\", which the switch refuses to set", k)
	}
	depth := 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth < 0 {
				return dialErr("value of %q has an unmatched '}'", k)
			}
		}
	}
	if depth != 0 {
		return dialErr("value of %q has an unmatched '{'", k)
	}
	return nil
}

// legSpecials are bytes that delimit parts of a dial string and that a leg
// therefore cannot hold.
const legSpecials = ` ,|'"\{}[]`

// checkLeg accepts an endpoint such as user/1001 or sofia/gateway/gw/+1555.
func checkLeg(leg string) error {
	switch {
	case leg == "":
		return dialErr("empty leg")
	case len(leg) > MaxLegLen:
		return dialErr("leg of %d bytes (at most %d)", len(leg), MaxLegLen)
	}
	if f := lb.TextFault(leg); f != "" {
		return dialErr("leg %q %s", leg, f)
	}
	if i := strings.IndexAny(leg, legSpecials); i >= 0 {
		return dialErr("leg %q has %q, which delimits dial strings", leg, leg[i])
	}
	switch {
	case leg[0] == '^' || leg[0] == '<':
		return dialErr("leg %q starts with %q", leg, leg[0])
	case strings.Contains(leg, ":_:"):
		return dialErr("leg %q holds \":_:\"", leg)
	case hasVarRef(leg):
		return dialErr("leg %q holds \"${\"", leg)
	case strings.IndexByte(leg, '/') <= 0:
		return dialErr("leg %q is not an endpoint (want type/data, e.g. user/1001)", leg)
	}
	return nil
}

// controlAt returns the index of the first control byte of s, or -1.
func controlAt(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return i
		}
	}
	return -1
}

// hasVarRef reports what switch_string_var_check_const reports: a '$'
// followed, past any backslashes, by '{'.
func hasVarRef(s string) bool {
	dol := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '$':
			dol = true
		case dol && c == '{':
			return true
		case c != '\\':
			dol = false
		}
	}
	return false
}

// A ring's members reach its balancer in one call: MaxLegs must not pass
// lb.MaxDestinations. This fails to compile if it does (a negative
// constant does not convert to uint).
const _ = uint(lb.MaxDestinations - MaxLegs)
