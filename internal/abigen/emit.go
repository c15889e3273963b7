package main

import (
	"fmt"
	"go/format"
	"strings"
)

// width is where generated C lines wrap.
const width = 120

// constMacros defines the constants of the public header (lua false) or
// of ringlb_lua.h.
func constMacros(lua bool) string {
	var b strings.Builder
	for _, c := range consts {
		if c.Lua == lua {
			fmt.Fprintf(&b, "#define %s %d /* %s (%s) */\n", c.Name, c.Value, c.Doc, c.Go)
		}
	}
	return b.String()
}

// prototypes declares the operations of the public header (lua false) or
// of ringlb_lua.h, each after its comment.
func prototypes(lua bool) string {
	var b strings.Builder
	attr := ""
	if lua {
		attr = "__attribute__((visibility(\"hidden\"))) "
	}
	for _, o := range ops {
		if o.Lua != lua {
			continue
		}
		b.WriteString("\n" + comment(o.Doc, ""))
		b.WriteString(wrapCall(attr+"int ringlb_"+o.Name, o.signature(), ";", "") + "\n")
	}
	return b.String()
}

// comment renders doc as a C block comment, each line prefixed with indent.
func comment(doc, indent string) string {
	lines := strings.Split(strings.TrimSpace(doc), "\n")
	if len(lines) == 1 && len(indent)+len(lines[0])+6 <= 100 {
		return indent + "/* " + lines[0] + " */\n"
	}
	var b strings.Builder
	b.WriteString(indent + "/*\n")
	for _, l := range lines {
		b.WriteString(strings.TrimRight(indent+" * "+l, " ") + "\n")
	}
	b.WriteString(indent + " */\n")
	return b.String()
}

// wrapCall writes head(args)tail, wrapping args under the parenthesis at
// width; indent starts the first line.
func wrapCall(head, args, tail, indent string) string {
	return fill(indent+head+"(", strings.Split(args, ", "), ", ", ")"+tail, indent+strings.Repeat(" ", len(head)+1))
}

// callHeader is ringlb_call.h.
func callHeader() string {
	var b strings.Builder
	b.WriteString(generatedC + `
/*
 * ringlb_call.h - the requests that cross from C into Go (internal). Each
 * operation has a request type whose fields are its parameters (operations
 * whose parameters have the same types share one); every request starts
 * with a ringlb_status, where Go leaves the result code and message.
 * abi_gen.c fills a request and has dispatch.c run its Go function,
 * ringlbgo_<op> (abi_gen.go), on the calling thread or on a worker.
 */
#ifndef RINGLB_CALL_H
#define RINGLB_CALL_H

#include "ringlb.h"
#include "ringlb_internal.h"
#include "ringlb_lua.h"

`)
	fmt.Fprintf(&b, "#define RINGLB_VERSION %q /* internal/version.Version */\n\n", libVersion)
	done := map[string]bool{}
	for _, o := range ops {
		if done[o.reqType()] {
			continue
		}
		done[o.reqType()] = true
		fields := []string{"struct ringlb_status st;"}
		for _, p := range o.params {
			fields = append(fields, cDecl(p.ctype, p.name)+";")
		}
		fmt.Fprintf(&b, "struct %s { %s };\n", o.reqType(), strings.Join(fields, " "))
	}
	b.WriteString("\n/* The Go side of each operation (abi_gen.go). */\n")
	for _, o := range ops {
		fmt.Fprintf(&b, "void ringlbgo_%s(struct %s *r);\n", o.Name, o.reqType())
	}
	b.WriteString("\n#endif\n")
	return b.String()
}

// cFunctions is abi_gen.c.
func cFunctions() string {
	var b strings.Builder
	b.WriteString(generatedC + `
/*
 * abi_gen.c - the functions of ringlb.h and ringlb_lua.h that go into Go:
 * each fills its request (ringlb_call.h), checks and sets its results, and
 * has dispatch.c run its Go side, ringlbgo_<op>, on this thread or on a
 * worker. The trampolines run_<op> give a worker one untyped function to
 * call while each Go function takes its own request type.
 */
#include "ringlb_call.h"

`)
	for _, o := range ops {
		fmt.Fprintf(&b, "static void run_%s(void *r) { ringlbgo_%s(r); }\n", o.Name, o.Name)
	}
	shared := map[string]bool{}
	for _, o := range ops {
		if o.Req == "" {
			b.WriteString("\n" + cBody(o, "int ringlb_"+o.Name, "run_"+o.Name) + "\n")
			continue
		}
		if !shared[o.Req] {
			shared[o.Req] = true
			fmt.Fprintf(&b, "\n/* %s_call serves the operations whose request is struct %s. */\n", o.Req, o.reqType())
			b.WriteString(cBody(o, "static int "+o.Req+"_call", "run") + "\n\n")
		}
		var args []string
		for _, p := range o.params {
			args = append(args, p.name)
		}
		fmt.Fprintf(&b, "int ringlb_%s(%s) { return %s_call(run_%s, %s, err, errlen); }\n",
			o.Name, o.signature(), o.Req, o.Name, strings.Join(args, ", "))
	}
	return b.String()
}

