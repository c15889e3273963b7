/*
 * ringlb_lua.h - what the Lua module (luamod*.c) calls besides the public C
 * ABI of ringlb.h: the ring-group rules of the Go package ring, for the
 * ring helper lua/ringlb/ring.lua, and a balancer's state as rows. Not part
 * of the ABI: the symbols are hidden, and they change with the Lua module.
 * Every function follows the rules of ringlb.h (threads, errors, memory).
 */
#ifndef RINGLB_LUA_H
#define RINGLB_LUA_H

#include <stddef.h>
#include <stdint.h>

/* abigen constants: generated from internal/abigen (make generate); edit the table there */
#define RINGLB_MAX_LEGS 128 /* most legs in one dial string (ring.MaxLegs) */
#define RINGLB_MAX_MEMBERS 128 /* most members in one ring (ring.MaxMembers) */
#define RINGLB_MAX_VARS 1024 /* most variables in one dial string (ring.MaxVars) */
#define RINGLB_MAX_LEG_TIMEOUT 86400 /* largest leg_timeout, in seconds (ring.MaxLegTimeout) */
#define RINGLB_MEMBER_HELD 0 /* ringlb_ring_hold_all: held for the call, ring it (int(ring.Held)) */
#define RINGLB_MEMBER_SKIPPED 1 /* full or drained, do not ring it (int(ring.Skipped)) */
#define RINGLB_MEMBER_UNHELD 2 /* the backend failed: ring it unheld (int(ring.Unheld)) */
/* abigen constants end */

/*
 * A balancer's state as ringlb_snapshot_rows gives it: the figures of
 * ringlb_snapshot's format 0, in one block freed with ringlb_free. Strings
 * are NUL-terminated and hold no NUL; times are unix seconds, 0 for none.
 */
struct ringlb_dest_row {
	const char *dest;
	int64_t active, capacity, started, last_hold, ringing, talking, answered, wrapup_until;
	int drained;
};
struct ringlb_hold_row {
	const char *dest, *call_id, *node, *state; /* state: "ringing" or "talking" */
	int64_t start, expires;
};
struct ringlb_rows {
	const char *name, *backend;
	size_t ndests, nholds;
	struct ringlb_dest_row *dests;
	struct ringlb_hold_row *holds;
};

/*
 * Rings and dial strings, as the ring helper asks for them. A struct the
 * caller fills (struct ringlb_dial, struct ringlb_ring_spec) is read during
 * the call only; its strings are NUL-terminated (NULL means none or "").
 */
struct ringlb_var {
	const char *key, *value;
};
/* One leg: an endpoint such as user/1001 and the variables of that leg alone. */
struct ringlb_leg {
	const char *endpoint;
	int nvars;
	const struct ringlb_var *vars;
};
/* A dial string's legs, joined by sep (0 ",", 1 "|"), with vars for all
 * legs; leg_timeout, when > 0, and tag, when not NULL or "", add
 * [leg_timeout=N] and [<tag>=<endpoint>] to each leg. */
struct ringlb_dial {
	int sep;
	int nvars;
	const struct ringlb_var *vars;
	int nlegs;
	const struct ringlb_leg *legs;
	int leg_timeout;
	const char *tag;
};
/* A member of a ring: its key, its turn's seconds (0: the ring's), whether
 * it is known to be on do-not-disturb, and its legs (none: the key). */
struct ringlb_spec_member {
	const char *key;
	double timeout;
	int dnd;
	int nlegs;
	const struct ringlb_leg *legs;
};
/* A ring as asked (the Go package ring's Spec). */
struct ringlb_ring_spec {
	const char *mode, *balancer, *on_backend_error;
	int no_holds;
	double timeout, deadline; /* seconds; 0: the default, none */
	int nvars;
	const struct ringlb_var *vars;
	int nmembers;
	const struct ringlb_spec_member *members;
};

/*
 * A ring's plan (ring.Plan) as ringlb_ring_plan gives it, in one block freed
 * with ringlb_free: the mode and policy as their canonical words, the
 * balancer's name (NULL: the ring holds nothing), timeouts in whole seconds,
 * the deadline in seconds (0: none), and the members to ring, each with
 * index, its position in the spec's members.
 */
struct ringlb_plan_member {
	int index;
	const char *key;
	int timeout;
	int nlegs;
	const struct ringlb_leg *legs;
	const char *dial; /* the dial string of the member's whole turn (ring.Plan.DialString); NULL in a
	                   * parallel ring, or if it has none */
};
struct ringlb_plan {
	const char *mode, *on_backend_error, *balancer;
	int timeout;
	double deadline;
	int nvars;
	const struct ringlb_var *vars;
	int nmembers;
	const struct ringlb_plan_member *members;
	int ndnd;
	const char *const *dnd; /* keys of the members left out for do-not-disturb */
};

/* abigen operations: generated from internal/abigen (make generate); edit the table there */

/*
 * ringlb_dialstring builds a FreeSWITCH dial string of dial's legs
 * (struct ringlb_dial): each leg's own variables in its [] block, dial's in
 * the {} block, values escaped for what the switch reads. *out is freed with
 * ringlb_free.
 */
__attribute__((visibility("hidden"))) int ringlb_dialstring(const struct ringlb_dial *dial, char **out, char *err,
                                                            size_t errlen);

