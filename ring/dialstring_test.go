package ring

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

func TestDialStringExact(t *testing.T) {
	tests := []struct {
		name string
		legs []string
		sep  Separator
		vars [][2]string
		lt   int
		want string
	}{
		{"one leg", []string{"user/1001"}, Parallel, nil, 0, "user/1001"},
		{"parallel", []string{"user/1001", "user/1002"}, Parallel, nil, 0, "user/1001,user/1002"},
		{"sequential", []string{"user/1001", "user/1002"}, Sequential, nil, 0, "user/1001|user/1002"},
		{"leg timeout", []string{"user/1001", "user/1002"}, Parallel, nil, 20, "[leg_timeout=20]user/1001,[leg_timeout=20]user/1002"},
		{"vars in order", []string{"user/1001"}, Parallel,
			[][2]string{{"originate_timeout", "30"}, {"ignore_early_media", "true"}, {"a", "b"}}, 0,
			"{originate_timeout=30,ignore_early_media=true,a=b}user/1001"},
		{"comma", []string{"user/1001"}, Parallel, [][2]string{{"x", "a,b"}}, 0, `{x=a\,b}user/1001`},
		{"quote", []string{"user/1001"}, Parallel, [][2]string{{"x", "it's"}}, 0, `{x=it\\\'s}user/1001`},
		{"double quote", []string{"user/1001"}, Parallel, [][2]string{{"x", `say "hi"`}}, 0, `{x=say \\\"hi\\\"}user/1001`},
		{"backslash", []string{"user/1001"}, Parallel, [][2]string{{"x", `a\b`}}, 0, `{x=a\\\\b}user/1001`},
		{"equals", []string{"user/1001"}, Parallel, [][2]string{{"x", "a=b"}}, 0, `{x=a\\=b}user/1001`},
		{"edge spaces", []string{"user/1001"}, Parallel, [][2]string{{"x", " a b "}}, 0, `{x=\\sa b\\s}user/1001`},
		{"empty value", []string{"user/1001"}, Parallel, [][2]string{{"x", ""}}, 0, `{x=\'\'}user/1001`},
		{"balanced braces", []string{"user/1001"}, Parallel, [][2]string{{"x", "{a}"}}, 0, `{x={a}}user/1001`},
		{"pipe and brackets in value", []string{"user/1001"}, Parallel, [][2]string{{"x", "a|[b]"}}, 0, `{x=a|[b]}user/1001`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DialString(tt.legs, tt.sep, tt.vars, tt.lt)
			if err != nil {
				t.Fatalf("DialString: %v", err)
			}
			if got != tt.want {
				t.Fatalf("DialString = %q, want %q", got, tt.want)
			}
			checkRoundTrip(t, tt.legs, tt.sep, tt.vars, tt.lt, got)
		})
	}
}

// Hostile values must reach the channel exactly as given.
func TestDialStringHostileValuesRoundTrip(t *testing.T) {
	values := []string{
		"a,b,c", ",", ",,", "'", "''", "'a,b'", `"`, `"a,b"`, `\`, `\\`, `\,`, `\'`, `\n`, `\s`, `a\`,
		"}{" + "}", "x}", "=", "a=b=c", "^^:a:b", "^^", " ", "  ", " lead", "trail ", " both ",
		"[a,b]", "]", "[", "|", "a|b", "<", ">", "<a>", "{a,b}", "{{}}", "$", "$$", "$ {", "100%",
		"ünïcödé, ok", "\u00a0", "a'b'c", "'''", "\"'\"", `\'\'`, "a '", "' a",
	}
	for i, v := range values {
		vars := [][2]string{{"first", "1"}, {"x", v}, {"last", "2"}}
		for _, sep := range []Separator{Parallel, Sequential} {
			ds, err := DialString([]string{"user/1001", "loopback/9/default"}, sep, vars, 7)
			if err != nil {
				if errors.Is(err, ErrInvalid) && (strings.Count(v, "{") != strings.Count(v, "}") || strings.HasPrefix(v, "}")) {
					continue // unbalanced braces cannot be carried
				}
				t.Fatalf("value %d %q: %v", i, v, err)
			}
			checkRoundTrip(t, []string{"user/1001", "loopback/9/default"}, sep, vars, 7, ds)
		}
	}
}

