// Command ringlb is built with -buildmode=c-shared into ringlb.so: the C ABI
// of cgo/ringlb.h and the Lua module luaopen_ringlb, over the balancer core
// in lb/ and the ring-group logic in ring/.
//
// Go code here runs only on threads that are safe for it: ringlb's own
// SCHED_OTHER worker threads, or non-realtime callers (see
// docs/realtime.md). Each operation is declared once, in the table of
// internal/abigen, which writes its C function (cgo/abi_gen.c), its request
// type (cgo/ringlb_call.h) and its export ringlbgo_<op> (abi_gen.go); the
// export reads the request into Go values (call.go) and calls the
// operation's handler, op<Op> (ops_*.go). Error codes: codes.go.
package main

//go:generate go run ./internal/abigen

/*
#cgo CFLAGS: -O2 -Wall -I${SRCDIR}/cgo
#include "ringlb_call.h"
*/
import "C"

import (
	"context"
	"os"
	"runtime"
	"unsafe"

	"github.com/redis/go-redis/v9"
	_ "github.com/ringlb/ringlb/cgo" // the C shim: the C ABI and the Lua module
	"github.com/ringlb/ringlb/internal/hostlog"
	"github.com/ringlb/ringlb/internal/metrics"
	_ "github.com/ringlb/ringlb/lb/redislb" // the Redis backend, which a url selects
)

func main() {}

// goProcs is how many threads may run ringlb's Go code at once (GOMAXPROCS)
// inside the host, unless GOMAXPROCS in the host's environment says
// otherwise. A call's Go work takes microseconds and a switch makes a few
// thousand a second at most, so one is plenty; and with one, the runtime
// takes its P back at its next tick after a call into Go returns to C,
// where with an idle P beside it it would wait 10 ms, its monitor thread
// polling meanwhile (docs/freeswitch.md, "What ringlb costs the switch").
const goProcs = 1

func init() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(goProcs)
	}
	// Inside the switch, go-redis must not write to the switch's stderr:
	// every failure already reaches the caller as an error.
	redis.SetLogger(silentLogger{})
	// ringlb's own log lines go to the switch's log (cgo/hostlog.c).
	hostlog.SetSink(hostLog)
	metrics.Pool = poolStats
	// The runtime is up: dispatch.c learns which signals it unblocks on
	// its threads and takes back the SA_ONSTACK it added to the host's
	// other handlers; then the handlers of those it unblocks are watched.
	C.ringlb_go_started()
	go watchSignalHandlers()
}

// hostLog writes one line to the host's log (cgo/hostlog.c).
func hostLog(level hostlog.Level, line string) {
	cs := C.CString(line)
	defer cfree(unsafe.Pointer(cs))
	C.ringlb_host_log(C.int(level), cs)
}

// silentLogger drops go-redis's internal log lines.
type silentLogger struct{}

func (silentLogger) Printf(context.Context, string, ...any) {}

// poolStats reads the worker pool's figures from dispatch.c.
func poolStats() metrics.PoolStats {
	var workers C.int
	var n, waitNs C.uint64_t
	C.ringlb_pool_stats(&workers, &n, &waitNs)
	return metrics.PoolStats{Workers: int(workers), HandOffs: uint64(n), HandOffSeconds: float64(waitNs) / 1e9,
		UnsafeSignalHandlers: checkSignalHandlers()}
}
