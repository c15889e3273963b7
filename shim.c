// Build glue. cgo compiles only the C files in the package directory; the C
// shim lives in cgo/ to keep the layout readable, so it is included here.
#include "cgo/dispatch.c"
#include "cgo/luamod.c"