func TestDialStringRejects(t *testing.T) {
	ok := []string{"user/1001"}
	tests := []struct {
		name string
		legs []string
		sep  Separator
		vars [][2]string
		lt   int
	}{
		{"no legs", nil, Parallel, nil, 0},
		{"bad separator", ok, Separator(2), nil, 0},
		{"negative separator", ok, Separator(-1), nil, 0},
		{"negative leg timeout", ok, Parallel, nil, -1},
		{"huge leg timeout", ok, Parallel, nil, MaxLegTimeout + 1},
		{"empty leg", []string{""}, Parallel, nil, 0},
		{"leg with comma", []string{"user/1001,user/1002"}, Parallel, nil, 0},
		{"leg with pipe", []string{"user/1001|user/1002"}, Parallel, nil, 0},
		{"leg with brace", []string{"{x=y}user/1001"}, Parallel, nil, 0},
		{"leg with bracket", []string{"[x=y]user/1001"}, Parallel, nil, 0},
		{"leg with quote", []string{"user/10'01"}, Parallel, nil, 0},
		{"leg with double quote", []string{`user/10"01`}, Parallel, nil, 0},
		{"leg with backslash", []string{`user/10\01`}, Parallel, nil, 0},
		{"leg with space", []string{"user/1001 "}, Parallel, nil, 0},
		{"leg with newline", []string{"user/1001\n"}, Parallel, nil, 0},
		{"leg with NUL", []string{"user/10\x0001"}, Parallel, nil, 0},
		{"leg with enterprise", []string{"user/1:_:user/2"}, Parallel, nil, 0},
		{"leg with caret", []string{"^^:user/1001"}, Parallel, nil, 0},
		{"leg with angle", []string{"<x=y>user/1001"}, Parallel, nil, 0},
		{"leg with var", []string{"user/${x}"}, Parallel, nil, 0},
		{"leg without type", []string{"1001"}, Parallel, nil, 0},
		{"leg starting with slash", []string{"/1001"}, Parallel, nil, 0},
		{"too many legs", make([]string, MaxLegs+1), Parallel, nil, 0},
		{"empty key", ok, Parallel, [][2]string{{"", "v"}}, 0},
		{"key with equals", ok, Parallel, [][2]string{{"a=b", "v"}}, 0},
		{"key with comma", ok, Parallel, [][2]string{{"a,b", "v"}}, 0},
		{"key with caret", ok, Parallel, [][2]string{{"^^:a", "v"}}, 0},
		{"key with space", ok, Parallel, [][2]string{{"a b", "v"}}, 0},
		{"duplicate key", ok, Parallel, [][2]string{{"a", "1"}, {"a", "2"}}, 0},
		{"value with newline", ok, Parallel, [][2]string{{"a", "x\ny"}}, 0},
		{"value with CR", ok, Parallel, [][2]string{{"a", "x\ry"}}, 0},
		{"value with NUL", ok, Parallel, [][2]string{{"a", "x\x00y"}}, 0},
		{"value with tab", ok, Parallel, [][2]string{{"a", "x\ty"}}, 0},
		{"value with DEL", ok, Parallel, [][2]string{{"a", "x\x7fy"}}, 0},
		{"value with close brace", ok, Parallel, [][2]string{{"a", "x}y"}}, 0},
		{"value with open brace", ok, Parallel, [][2]string{{"a", "x{y"}}, 0},
		{"value with reversed braces", ok, Parallel, [][2]string{{"a", "}{"}}, 0},
		{"value with var", ok, Parallel, [][2]string{{"a", "${caller_id_name}"}}, 0},
		{"value with global var", ok, Parallel, [][2]string{{"a", "$${domain}"}}, 0},
		{"value with escaped var", ok, Parallel, [][2]string{{"a", `$\{x}`}}, 0},
		{"value with enterprise", ok, Parallel, [][2]string{{"a", "x:_:y"}}, 0},
		{"huge value", ok, Parallel, [][2]string{{"a", strings.Repeat("x", MaxValueLen+1)}}, 0},
	}
	for i := range tests[22].legs {
		tests[22].legs[i] = "user/" + strconv.Itoa(i)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DialString(tt.legs, tt.sep, tt.vars, tt.lt)
			if err == nil {
				t.Fatalf("DialString = %q, want an error", got)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.HasPrefix(err.Error(), "ringlb: dialstring: ") {
				t.Fatalf("error %q lacks the prefix", err)
			}
			if got != "" {
				t.Fatalf("got %q with an error", got)
			}
		})
	}
}

func TestDialStringLimits(t *testing.T) {
	legs := make([]string, MaxLegs)
	for i := range legs {
		legs[i] = "user/" + strconv.Itoa(1000+i)
	}
	vars := make([][2]string, MaxVars)
	for i := range vars {
		vars[i] = [2]string{"v" + strconv.Itoa(i), "x,y"}
	}
	for _, sep := range []Separator{Parallel, Sequential} {
		ds, err := DialString(legs, sep, vars, MaxLegTimeout)
		if err != nil {
			t.Fatal(err)
		}
		checkRoundTrip(t, legs, sep, vars, MaxLegTimeout, ds)
	}
}