/*
 * ringlb_ring_plan checks a ring and writes its plan to *out (struct
 * ringlb_plan, one block freed with ringlb_free): every rule of a valid ring
 * is the Go package ring's (ring.Spec.Check).
 */
__attribute__((visibility("hidden"))) int ringlb_ring_plan(const struct ringlb_ring_spec *spec,
                                                           struct ringlb_plan **out, char *err, size_t errlen);

/*
 * ringlb_ring_turn decides the next turn of a "sequential" or "balancing"
 * ring out of the members not tried yet (keys[0..n), in list order, each with
 * its timeout in seconds), with left seconds before the ring's deadline
 * (HUGE_VAL without one): *chosen, held for call_id on the balancer with
 * handle (0: none, list order), and *seconds it rings, *full 1 if that is
 * the member's whole timeout (a leg of it that ends unanswered rang out;
 * one the deadline cut short did not); or *chosen -1 and
 * stop, "done", "at_capacity" or "call_timeout". skipped[i] is 1 for each
 * member passed over as full, drained, in wrap-up or out for no answer,
 * also when the balancer fails.
 */
__attribute__((visibility("hidden"))) int ringlb_ring_turn(uint64_t handle, const char *mode, int n,
                                                           const char *const *keys, const int *timeouts,
                                                           const char *call_id, double left, int *chosen,
                                                           int *seconds, int *full, int *skipped, char *stop,
                                                           size_t stoplen, char *err, size_t errlen);

/*
 * ringlb_ring_result names how a ring that got no answer ended, from the
 * hangup causes of its attempts, causes[0..n) in order, the members passed
 * over as full and for do-not-disturb, and stop ("done", "at_capacity",
 * "call_timeout" or "caller_gone"): the result into result (16 bytes are
 * enough), the detail and a summary into *detail and *summary, which are
 * freed with ringlb_free.
 */
__attribute__((visibility("hidden"))) int ringlb_ring_result(int n, const char *const *causes, int full, int dnd,
                                                             const char *stop, char *result, size_t resultlen,
                                                             char **detail, char **summary, char *err, size_t errlen);

/*
 * ringlb_act applies action ("drain", "undrain", "away", "rejoin" or
 * "reset") to each of
 * dests[0..n) and writes to *out the lines ringlbctl prints about each, one
 * per line, freed with ringlb_free; on an error *out holds the lines of those
 * done before it.
 */
__attribute__((visibility("hidden"))) int ringlb_act(uint64_t handle, const char *action, int n,
                                                     const char *const *dests, char **out, char *err, size_t errlen);

/*
 * ringlb_ring_check validates a ring: mode ("parallel", "sequential" or
 * "balancing"), the destinations, timeout (seconds per attempt, 0 for the
 * default 30, else 1 to 3600), on_backend_error ("fallback", "fail" or
 * NULL) and balancer (its name, NULL or "" for none; balancing needs one).
 * It writes the members to ring, later duplicates left out, as indices into
 * dests to members[0..*count), and the attempt timeout in whole seconds.
 */
__attribute__((visibility("hidden"))) int ringlb_ring_check(const char *mode, int n, const char *const *dests,
                                                            double timeout, const char *on_backend_error,
                                                            const char *balancer, int *members, int *count,
                                                            int *timeout_s, char *err, size_t errlen);

/*
 * ringlb_ring_pick chooses and holds for call_id the member a
 * one-at-a-time ring ("sequential" or "balancing") tries next out of
 * dests[0..n) (the members not tried yet, in list order): *chosen is its
 * index, or -1 when none has room; skipped[i] is 1 for each member passed
 * over as full or drained (in "balancing", also in wrap-up or out for no
 * answer).
 */
__attribute__((visibility("hidden"))) int ringlb_ring_pick(uint64_t handle, const char *mode, int n,
                                                           const char *const *dests, const char *call_id, int *chosen,
                                                           int *skipped, char *err, size_t errlen);

/*
 * ringlb_ring_hold_all holds every member of a parallel ring for call_id
 * and writes each one's state (RINGLB_MEMBER_*) to states[0..n). When the
 * backend fails it returns RINGLB_EBACKEND with states still written: the
 * members from there on are RINGLB_MEMBER_UNHELD.
 */
__attribute__((visibility("hidden"))) int ringlb_ring_hold_all(uint64_t handle, int n, const char *const *dests,
                                                               const char *call_id, int *states, char *err,
                                                               size_t errlen);

/*
 * ringlb_ring_reason names why a ring got no answer from the hangup causes
 * of its attempts, causes[0..n) in order: "all_busy", "no_answer" or
 * "failed" into reason (reasonlen bytes, 16 at least), and the index of the
 * last cause into *last (-1 without any).
 */
__attribute__((visibility("hidden"))) int ringlb_ring_reason(int n, const char *const *causes, char *reason,
                                                             size_t reasonlen, int *last, char *err, size_t errlen);

/*
 * ringlb_fallback counts, for the metrics, one ring that went on in list
 * order without the balancer because its backend failed.
 */
__attribute__((visibility("hidden"))) int ringlb_fallback(uint64_t handle, char *err, size_t errlen);

/*
 * ringlb_snapshot_rows writes the balancer's state to *out as rows, in one
 * block the caller frees with ringlb_free.
 */
__attribute__((visibility("hidden"))) int ringlb_snapshot_rows(uint64_t handle, struct ringlb_rows **out, char *err,
                                                               size_t errlen);
/* abigen operations end */

#endif /* RINGLB_LUA_H */
