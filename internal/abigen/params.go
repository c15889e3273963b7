package main

import (
	"fmt"
	"regexp"
	"strings"
)

// op is one row of ops.
type op struct {
	// Name makes ringlb_<Name> (C), struct ringlb_<Name>_req, and
	// ringlbgo_<Name> (Go), which calls the hand-written op<Name>.
	Name string
	// Params are the C parameters before err and errlen (see ops).
	Params string
	// Doc is the comment above the prototype.
	Doc string
	// Deadline makes it a balancer operation bounded by the balancer's
	// timeout from the moment it was called; its handler gets the context.
	Deadline bool
	// Lua puts it in ringlb_lua.h, the Lua module's own, as a hidden
	// symbol: not part of the public ABI.
	Lua bool
	// NoErr leaves out err and errlen: int ringlb_<Name>(void).
	NoErr bool
	// Req names a request type shared by the operations whose parameters
	// have the same types, so they share their C and Go bodies too.
	Req string

	params []param
}

// constant is a C macro with a Go constant's value.
type constant struct {
	Name  string // RINGLB_...
	Go    string // the Go expression it comes from
	Value int
	Doc   string
	Lua   bool // in ringlb_lua.h, not ringlb.h
}

type kind int

const (
	inHandle  kind = iota // uint64_t handle
	inString              // const char *
	inStrings             // const char *const *x[n <= MAX_X]
	inNumber              // int, double, size_t
	outValue              // T *x = v
	outArray              // T *x[n]
	outBuffer             // char *x[xlen]
)

// param is one parameter of an operation.
type param struct {
	ctype string // its C type, as the prototype has it
	name  string
	kind  kind
	count string // inStrings, outArray: the count; outBuffer: the length
	limit string // inStrings: the macro that bounds the count
	init  string // outValue: set before the call
	used  bool   // a count or length that an array or buffer takes along
}

var paramRE = regexp.MustCompile(`^(.*?[\s*])(\w+)\s*(?:\[([^\]]*)\])?\s*(?:=\s*(.+))?$`)

// parse reads o.Params into o.params.
func (o *op) parse() error {
	o.params = nil
	if strings.TrimSpace(o.Params) == "" {
		return nil
	}
	for _, s := range strings.Split(o.Params, ",") {
		m := paramRE.FindStringSubmatch(strings.TrimSpace(s))
		if m == nil {
			return fmt.Errorf("%s: cannot read parameter %q", o.Name, s)
		}
		p := param{ctype: strings.TrimSpace(m[1]), name: m[2], init: strings.TrimSpace(m[4])}
		if err := p.classify(strings.TrimSpace(m[3])); err != nil {
			return fmt.Errorf("%s: %s: %w", o.Name, p.name, err)
		}
		o.params = append(o.params, p)
	}
	for i := range o.params {
		p := &o.params[i]
		if p.count == "" {
			continue
		}
		c := o.param(p.count)
		want := "int"
		if p.kind == outBuffer {
			want = "size_t"
		}
		if c == nil || c.ctype != want || c.kind != inNumber {
			return fmt.Errorf("%s: %s: its count %s is not a %s parameter", o.Name, p.name, p.count, want)
		}
		c.used = true
	}
	return nil
}

func (p *param) classify(ann string) error {
	star := strings.HasSuffix(p.ctype, "*")
	switch {
	case p.ctype == "uint64_t" && p.name == "handle" && ann == "" && p.init == "":
		p.kind = inHandle
	case p.ctype == "const char *" && ann == "" && p.init == "":
		p.kind = inString
	case p.ctype == "const char *const *":
		n, limit, ok := strings.Cut(ann, "<=")
		if !ok || p.init != "" {
			return fmt.Errorf("a string array wants [count <= MAX_...]")
		}
		p.kind, p.count, p.limit = inStrings, strings.TrimSpace(n), "RINGLB_"+strings.TrimSpace(limit)
	case (p.ctype == "int" || p.ctype == "double" || p.ctype == "size_t") && ann == "" && p.init == "":
		p.kind = inNumber
	case p.ctype == "char *" && ann != "" && p.init == "":
		p.kind, p.count = outBuffer, ann
	case star && ann != "" && p.init == "":
		p.kind, p.count = outArray, ann
	case star && ann == "" && p.init != "":
		p.kind = outValue
	default:
		return fmt.Errorf("type %q with [%s] = %q is none of the kinds ops lists", p.ctype, ann, p.init)
	}
	return nil
}

