// Package cgo is ringlb's C shim: the public C ABI of ringlb.h (abi_gen.c,
// written by internal/abigen), the calling discipline that keeps realtime
// threads out of Go (dispatch.c, pool.c, host.c), and the Lua module
// luaopen_ringlb (luamod*.c). The Go toolchain compiles its C files; the Go
// functions they call, ringlbgo_<op>, are exported by the root package
// (abi_gen.go), which imports this one so that a c-shared build links both.
//
// The library's own calls to pthread_create, the Go runtime's included, go
// through sigstack.c (--wrap), which gives each new thread a large signal
// stack before it runs.
//
// The Lua module is built for the Lua flavour a build tag names: lua51,
// lua52, lua53, lua54 or luajit (build.sh passes it). Without one the
// library has the C ABI only, and needs no Lua headers, so a plain
// `go build ./...` and `go vet ./...` work.
package cgo

/*
#cgo CFLAGS: -O2 -Wall
#cgo LDFLAGS: -Wl,--wrap=pthread_create
#cgo lua51 CFLAGS: -I/usr/include/lua5.1
#cgo lua52 CFLAGS: -I/usr/include/lua5.2
#cgo lua53 CFLAGS: -I/usr/include/lua5.3
#cgo lua54 CFLAGS: -I/usr/include/lua5.4
#cgo luajit CFLAGS: -I/usr/include/luajit-2.1
*/
import "C"
