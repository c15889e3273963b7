package ring

// A port, for tests only, of how FreeSWITCH 1.10 reads the dial string of
// switch_ivr_originate (signalwire/freeswitch src/switch_ivr_originate.c,
// src/switch_event.c switch_event_create_brackets, src/switch_utils.c
// switch_find_end_paren, switch_strchr_strict, switch_separate_string,
// separate_string_char_delim, cleanup_separated_string, unescape_char).
// Each function works on a []byte with NUL ends like the C, so the quirks
// (in-place cuts, the quote look-ahead, the second cleanup pass) come along.

import (
	"bytes"
	"errors"
)

const (
	quotedEscComma   = 1 // QUOTED_ESC_COMMA
	unquotedEscComma = 2 // UNQUOTED_ESC_COMMA
	maxPeers         = 128
)

// cbuf is a C string: a byte slice whose logical end is the first NUL.
type cbuf []byte

func cstr(s string) cbuf { return append([]byte(s), 0) }

// at returns b[i] or 0 past the end.
func (b cbuf) at(i int) byte {
	if i < 0 || i >= len(b) {
		return 0
	}
	return b[i]
}

// str returns the C string starting at i.
func (b cbuf) str(i int) string {
	j := i
	for j < len(b) && b[j] != 0 {
		j++
	}
	return string(b[i:j])
}

// strchr from i; -1 if absent.
func (b cbuf) strchr(i int, c byte) int {
	for ; b.at(i) != 0; i++ {
		if b[i] == c {
			return i
		}
	}
	return -1
}

func findEndParen(b cbuf, s int, open, close byte) int {
	for b.at(s) == ' ' {
		s++
	}
	e := -1
	if b.at(s) == open {
		depth := 1
		for e = s + 1; b.at(e) != 0; e++ {
			if b[e] == open && open != close {
				depth++
			} else if b[e] == close {
				depth--
				if depth == 0 {
					break
				}
			}
		}
	}
	if e >= 0 && b.at(e) == close {
		return e
	}
	return -1
}

// strchrStrict is switch_strchr_strict: the first find in b[i:] with only
// allowed bytes before it, else -1.
func strchrStrict(b cbuf, i int, find byte, allowed string) int {
	for ; b.at(i) != 0; i++ {
		if b[i] == find {
			return i
		}
		if allowed == "" || bytes.IndexByte([]byte(allowed), b[i]) < 0 {
			return -1
		}
	}
	return -1
}

func unescapeChar(c byte) byte {
	switch c {
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	case 's':
		return ' '
	}
	return c
}

// cleanup is cleanup_separated_string on the C string at i; it returns the
// new start.
func cleanup(b cbuf, i int, delim byte) int {
	ptr := i
	for b.at(ptr) == ' ' {
		ptr++
	}
	start, dest, end := ptr, ptr, -1
	inside := false
	for ; b.at(ptr) != 0; ptr++ {
		esc := false
		if b[ptr] == '\\' {
			e := b.at(ptr + 1)
			ue := unescapeChar(e)
			if e == '\'' || e == '"' || (delim != 0 && e == delim) || e == '\\' || ue != e {
				ptr++
				b[dest] = ue
				dest++
				end = dest
				esc = true
			}
		}
		if !esc {
			if b[ptr] == '\'' && (inside || b.strchr(ptr+1, '\'') >= 0) {
				inside = !inside
				if inside {
					end = dest
				}
			} else {
				b[dest] = b[ptr]
				dest++
				if b[ptr] != ' ' || inside {
					end = dest
				}
			}
		}
	}
	if end >= 0 {
		b[end] = 0
	}
	return start
}

// separate is switch_separate_string for a non-space delimiter; it returns
// the start index of each piece, cleaned up.
func separate(b cbuf, i int, delim byte, arraylen int) []int {
	if b.at(i) == '^' && b.at(i+1) == '^' {
		p := i + 2
		if b.at(p) != 0 && b.at(p+1) != 0 {
			delim = b[p]
			i = p + 1
		}
	}
	if delim == ' ' {
		panic("blank delimiter not ported")
	}
	var arr []int
	ptr := i
	findDelim := false
	inside := false
	for b.at(ptr) != 0 && len(arr) < arraylen {
		if !findDelim {
			arr = append(arr, ptr)
			findDelim = true
			continue
		}
		if b[ptr] == '\\' {
			ptr++
		} else if b[ptr] == '\'' && (inside || b.strchr(ptr+1, '\'') >= 0) {
			inside = !inside
		} else if b[ptr] == delim && !inside {
			b[ptr] = 0
			findDelim = false
		}
		ptr++
	}
	for k := range arr {
		arr[k] = cleanup(b, arr[k], delim)
	}
	return arr
}

