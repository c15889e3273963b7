package main

import (
	"github.com/ringlb/ringlb/internal/version"
	"github.com/ringlb/ringlb/lb"
	"github.com/ringlb/ringlb/ring"
)

// ops is every operation of the C ABI, one row each. A row is all that is
// written for an operation besides its Go handler, op<Name> in the root
// package (which the compiler checks against the row).
//
// Params are the C parameters before err and errlen, written as C with two
// annotations, which the header leaves out:
//
//	uint64_t handle                the balancer: the handler gets *lb.Named
//	uint64_t handle[0 = none]      the same, or none (0): a nil *lb.Named
//	const char *s                  a string: the handler gets a view of it ("" for NULL)
//	int n, const char *const *a[n <= MAX_X]
//	                               n strings, at most RINGLB_MAX_X: []string
//	int n, const int *a[n <= MAX_X]
//	                               n ints, at most RINGLB_MAX_X: []int
//	const struct T *x              a struct the caller fills (not NULL): *C.struct_T,
//	                               read by the handler, which checks what it points to
//	int/double x                   a number: int, float64
//	T *x = v                       a result, set to v before the call: *C.T
//	T *x[n]                        n results: []C.T
//	char *x[xlen], size_t xlen     a text result in the caller's buffer: []byte
//
// Results are checked for NULL (arrays only when n > 0) and set before the
// call, so a caller sees them set whatever fails.
var ops = []op{
	{
		Name:   "open",
		Params: "const char *name, int nopts, const char *const *keys[nopts <= MAX_OPTIONS], const char *const *values[nopts <= MAX_OPTIONS], uint64_t *handle = 0",
		Doc: `ringlb_open opens (or finds) the process-wide balancer called name and
stores its handle in *handle. Options are nopts key/value pairs
(docs/lua-api.md, Options): "tie", "capacity" (or "default_capacity"),
"capacity:<dest>", "wrapup", "wrapup:<dest>", "fewest_half_life",
"start_window", "no_answer_backoff", "max_no_answer",
"max_hold_age", "max_idle", "user_domains", and for Redis "url",
"key_prefix", "lease", "timeout", "node". Opening a name again with the same options returns the same handle;
other options give RINGLB_EMISMATCH. Handles stay valid for the life of the
process.`,
	},
	{
		Name:   "get",
		Params: "const char *name, uint64_t *handle = 0",
		Doc: `ringlb_get finds the balancer called name, already opened in this process
with whatever options, and stores its handle in *handle. It returns
RINGLB_EHANDLE if no balancer has that name. Admin scripts use it.`,
	},
	{
		Name:   "list",
		Params: "char **out = NULL",
		Doc: `ringlb_list writes the names of the balancers open in this process to
*out, sorted, each followed by "\n" (empty when none); free it with
ringlb_free.`,
	},
	{
		Name:     "order",
		Params:   "uint64_t handle, int n, const char *const *dests[n <= MAX_DESTINATIONS], int *order[n], int *count = 0",
		Deadline: true,
		Doc: `ringlb_order ranks dests[0..n) from least to most loaded, leaving out
drained and full ones and later duplicates. It writes the indices into
dests of the result to order[0..*count); order must have room for n.`,
	},
	{
		Name:     "next",
		Params:   "uint64_t handle, int n, const char *const *dests[n <= MAX_DESTINATIONS], const char *call_id, int *chosen = -1",
		Deadline: true,
		Doc: `ringlb_next chooses the least-loaded destination of dests[0..n) that has
room, holds it for call_id, and stores its index in *chosen.`,
	},
	{
		Name:     "acquire",
		Params:   "uint64_t handle, const char *dest, const char *call_id, int *added = 0",
		Deadline: true, Req: "hold",
		Doc: `ringlb_acquire holds dest for call_id; *added is 1 if new, 0 if held already.`,
	},
	{
		Name:     "count",
		Params:   "uint64_t handle, const char *dest, const char *call_id, int *added = 0",
		Deadline: true, Req: "hold",
		Doc: `ringlb_count holds dest for call_id whatever its drain or capacity, for a
call that exists already (tracked, not placed by ringlb); *added is 1 if
new, 0 if held already.`,
	},
	{
		Name:     "release",
		Params:   "uint64_t handle, const char *dest, const char *call_id, int *removed = 0",
		Deadline: true, Req: "hold",
		Doc: `ringlb_release drops the hold; *removed is 1 if there was one, else 0.`,
	},
	{
		Name:     "unanswered",
		Params:   "uint64_t handle, const char *dest, const char *call_id, int *removed = 0",
		Deadline: true, Req: "hold",
		Doc: `ringlb_unanswered drops the hold of an offer that rang out unanswered, as
ringlb_release does; if it was still ringing, the member ranks after its
equally loaded peers for its no-answer back-off, which doubles with each
such offer in a row until it answers one. *removed is 1 if there was a
hold, else 0.`,
	},
	{
		Name:     "answered",
		Params:   "uint64_t handle, const char *dest, const char *call_id, int *marked = 0",
		Deadline: true, Req: "hold",
		Doc: `ringlb_answered marks the hold of call_id on dest answered: it turns from
ringing to talking and counts once among the member's answered calls
(fewest ties). *marked is 1 if it was ringing, 0 if not held or talking.`,
	},
	{
		Name:     "load",
		Params:   "uint64_t handle, int n, const char *const *dests[n <= MAX_DESTINATIONS], int64_t *loads[n]",
		Deadline: true,
		Doc:      `ringlb_load writes the active calls of dests[0..n) to loads[0..n).`,
	},
	{
		Name:     "drain",
		Params:   "uint64_t handle, const char *dest, int drained",
		Deadline: true,
		Doc:      `ringlb_drain drains (drained=1) or undrains (drained=0) dest.`,
	},
	{
		Name:     "away",
		Params:   "uint64_t handle, const char *dest",
		Deadline: true, Req: "dest",
		Doc: `ringlb_away marks dest absent without draining it (do-not-disturb, a
break): its next answered call shows it back (one that rings out does
not), and it rejoins as ringlb_rejoin says.`,
	},
	{
		Name:     "rejoin",
		Params:   "uint64_t handle, const char *dest",
		Deadline: true, Req: "dest",
		Doc: `ringlb_rejoin marks dest back from an absence: the next ranking that
includes it lifts its tie score to the mean of the members it is ranked
with, if below. Undrain does the same.`,
	},
	{
		Name:     "reset",
		Params:   "uint64_t handle, const char *dest, int *dropped = 0",
		Deadline: true,
		Doc:      `ringlb_reset drops every hold on dest and stores how many in *dropped.`,
	},
	{
		Name:   "snapshot",
		Params: "uint64_t handle, int format, char **out = NULL",
		Doc: `ringlb_snapshot writes the balancer's state to *out as a NUL-terminated
text the caller frees with ringlb_free. format 0 is tab-separated lines:
  B <name> <backend>
  D <dest> <active> <capacity> <drained 0|1> <started> <last hold, unix s>
    <ringing> <talking> <answered> <wrap-up until, unix s or 0>
  H <dest> <call id> <node> <start, unix s> <expires, unix s or 0>
    <state ringing|talking>
and format 1 is JSON.`,
	},
	{
		Name:   "report",
		Params: "uint64_t handle, int kind, int n, const char *const *dests[n <= MAX_DESTINATIONS], char **out = NULL",
		Doc: `ringlb_report writes an operator's table of the balancer to *out, freed
with ringlb_free: the same tables ringlbctl prints. For
RINGLB_REPORT_HOLDS, n > 0 keeps only the holds on dests[0..n).`,
	},
	{
		Name:   "metrics",
		Params: "const char *addr, char *bound[boundlen], size_t boundlen",
		Doc: `ringlb_metrics starts the process-wide Prometheus endpoint (/metrics) on
addr, host:port (NULL or "" for 127.0.0.1:9361; "*:port" for every
interface, which ":port" or "0.0.0.0:port" never mean), and writes the
address it listens on into bound (boundlen bytes; 64 is enough). Called
again with the same address it does nothing; another address, a port in
use, or every interface not asked for as "*:port" is RINGLB_EINVAL. The
endpoint runs on the Go runtime's own threads.`,
	},
	{
		Name:  "noop",
		NoErr: true,
		Doc: `ringlb_noop does nothing through the same path as every other call: the
floor that benchmarks compare against.`,
	},

	// The Lua module's own: the ring helper's rules (the Go package ring)
	// and the snapshot as rows.
	{
		Name:   "dialstring",
		Lua:    true,
		Params: "const struct ringlb_dial *dial, char **out = NULL",
		Doc: `ringlb_dialstring builds a FreeSWITCH dial string of dial's legs
(struct ringlb_dial): each leg's own variables in its [] block, dial's in
the {} block, values escaped for what the switch reads. *out is freed with
ringlb_free.`,
	},
	{
		Name:   "ring_plan",
		Lua:    true,
		Params: "const struct ringlb_ring_spec *spec, struct ringlb_plan **out = NULL",
		Doc: `ringlb_ring_plan checks a ring and writes its plan to *out (struct
ringlb_plan, one block freed with ringlb_free): every rule of a valid ring
is the Go package ring's (ring.Spec.Check).`,
	},
	{
		Name:     "ring_turn",
		Lua:      true,
		Params:   "uint64_t handle[0 = none], const char *mode, int n, const char *const *keys[n <= MAX_MEMBERS], const int *timeouts[n <= MAX_MEMBERS], const char *call_id, double left, int *chosen = -1, int *seconds = 0, int *full = 0, int *skipped[n], char *stop[stoplen], size_t stoplen",
		Deadline: true,
		Doc: `ringlb_ring_turn decides the next turn of a "sequential" or "balancing"
ring out of the members not tried yet (keys[0..n), in list order, each with
its timeout in seconds), with left seconds before the ring's deadline
(HUGE_VAL without one): *chosen, held for call_id on the balancer with
handle (0: none, list order), and *seconds it rings, *full 1 if that is
the member's whole timeout (a leg of it that ends unanswered rang out;
one the deadline cut short did not); or *chosen -1 and
stop, "done", "at_capacity" or "call_timeout". skipped[i] is 1 for each
member passed over as full, drained, in wrap-up or out for no answer,
also when the balancer fails.`,
	},
	{
		Name:   "ring_result",
		Lua:    true,
		Params: "int n, const char *const *causes[n <= MAX_MEMBERS], int full, int dnd, const char *stop, char *result[resultlen], size_t resultlen, char **detail = NULL, char **summary = NULL",
		Doc: `ringlb_ring_result names how a ring that got no answer ended, from the
hangup causes of its attempts, causes[0..n) in order, the members passed
over as full and for do-not-disturb, and stop ("done", "at_capacity",
"call_timeout" or "caller_gone"): the result into result (16 bytes are
enough), the detail and a summary into *detail and *summary, which are
freed with ringlb_free.`,
	},
	{
		Name:   "act",
		Lua:    true,
		Params: "uint64_t handle, const char *action, int n, const char *const *dests[n <= MAX_DESTINATIONS], char **out = NULL",
		Doc: `ringlb_act applies action ("drain", "undrain", "away", "rejoin" or
"reset") to each of
dests[0..n) and writes to *out the lines ringlbctl prints about each, one
per line, freed with ringlb_free; on an error *out holds the lines of those
done before it.`,
	},
	{
		Name:   "ring_check",
		Lua:    true,
		Params: "const char *mode, int n, const char *const *dests[n <= MAX_DESTINATIONS], double timeout, const char *on_backend_error, const char *balancer, int *members[n], int *count = 0, int *timeout_s = 0",
		Doc: `ringlb_ring_check validates a ring: mode ("parallel", "sequential" or
"balancing"), the destinations, timeout (seconds per attempt, 0 for the
default 30, else 1 to 3600), on_backend_error ("fallback", "fail" or
NULL) and balancer (its name, NULL or "" for none; balancing needs one).
It writes the members to ring, later duplicates left out, as indices into
dests to members[0..*count), and the attempt timeout in whole seconds.`,
	},
	{
		Name:     "ring_pick",
		Lua:      true,
		Params:   "uint64_t handle, const char *mode, int n, const char *const *dests[n <= MAX_DESTINATIONS], const char *call_id, int *chosen = -1, int *skipped[n]",
		Deadline: true,
		Doc: `ringlb_ring_pick chooses and holds for call_id the member a
one-at-a-time ring ("sequential" or "balancing") tries next out of
dests[0..n) (the members not tried yet, in list order): *chosen is its
index, or -1 when none has room; skipped[i] is 1 for each member passed
over as full or drained (in "balancing", also in wrap-up or out for no
answer).`,
	},
	{
		Name:     "ring_hold_all",
		Lua:      true,
		Params:   "uint64_t handle, int n, const char *const *dests[n <= MAX_DESTINATIONS], const char *call_id, int *states[n]",
		Deadline: true,
		Doc: `ringlb_ring_hold_all holds every member of a parallel ring for call_id
and writes each one's state (RINGLB_MEMBER_*) to states[0..n). When the
backend fails it returns RINGLB_EBACKEND with states still written: the
members from there on are RINGLB_MEMBER_UNHELD.`,
	},
	{
		Name:   "ring_reason",
		Lua:    true,
		Params: "int n, const char *const *causes[n <= MAX_DESTINATIONS], char *reason[reasonlen], size_t reasonlen, int *last = -1",
		Doc: `ringlb_ring_reason names why a ring got no answer from the hangup causes
of its attempts, causes[0..n) in order: "all_busy", "no_answer" or
"failed" into reason (reasonlen bytes, 16 at least), and the index of the
last cause into *last (-1 without any).`,
	},
	{
		Name:   "fallback",
		Lua:    true,
		Params: "uint64_t handle",
		Doc: `ringlb_fallback counts, for the metrics, one ring that went on in list
order without the balancer because its backend failed.`,
	},
	{
		Name:   "snapshot_rows",
		Lua:    true,
		Params: "uint64_t handle, struct ringlb_rows **out = NULL",
		Doc: `ringlb_snapshot_rows writes the balancer's state to *out as rows, in one
block the caller frees with ringlb_free.`,
	},
}