// cBody defines head, the C function of o, whose Go side is run.
func cBody(o op, head, run string) string {
	sig := o.signature()
	if run == "run" {
		sig = "void (*run)(void *), " + sig
	}
	var b strings.Builder
	b.WriteString(wrapCall(head, sig, " {", "") + "\n")
	var inits []string
	for _, p := range o.params {
		inits = append(inits, "."+p.name+" = "+p.name)
	}
	if len(inits) > 0 {
		b.WriteString(wrapInit("\tstruct "+o.reqType()+" r = {", inits, "};") + "\n")
	} else {
		b.WriteString("\tstruct " + o.reqType() + " r;\n")
	}
	if o.NoErr {
		b.WriteString("\tringlb_start(&r.st, NULL, 0);\n")
	} else {
		b.WriteString("\tringlb_start(&r.st, err, errlen);\n")
	}
	var checks, sets []string
	for _, p := range o.params {
		switch p.kind {
		case outValue:
			checks = append(checks, fmt.Sprintf("!ringlb_out(&r.st, %s, 1, %q)", p.name, p.name))
			sets = append(sets, fmt.Sprintf("*%s = %s;", p.name, p.init))
		case outArray:
			checks = append(checks, fmt.Sprintf("!ringlb_out(&r.st, %s, %s, %q)", p.name, p.count, p.name))
		case outBuffer:
			checks = append(checks, fmt.Sprintf("!ringlb_out_buf(&r.st, %s, %s, %q)", p.name, p.count, p.name))
			sets = append(sets, p.name+"[0] = '\\0';")
		}
	}
	if len(checks) > 0 {
		b.WriteString(wrapCond("\tif (", checks, ")") + "\n\t\treturn r.st.rc;\n")
	}
	for _, s := range sets {
		b.WriteString("\t" + s + "\n")
	}
	if o.Deadline {
		fmt.Fprintf(&b, "\treturn ringlb_call_op(%s, &r.st, handle);\n}", run)
	} else {
		fmt.Fprintf(&b, "\treturn ringlb_call_go(%s, &r.st);\n}", run)
	}
	return b.String()
}

// wrapInit writes head, items separated by commas, tail, wrapping at width.
func wrapInit(head string, items []string, tail string) string {
	return fill(head, items, ", ", tail, "\t    ")
}

// wrapCond joins conditions with ||, wrapping at width.
func wrapCond(head string, conds []string, tail string) string {
	return fill(head, conds, " || ", tail, "\t    ")
}

// fill writes head, items joined by sep, tail, starting a new line (with
// indent) before an item that would go past width.
func fill(head string, items []string, sep, tail, indent string) string {
	var b strings.Builder
	b.WriteString(head)
	col := cols(head)
	for i, it := range items {
		if i > 0 {
			b.WriteString(strings.TrimRight(sep, " "))
			col += len(strings.TrimRight(sep, " "))
			if col+len(sep)+len(it)+len(tail) > width {
				b.WriteString("\n" + indent)
				col = cols(indent)
			} else {
				b.WriteString(" ")
				col++
			}
		}
		b.WriteString(it)
		col += len(it)
	}
	b.WriteString(tail)
	return b.String()
}

// cols is how many columns s takes, a tab being 8.
func cols(s string) int { return len(strings.ReplaceAll(s, "\t", "        ")) }

// goExports is abi_gen.go.
func goExports() ([]byte, error) {
	var b strings.Builder
	b.WriteString(`// Code generated by internal/abigen from its table of operations; DO NOT EDIT.

package main

/*
#include "ringlb_call.h"
*/
import "C"

import (
	"context"

	"github.com/ringlb/ringlb/internal/version"
	"github.com/ringlb/ringlb/lb"
	"github.com/ringlb/ringlb/ring"
)

// The macros of ringlb.h, ringlb_lua.h and ringlb_call.h are the Go values
// they were written from: if one differs, the map has the key false twice
// and this does not compile.
`)
	var eqs []string
	for _, c := range consts {
		eqs = append(eqs, fmt.Sprintf("C.%s == %s", c.Name, c.Go))
	}
	eqs = append(eqs, "C.RINGLB_VERSION == version.Version")
	fmt.Fprintf(&b, "func _() { _ = map[bool]int{false: 0, %s: 1} }\n", strings.Join(eqs, " && "))
	b.WriteString(`
// Each ringlbgo_<op> unpacks its request into Go values and calls
// op<Op>, its hand-written handler (call.go: enter, exit).
`)
	shared := map[string]bool{}
	for _, o := range ops {
		args := o.goList("c.ctx()", param.goArg)
		if o.Req == "" {
			fmt.Fprintf(&b, "\n//export ringlbgo_%s\nfunc ringlbgo_%s(r *C.struct_%s) {\n", o.Name, o.Name, o.reqType())
			fmt.Fprintf(&b, "\tc := enter(&r.st, %q)\n\tdefer c.exit()\n\tc.done(%s(%s))\n}\n", o.Name, o.goName(), strings.Join(args, ", "))
			continue
		}
		serve := "serve" + strings.ToUpper(o.Req[:1]) + o.Req[1:]
		if !shared[o.Req] {
			shared[o.Req] = true
			types := o.goList("context.Context", param.goType)
			fmt.Fprintf(&b, "\n// %s serves the operations whose request is struct %s.\n", serve, o.reqType())
			fmt.Fprintf(&b, "func %s(r *C.struct_%s, name string, h func(%s) error) {\n", serve, o.reqType(), strings.Join(types, ", "))
			fmt.Fprintf(&b, "\tc := enter(&r.st, name)\n\tdefer c.exit()\n\tc.done(h(%s))\n}\n", strings.Join(args, ", "))
		}
		fmt.Fprintf(&b, "\n//export ringlbgo_%s\nfunc ringlbgo_%s(r *C.struct_%s) { %s(r, %q, %s) }\n",
			o.Name, o.Name, o.reqType(), serve, o.Name, o.goName())
	}
	src, err := format.Source([]byte(b.String()))
	if err != nil {
		return nil, fmt.Errorf("abi_gen.go: %w\n%s", err, b.String())
	}
	return src, nil
}