// checkRoundTrip parses ds the way switch_ivr_originate does and compares
// what each leg's channel would get with what was asked.
func checkRoundTrip(t *testing.T, legs []string, sep Separator, vars [][2]string, lt int, ds string) {
	t.Helper()
	p, err := parseDial(ds)
	if err != nil {
		t.Fatalf("switch parse of %q: %v", ds, err)
	}
	if len(p.global) != len(vars) {
		t.Fatalf("%q: switch reads %d variables %q, want %d %q", ds, len(p.global), p.global, len(vars), vars)
	}
	for i, kv := range vars {
		if p.global[i] != (pair{kv[0], kv[1]}) {
			t.Fatalf("%q: variable %d is %q=%q, want %q=%q", ds, i, p.global[i].k, p.global[i].v, kv[0], kv[1])
		}
		if hasVarRef(p.global[i].v) {
			t.Fatalf("%q: variable %d would be refused by the switch", ds, i)
		}
	}
	var got []string
	for gi, g := range p.groups {
		if sep == Parallel && gi > 0 || sep == Sequential && len(g) != 1 {
			t.Fatalf("%q: groups %v do not match separator %v", ds, p.groups, sep)
		}
		for _, leg := range g {
			got = append(got, leg.endpoint)
			var want []pair
			if lt > 0 {
				want = []pair{{"leg_timeout", strconv.Itoa(lt)}}
			}
			if fmt.Sprint(leg.vars) != fmt.Sprint(want) {
				t.Fatalf("%q: leg %q vars %v, want %v", ds, leg.endpoint, leg.vars, want)
			}
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(legs) {
		t.Fatalf("%q: switch rings %q, want %q", ds, got, legs)
	}
}

// The port itself must read the switch's own documented examples right.
func TestParseDialKnownStrings(t *testing.T) {
	p, err := parseDial(`{a=1,b='x,y'}[c=3,d=4]user/1001,[e=5]user/1002|user/1003`)
	if err != nil {
		t.Fatal(err)
	}
	want := `&{[{a 1} {b x,y}] [[{[{c 3} {d 4}] user/1001} {[{e 5}] user/1002}] [{[] user/1003}]]}`
	if got := fmt.Sprint(p); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if _, err := parseDial("user/1:_:user/2"); !errors.Is(err, errEnterprise) {
		t.Fatalf("enterprise not detected: %v", err)
	}
}

func FuzzDialString(f *testing.F) {
	f.Add("user/1001", "user/1002", "k", "a,b", "v", `'"\{}`, 0, 20)
	f.Add("sofia/gateway/gw/+15551234567", "loopback/1/default", "origination_caller_id_name", " Bob, \"Jr\" ", "x", "", 1, 0)
	f.Add("user/1001", "user/1001", "a", "^^:x", "b", "${x}", 0, -1)
	f.Add("user/1:_:2", "x", "a=b", "\n", "c", "}{", 2, 99999)
	f.Fuzz(func(t *testing.T, leg1, leg2, k1, v1, k2, v2 string, sep, lt int) {
		legs := []string{leg1, leg2}
		vars := [][2]string{{k1, v1}, {k2, v2}}
		ds, err := DialString(legs, Separator(sep), vars, lt)
		if err != nil {
			// One prefix: the sentinel once repeated "ringlb: " mid-message.
			if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), "ringlb: dialstring: ") ||
				strings.Count(err.Error(), "ringlb:") != 1 {
				t.Fatalf("bad error %v", err)
			}
			return
		}
		checkRoundTrip(t, legs, Separator(sep), vars, lt, ds)
	})
}

// checkLegsRoundTrip parses ds as switch_ivr_originate does and compares
// each leg's endpoint and own variables, and the {} variables, with legs
// and vars.
func checkLegsRoundTrip(t *testing.T, legs []Leg, vars [][2]string, ds string) {
	t.Helper()
	p, err := parseDial(ds)
	if err != nil {
		t.Fatalf("switch parse of %q: %v", ds, err)
	}
	pairs := func(kv [][2]string) string {
		out := make([]pair, len(kv))
		for i, x := range kv {
			out[i] = pair{x[0], x[1]}
		}
		return fmt.Sprintf("%q", out)
	}
	if got, want := fmt.Sprintf("%q", p.global), pairs(vars); got != want {
		t.Fatalf("%q: the switch reads {} variables %s, want %s", ds, got, want)
	}
	if len(p.groups) != 1 || len(p.groups[0]) != len(legs) {
		t.Fatalf("%q: the switch reads groups %v, want one of %d legs", ds, p.groups, len(legs))
	}
	for i, leg := range p.groups[0] {
		if leg.endpoint != legs[i].Endpoint {
			t.Fatalf("%q: leg %d rings %q, want %q", ds, i+1, leg.endpoint, legs[i].Endpoint)
		}
		if got, want := fmt.Sprintf("%q", leg.vars), pairs(legs[i].Vars); got != want {
			t.Fatalf("%q: leg %d gets %s, want %s", ds, i+1, got, want)
		}
		for _, v := range leg.vars {
			if hasVarRef(v.v) {
				t.Fatalf("%q: leg %d variable %q would be refused by the switch", ds, i+1, v.k)
			}
		}
	}
}