type pair struct{ k, v string }

// createBrackets is switch_event_create_brackets with dup false. It returns
// the pairs and the index of the text after the block, or ok false.
func createBrackets(b cbuf, data int, open, close, c byte) (pairs []pair, rest int, ok bool) {
	vdata := data
	end := findEndParen(b, vdata, open, close)
	checkA := end
	for checkA >= 0 {
		checkB := strchrStrict(b, checkA, open, " ")
		if checkB < 0 {
			break
		}
		if checkB = findEndParen(b, checkB, open, close); checkB >= 0 {
			checkA = checkB
		}
	}
	if checkA >= 0 {
		end = checkA
	}
	if end < 0 {
		return nil, 0, false
	}
	next := end
	vdata++
	b[end] = 0
	end++
	vnext := -1
	for {
		if next >= 0 {
			b[next] = 0
			next++
			if pnext := strchrStrict(b, next, open, " "); pnext >= 0 {
				next = pnext + 1
			}
			vnext = findEndParen(b, next, open, close)
			next = -1
		}
		if b.at(vdata) == '^' && b.at(vdata+1) == '^' {
			vdata += 2
			c = b.at(vdata)
			vdata++
		}
		for _, v := range separate(b, vdata, c, 1024) {
			if kv := separate(b, v, '=', 2); len(kv) == 2 {
				pairs = append(pairs, pair{b.str(kv[0]), b.str(kv[1])})
			}
		}
		if vnext >= 0 {
			vdata = vnext
			vnext = -1
		} else {
			break
		}
	}
	return pairs, end, true
}

// parsedLeg is one leg as the switch creates it.
type parsedLeg struct {
	vars     []pair
	endpoint string // chan_type + "/" + chan_data
}

// parsedDial is a dial string as switch_ivr_originate reads it.
type parsedDial struct {
	global []pair
	groups [][]parsedLeg // "|" groups of "," legs
}

var errEnterprise = errors.New("enterprise originate")

// parseDial follows switch_ivr_originate (non-enterprise path) up to
// switch_core_session_outgoing_channel for every leg.
func parseDial(s string) (*parsedDial, error) {
	if bytes.Contains([]byte(s), []byte(":_:")) {
		return nil, errEnterprise
	}
	b := cstr(s)
	data := 0
	for b.at(data) == ' ' {
		data++
	}
	out := &parsedDial{}
	for b.at(data) == '<' {
		p, rest, ok := createBrackets(b, data, '<', '>', ',')
		if !ok {
			return nil, errors.New("parse error <>")
		}
		out.global = append(out.global, p...)
		data = rest
	}
	for b.at(data) == '{' {
		p, rest, ok := createBrackets(b, data, '{', '}', ',')
		if !ok {
			return nil, errors.New("parse error {}")
		}
		out.global = append(out.global, p...)
		data = rest
	}
	for b.at(data) == ' ' {
		data++
	}
	if b.at(data) == 0 {
		return nil, errors.New("no origination URL")
	}
	loop := cstr(b.str(data))
	for _, pn := range separate(loop, 0, '|', maxPeers) {
		// Mark commas inside [] blocks, as the originate loop does.
		end, q, alt := -1, false, false
		for p := pn; loop.at(p) != 0; p++ {
			if loop[p] == '[' {
				end = findEndParen(loop, p, '[', ']')
				alt = loop.at(p+1) == '^' && loop.at(p+2) == '^'
				q = false
			}
			if loop[p] == '\'' {
				q = !q
			}
			if end >= 0 && p < end && loop[p] == ',' && loop.at(p-1) != '\\' {
				if q || alt {
					loop[p] = quotedEscComma
				} else {
					loop[p] = unquotedEscComma
				}
			}
			if p == end {
				end = strchrStrict(loop, p, '[', " ")
			}
		}
		var group []parsedLeg
		for _, ct := range separate(loop, pn, ',', maxPeers) {
			for loop.at(ct) == ' ' {
				ct++
			}
			var leg parsedLeg
			for loop.at(ct) == '[' {
				bend := findEndParen(loop, ct, '[', ']')
				for p := ct + 1; p < bend && loop.at(p) != 0; p++ {
					if loop[p] == quotedEscComma {
						loop[p] = ','
					}
				}
				p, rest, ok := createBrackets(loop, ct, '[', ']', unquotedEscComma)
				if !ok || rest == ct {
					return nil, errors.New("parse error []")
				}
				leg.vars = append(leg.vars, p...)
				ct = rest
			}
			for loop.at(ct) == ' ' {
				ct++
			}
			leg.endpoint = loop.str(ct)
			group = append(group, leg)
		}
		out.groups = append(out.groups, group)
	}
	return out, nil
}
