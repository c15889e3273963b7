package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The committed outputs are what the table makes: a row, a constant or the
// generator changed without `make generate` fails here (and so in CI).
func TestGeneratedFilesUpToDate(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := generate(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		have, err := os.ReadFile(filepath.Join(root, f.path))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(have, f.text) {
			t.Errorf("%s is stale: run `make generate` (go generate .) and commit it", f.path)
		}
	}
}

func TestParams(t *testing.T) {
	o := op{Name: "x", Params: "uint64_t handle, int n, const char *const *dests[n <= MAX_DESTINATIONS], " +
		"const char *id, int *order[n], int64_t *total = 0, char *buf[buflen], size_t buflen, double t"}
	if err := o.parse(); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		kind        kind
		count, init string
		used        bool
		goArg       string
	}{
		{inHandle, "", "", false, "c.balancer(r.handle)"},
		{inNumber, "", "", true, "int(r.n)"},
		{inStrings, "n", "", false, `c.strs(r.dests, r.n, "dests", "n", C.RINGLB_MAX_DESTINATIONS)`},
		{inString, "", "", false, "goStr(r.id)"},
		{outArray, "n", "", false, "outSlice(r.order, r.n)"},
		{outValue, "", "0", false, "r.total"},
		{outBuffer, "buflen", "", false, "outBytes(r.buf, r.buflen)"},
		{inNumber, "", "", true, "int(r.buflen)"},
		{inNumber, "", "", false, "float64(r.t)"},
	}
	for i, w := range want {
		p := o.params[i]
		if p.kind != w.kind || p.count != w.count || p.init != w.init || p.used != w.used || p.goArg() != w.goArg {
			t.Errorf("param %d (%s) = %+v, arg %s; want %+v", i, p.name, p, p.goArg(), w)
		}
	}
	sig := "uint64_t handle, int n, const char *const *dests, const char *id, int *order, int64_t *total, " +
		"char *buf, size_t buflen, double t, char *err, size_t errlen"
	if got := o.signature(); got != sig {
		t.Errorf("signature = %s\nwant %s", got, sig)
	}
	if o.goName() != "opX" || (&op{Name: "ring_hold_all"}).goName() != "opRingHoldAll" {
		t.Errorf("goName = %s", o.goName())
	}
}

// A row the generator would get wrong is refused, naming the operation.
func TestParamsRefused(t *testing.T) {
	for _, params := range []string{
		"const char *const *dests",                   // no count
		"int n, const char *const *dests[n]",         // no limit
		"const char *const *dests[m <= MAX_X]",       // no such count
		"double n, const char *const *d[n <= MAX_X]", // count not an int
		"int *count",              // a result without a value or size
		"char *buf[len], int len", // a length not size_t
		"struct x y",              // a kind the table does not know
	} {
		o := op{Name: "bad", Params: params}
		if err := o.parse(); err == nil || !strings.HasPrefix(err.Error(), "bad: ") {
			t.Errorf("%q: err = %v, want one naming the operation", params, err)
		}
	}
}

func TestFillRegions(t *testing.T) {
	text := "a\n" + regionStart("r") + "old\n" + regionEnd("r") + "b\n"
	got, err := fillRegions(text, map[string]string{"r": "new\n"})
	if err != nil || got != "a\n"+regionStart("r")+"new\n"+regionEnd("r")+"b\n" {
		t.Errorf("fillRegions = %q, %v", got, err)
	}
	if _, err := fillRegions("a\n", map[string]string{"r": ""}); err == nil {
		t.Error("a missing region was not reported")
	}
}
