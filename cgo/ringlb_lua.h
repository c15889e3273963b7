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

/* abigen operations: generated from internal/abigen (make generate); edit the table there */

/*
 * ringlb_dialstring builds a FreeSWITCH dial string for legs[0..n): sep 0
 * rings them at once (","), 1 one after another ("|"). The nvars
 * keys/values become {k=v,...} for all legs (values escaped); leg_timeout,
 * when > 0, becomes [leg_timeout=N] on each leg (at most
 * RINGLB_MAX_LEG_TIMEOUT), and tag, when not NULL or "", [<tag>=<leg>], so
 * the leg that answers tells which it is. *out is freed with ringlb_free.
 */
__attribute__((visibility("hidden"))) int ringlb_dialstring(int n, const char *const *legs, int sep, int nvars,
                                                            const char *const *keys, const char *const *values,
                                                            int leg_timeout, const char *tag, char **out, char *err,
                                                            size_t errlen);

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
 * over as full or drained.
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