// consts are the C macros whose values are Go's: each is written in Go
// only, and the C files and the Lua module read the macro.
var consts = []constant{
	{"RINGLB_MAX_DESTINATIONS", "lb.MaxDestinations", lb.MaxDestinations, "most destinations in one call", false},
	{"RINGLB_MAX_OPTIONS", "lb.MaxOptions", lb.MaxOptions, "most option pairs in one open", false},
	{"RINGLB_MAX_DEST_LEN", "lb.MaxDestLen", lb.MaxDestLen, "longest destination, in bytes", false},
	{"RINGLB_MAX_CALL_ID_LEN", "lb.MaxCallIDLen", lb.MaxCallIDLen, "longest call id, in bytes", false},
	{"RINGLB_MAX_NAME_LEN", "lb.MaxNameLen", lb.MaxNameLen, "longest balancer name, in bytes", false},
	{"RINGLB_MAX_LEGS", "ring.MaxLegs", ring.MaxLegs, "most legs in one dial string", true},
	{"RINGLB_MAX_MEMBERS", "ring.MaxMembers", ring.MaxMembers, "most members in one ring", true},
	{"RINGLB_MAX_VARS", "ring.MaxVars", ring.MaxVars, "most variables in one dial string", true},
	{"RINGLB_MAX_LEG_TIMEOUT", "ring.MaxLegTimeout", ring.MaxLegTimeout, "largest leg_timeout, in seconds", true},
	{"RINGLB_MEMBER_HELD", "int(ring.Held)", int(ring.Held), "ringlb_ring_hold_all: held for the call, ring it", true},
	{"RINGLB_MEMBER_SKIPPED", "int(ring.Skipped)", int(ring.Skipped), "full or drained, do not ring it", true},
	{"RINGLB_MEMBER_UNHELD", "int(ring.Unheld)", int(ring.Unheld), "the backend failed: ring it unheld", true},
}

// libVersion is RINGLB_VERSION, ringlb_version() and the Lua module's
// _VERSION.
const libVersion = version.Version