func TestLegsDialStringExact(t *testing.T) {
	legs := []Leg{
		{"user/1004@a.example", [][2]string{{"leg_timeout", "10"}, {"presence_id", "1004@a.example"}}},
		{"loopback/0612", [][2]string{{"leg_delay_start", "5"}, {"origination_caller_id_name", "Doe, John"}}},
		{"user/1005", nil},
	}
	got, err := LegsDialString(legs, Parallel, [][2]string{{"ignore_early_media", "true"}})
	want := `{ignore_early_media=true}[leg_timeout=10,presence_id=1004@a.example]user/1004@a.example,` +
		`[leg_delay_start=5,origination_caller_id_name=Doe\\, John]loopback/0612,user/1005`
	if err != nil || got != want {
		t.Fatalf("LegsDialString = %q, %v\nwant %q", got, err, want)
	}
	checkLegsRoundTrip(t, legs, [][2]string{{"ignore_early_media", "true"}}, got)
}

// A leg's own values reach its channel exactly as given, commas, '=' and
// spaces included; what the switch cannot carry there is refused.
func TestLegsDialStringValuesRoundTrip(t *testing.T) {
	values := []string{
		"a,b,c", ",", ",,", `"`, `"a,b"`, "=", "a=b=c", " ", "  ", " lead", "trail ", " both ", ", x ,",
		"^^:a:b", "^^", "|", "a|b", "<a>", "{a,b}", "{{}}", "$", "100%", "ünïcödé, ok", "", `a\b`, `\,`, `\s`,
		"lua /usr/share/freeswitch/scripts/confirm.lua", "a\"b,\"c", "=,=", "x=", ",=", "\u00a0",
	}
	for i, v := range values {
		legs := []Leg{
			{"user/1001", [][2]string{{"first", "1"}, {"x", v}, {"last", "2"}}},
			{"loopback/9/default", [][2]string{{"x", v}}},
		}
		ds, err := LegsDialString(legs, Parallel, [][2]string{{"g", v}})
		if err != nil {
			t.Fatalf("value %d %q: %v", i, v, err)
		}
		checkLegsRoundTrip(t, legs, [][2]string{{"g", v}}, ds)
	}
	for _, v := range []string{"it's", `a\`, "[a]", "]", "[", "x}", "${x}", "a\nb", "a:_:b"} {
		_, err := LegsDialString([]Leg{{"user/1001", [][2]string{{"x", v}}}}, Parallel, nil)
		if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), "ringlb: dialstring: ") {
			t.Errorf("leg value %q: %v, want an ErrInvalid", v, err)
		}
	}
	for _, leg := range []Leg{{"user/1001", [][2]string{{"a b", "1"}}}, {"user/1001", [][2]string{{"a", "1"}, {"a", "2"}}}, {"1001", nil}} {
		if _, err := LegsDialString([]Leg{leg}, Parallel, nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("leg %+v: %v, want ErrInvalid", leg, err)
		}
	}
}

func FuzzLegsDialString(f *testing.F) {
	f.Add("user/1001", "k", "a,b", "v", ` x "y", =z `)
	f.Add("loopback/1/default", "origination_caller_id_name", "Doe, John", "group_confirm_file", "lua /s/confirm.lua")
	f.Add("user/1", "a", "'", "b", `\`)
	f.Fuzz(func(t *testing.T, ep, k1, v1, k2, v2 string) {
		legs := []Leg{{ep, [][2]string{{k1, v1}, {k2, v2}}}, {"user/2", [][2]string{{k2, v1}}}}
		vars := [][2]string{{k1, v2}}
		ds, err := LegsDialString(legs, Parallel, vars)
		if err != nil {
			if !errors.Is(err, ErrInvalid) || strings.Count(err.Error(), "ringlb:") != 1 {
				t.Fatalf("bad error %v", err)
			}
			return
		}
		checkLegsRoundTrip(t, legs, vars, ds)
	})
}
