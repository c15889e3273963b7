package main

/*
#include "ringlb_internal.h"
*/
import "C"

import (
	"fmt"
	"time"

	"github.com/ringlb/ringlb/internal/hostlog"
)

// signalCheckEvery is how often the host's signal handlers are checked
// besides at load and at each metrics scrape.
const signalCheckEvery = 5 * time.Second

// unsafeHandlers is logged when the host has a handler that may run on a
// goroutine stack, and when it no longer has.
var unsafeHandlers hostlog.Condition

// checkSignalHandlers looks for host handlers of the signals the Go
// runtime never blocks on its own threads (dispatch.c's go_unblocked) that
// lack SA_ONSTACK: such a handler runs on whatever stack the Go thread it
// lands on was using, a goroutine's few KiB, and a deep one corrupts memory
// there. It logs the condition when it starts and ends, and returns how
// many such handlers there are.
func checkSignalHandlers() int {
	var buf [256]C.char
	n := int(C.ringlb_unsafe_signals(&buf[0], C.size_t(len(buf))))
	if n == 0 {
		unsafeHandlers.Clear("the host's handlers of the signals Go's threads do not block have SA_ONSTACK again")
		return 0
	}
	unsafeHandlers.Set(hostlog.Error, fmt.Sprintf("the host's handler of %s has no SA_ONSTACK: the Go runtime's "+
		"threads never block these signals, so it can run on a goroutine stack and crash the process; "+
		"install it with SA_ONSTACK (docs/realtime.md, Signals)", C.GoString(&buf[0])))
	return n
}

// watchSignalHandlers checks the host's handlers at load and then every
// signalCheckEvery, for the life of the process: a host may install one at
// any time.
func watchSignalHandlers() {
	defer func() { _ = recover() }()
	checkSignalHandlers()
	for range time.Tick(signalCheckEvery) {
		checkSignalHandlers()
	}
}