func (o *op) param(name string) *param {
	for i := range o.params {
		if o.params[i].name == name {
			return &o.params[i]
		}
	}
	return nil
}

func (o *op) has(k kind) bool {
	for _, p := range o.params {
		if p.kind == k {
			return true
		}
	}
	return false
}

// signature is the operation's C parameter list, as the header declares it.
func (o *op) signature() string {
	var s []string
	for _, p := range o.params {
		s = append(s, cDecl(p.ctype, p.name))
	}
	if !o.NoErr {
		s = append(s, "char *err", "size_t errlen")
	}
	if len(s) == 0 {
		return "void"
	}
	return strings.Join(s, ", ")
}

// reqType is the name of the operation's request struct, without "struct ".
func (o *op) reqType() string {
	if o.Req != "" {
		return "ringlb_" + o.Req + "_req"
	}
	return "ringlb_" + o.Name + "_req"
}

// goName is the name of the hand-written Go handler.
func (o *op) goName() string {
	var b strings.Builder
	b.WriteString("op")
	for _, w := range strings.Split(o.Name, "_") {
		b.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	return b.String()
}

// cDecl declares name with type t, as "int n" or "const char *s".
func cDecl(t, name string) string {
	if strings.HasSuffix(t, "*") {
		return t + name
	}
	return t + " " + name
}

// goList maps the parameters the Go handler takes with f: first ctx for an
// operation with a deadline, then each parameter that is not a count.
func (o *op) goList(ctx string, f func(param) string) []string {
	var s []string
	if o.Deadline {
		s = append(s, ctx)
	}
	for _, p := range o.params {
		if !p.used {
			s = append(s, f(p))
		}
	}
	return s
}

// goArg is the Go expression that passes p of request r to the handler.
func (p param) goArg() string {
	switch p.kind {
	case inHandle:
		return "c.balancer(r." + p.name + ")"
	case inString:
		return "goStr(r." + p.name + ")"
	case inStrings:
		return fmt.Sprintf("c.strs(r.%s, r.%s, %q, %q, C.%s)", p.name, p.count, p.name, p.count, p.limit)
	case inNumber:
		if p.ctype == "double" {
			return "float64(r." + p.name + ")"
		}
		return "int(r." + p.name + ")"
	case outArray:
		return "outSlice(r." + p.name + ", r." + p.count + ")"
	case outBuffer:
		return "outBytes(r." + p.name + ", r." + p.count + ")"
	}
	return "r." + p.name
}

// goType is the Go type of p in the handler's signature.
func (p param) goType() string {
	switch p.kind {
	case inHandle:
		return "*lb.Named"
	case inString:
		return "string"
	case inStrings:
		return "[]string"
	case inNumber:
		if p.ctype == "double" {
			return "float64"
		}
		return "int"
	case outArray:
		return "[]" + cgoType(strings.TrimSuffix(p.ctype, "*"))
	case outBuffer:
		return "[]byte"
	}
	return "*" + cgoType(strings.TrimSuffix(p.ctype, "*"))
}

// cgoType is how Go names C type t.
func cgoType(t string) string {
	t = strings.TrimSpace(t)
	if strings.HasSuffix(t, "*") {
		return "*" + cgoType(strings.TrimSuffix(t, "*"))
	}
	if s, ok := strings.CutPrefix(t, "struct "); ok {
		return "C.struct_" + s
	}
	return "C." + t
}
