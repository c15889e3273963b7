// Package hostlog writes ringlb's own log lines into the log of the process
// that hosts it: FreeSWITCH's log (fs_cli, freeswitch.log) when ringlb runs
// inside the switch, standard error elsewhere. The c-shared library installs
// the sink that finds the switch's logger (exports.go); a plain Go program
// writes to standard error.
//
// It is for conditions an operator must see that no caller is there to
// report: a background check that fails, an endpoint that cannot start. An
// operation's own failure is its caller's error, never a log line.
//
// Lines are never written at a rate callers control: Condition logs a state
// once when it starts and once when it ends, whatever the number of calls
// that meet it. All functions are safe for simultaneous use by multiple
// goroutines.
package hostlog

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
)

// Level is a log level, numbered as FreeSWITCH numbers them
// (switch_log_level_t), so the sink passes it on as it is.
type Level int

// Levels, as FreeSWITCH numbers them.
const (
	Error   Level = 3
	Warning Level = 4
	Notice  Level = 5
	Info    Level = 6
)

// Levels are the levels Lines counts, most severe first.
var Levels = []Level{Error, Warning, Notice, Info}

// String returns the level's name as FreeSWITCH prints it.
func (l Level) String() string {
	switch l {
	case Error:
		return "ERR"
	case Warning:
		return "WARNING"
	case Notice:
		return "NOTICE"
	case Info:
		return "INFO"
	}
	return fmt.Sprintf("LEVEL%d", int(l))
}

// Sink receives each line, without a trailing newline.
type Sink func(level Level, line string)

var (
	sink  atomic.Pointer[Sink]
	lines [Info + 1]atomic.Uint64
)

// stderrSink is the sink of a plain Go program.
func stderrSink(level Level, line string) {
	fmt.Fprintf(os.Stderr, "ringlb: %s: %s\n", level, line)
}

// SetSink makes f receive every later line; nil restores standard error.
func SetSink(f Sink) {
	if f == nil {
		sink.Store(nil)
		return
	}
	sink.Store(&f)
}

// Printf writes one line. Callers make sure it is not written per call:
// see Condition.
func Printf(level Level, format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	if level >= Error && level <= Info {
		lines[level].Add(1)
	}
	if f := sink.Load(); f != nil {
		(*f)(level, line)
		return
	}
	stderrSink(level, line)
}

// Lines returns how many lines were written at level since the process
// started, for the metrics.
func Lines(level Level) uint64 {
	if level < Error || level > Info {
		return 0
	}
	return lines[level].Load()
}

// Condition is a state that is either present or not, logged when it
// starts (or changes what it says) and when it ends, never more often
// however many callers report it. The zero value is a condition not
// present.
type Condition struct {
	mu     sync.Mutex
	active bool
	msg    string
}

// Set reports that the condition is present, with msg saying what it is.
// It logs msg at level when the condition was not present, or present with
// another message; it reports whether it logged.
func (c *Condition) Set(level Level, msg string) bool {
	c.mu.Lock()
	changed := !c.active || c.msg != msg
	c.active, c.msg = true, msg
	c.mu.Unlock()
	if changed {
		Printf(level, "%s", msg)
	}
	return changed
}

// Clear reports that the condition is gone. When it was present it logs
// cleared at Notice, unless cleared is empty, and reports true.
func (c *Condition) Clear(cleared string) bool {
	c.mu.Lock()
	was := c.active
	c.active, c.msg = false, ""
	c.mu.Unlock()
	if was && cleared != "" {
		Printf(Notice, "%s", cleared)
	}
	return was
}

// Active reports whether the condition is present, and what it says.
func (c *Condition) Active() (bool, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.active, c.msg
}
