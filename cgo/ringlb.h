/*
 * ringlb.h - the C ABI of ringlb, a least-loaded balancer for FreeSWITCH
 * ring groups. Link against (or dlopen) ringlb.so; LuaJIT's FFI can cdef the
 * declarations below as they are.
 *
 * Threads: every function may be called from any thread, including
 * realtime (SCHED_FIFO / SCHED_RR) threads that never ran Go code. Such
 * callers never execute Go code themselves: the call is handed to one of
 * ringlb's own SCHED_OTHER worker threads and the caller sleeps (no spinning)
 * until the answer is ready. See docs/realtime.md.
 *
 * Calls and the host: while a thread is inside a ringlb function its
 * asynchronous signals are held back (delivered when the call returns) and
 * it cannot be cancelled (a pthread_cancel, deferred or asynchronous, acts
 * once the call has returned). An operation on a balancer with a timeout
 * (Redis) is bounded by that timeout counted from the moment it was called,
 * the wait for a worker thread included. In the child of a fork() every
 * function fails at once with RINGLB_EINTERNAL: exec, or load the library
 * anew.
 *
 * Ownership: every pointer passed in stays owned by the caller and is only
 * read during the call; nothing is kept. Results go into caller-provided
 * memory (indices into the caller's own arrays, counts, and an error text
 * buffer), each set before the work starts (a count to 0, an index to -1,
 * text to NULL or ""), so it is set whatever fails. A result pointer that is
 * NULL is RINGLB_EINVAL (an array of n results may be NULL when n is 0). Only ringlb_list, ringlb_snapshot and ringlb_report return
 * memory of their own, text in *out that the caller frees with ringlb_free.
 *
 * Errors: functions return RINGLB_OK (0) or a negative RINGLB_E* code, and on
 * error write a NUL-terminated message into err (at most errlen bytes, cut
 * if longer; err may be NULL when errlen is 0). No function aborts, exits or
 * raises: a Go panic inside is recovered and returned as RINGLB_EINTERNAL.
 */
#ifndef RINGLB_H
#define RINGLB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RINGLB_OK 0
#define RINGLB_ENODEST (-1)    /* empty destination list */
#define RINGLB_EFULL (-2)      /* every destination at capacity, drained, in wrap-up or out for no answer */
#define RINGLB_EDRAINED (-3)   /* acquire of a drained destination */
#define RINGLB_EINVAL (-4)     /* bad argument or option */
#define RINGLB_EMISMATCH (-5)  /* name already open with other options */
#define RINGLB_EBACKEND (-6)   /* shared store down or too slow */
#define RINGLB_ECLOSED (-7)    /* balancer closed */
#define RINGLB_EHANDLE (-8)    /* unknown balancer handle or name */
#define RINGLB_EINTERNAL (-9)  /* bug inside ringlb, recovered */

#define RINGLB_ERRLEN 256 /* a good size for err buffers */

/* abigen constants: generated from internal/abigen (make generate); edit the table there */
#define RINGLB_MAX_DESTINATIONS 1024 /* most destinations in one call (lb.MaxDestinations) */
#define RINGLB_MAX_OPTIONS 2048 /* most option pairs in one open (lb.MaxOptions) */
#define RINGLB_MAX_DEST_LEN 512 /* longest destination, in bytes (lb.MaxDestLen) */
#define RINGLB_MAX_CALL_ID_LEN 256 /* longest call id, in bytes (lb.MaxCallIDLen) */
#define RINGLB_MAX_NAME_LEN 128 /* longest balancer name, in bytes (lb.MaxNameLen) */
/* abigen constants end */

/* Kinds of ringlb_report. */
#define RINGLB_REPORT_STATUS 0 /* every destination: active, capacity, drained, started, last call */
#define RINGLB_REPORT_HOLDS 1  /* live holds: destination, call id, node, age, lapses in */

/* ringlb_version returns the library version, a static string. */
const char *ringlb_version(void);

/* abigen operations: generated from internal/abigen (make generate); edit the table there */

/*
 * ringlb_open opens (or finds) the process-wide balancer called name and
 * stores its handle in *handle. Options are nopts key/value pairs
 * (docs/lua-api.md, Options): "tie", "capacity" (or "default_capacity"),
 * "capacity:<dest>", "wrapup", "wrapup:<dest>", "fewest_half_life",
 * "start_window", "no_answer_backoff", "max_no_answer",
 * "max_hold_age", "max_idle", "user_domains", and for Redis "url",
 * "key_prefix", "lease", "timeout", "node". Opening a name again with the same options returns the same handle;
 * other options give RINGLB_EMISMATCH. Handles stay valid for the life of the
 * process.
 */
int ringlb_open(const char *name, int nopts, const char *const *keys, const char *const *values, uint64_t *handle,
                char *err, size_t errlen);

/*
 * ringlb_get finds the balancer called name, already opened in this process
 * with whatever options, and stores its handle in *handle. It returns
 * RINGLB_EHANDLE if no balancer has that name. Admin scripts use it.
 */
int ringlb_get(const char *name, uint64_t *handle, char *err, size_t errlen);

/*
 * ringlb_list writes the names of the balancers open in this process to
 * *out, sorted, each followed by "\n" (empty when none); free it with
 * ringlb_free.
 */
int ringlb_list(char **out, char *err, size_t errlen);

/*
 * ringlb_order ranks dests[0..n) from least to most loaded, leaving out
 * drained and full ones and later duplicates. It writes the indices into
 * dests of the result to order[0..*count); order must have room for n.
 */
int ringlb_order(uint64_t handle, int n, const char *const *dests, int *order, int *count, char *err, size_t errlen);

/*
 * ringlb_next chooses the least-loaded destination of dests[0..n) that has
 * room, holds it for call_id, and stores its index in *chosen.
 */
int ringlb_next(uint64_t handle, int n, const char *const *dests, const char *call_id, int *chosen, char *err,
                size_t errlen);

/* ringlb_acquire holds dest for call_id; *added is 1 if new, 0 if held already. */
int ringlb_acquire(uint64_t handle, const char *dest, const char *call_id, int *added, char *err, size_t errlen);

/*
 * ringlb_count holds dest for call_id whatever its drain or capacity, for a
 * call that exists already (tracked, not placed by ringlb); *added is 1 if
 * new, 0 if held already.
 */
int ringlb_count(uint64_t handle, const char *dest, const char *call_id, int *added, char *err, size_t errlen);

/* ringlb_release drops the hold; *removed is 1 if there was one, else 0. */
int ringlb_release(uint64_t handle, const char *dest, const char *call_id, int *removed, char *err, size_t errlen);

/*
 * ringlb_unanswered drops the hold of an offer that rang out unanswered, as
 * ringlb_release does; if it was still ringing, the member ranks after its
 * equally loaded peers for its no-answer back-off, which doubles with each
 * such offer in a row until it answers one. *removed is 1 if there was a
 * hold, else 0.
 */
int ringlb_unanswered(uint64_t handle, const char *dest, const char *call_id, int *removed, char *err, size_t errlen);

/*
 * ringlb_answered marks the hold of call_id on dest answered: it turns from
 * ringing to talking and counts once among the member's answered calls
 * (fewest ties). *marked is 1 if it was ringing, 0 if not held or talking.
 */
int ringlb_answered(uint64_t handle, const char *dest, const char *call_id, int *marked, char *err, size_t errlen);

/* ringlb_load writes the active calls of dests[0..n) to loads[0..n). */
int ringlb_load(uint64_t handle, int n, const char *const *dests, int64_t *loads, char *err, size_t errlen);

/* ringlb_drain drains (drained=1) or undrains (drained=0) dest. */
int ringlb_drain(uint64_t handle, const char *dest, int drained, char *err, size_t errlen);

/*
 * ringlb_away marks dest absent without draining it (do-not-disturb, a
 * break): its next answered call shows it back (one that rings out does
 * not), and it rejoins as ringlb_rejoin says.
 */
int ringlb_away(uint64_t handle, const char *dest, char *err, size_t errlen);

/*
 * ringlb_rejoin marks dest back from an absence: the next ranking that
 * includes it lifts its tie score to the mean of the members it is ranked
 * with, if below. Undrain does the same.
 */
int ringlb_rejoin(uint64_t handle, const char *dest, char *err, size_t errlen);

/* ringlb_reset drops every hold on dest and stores how many in *dropped. */
int ringlb_reset(uint64_t handle, const char *dest, int *dropped, char *err, size_t errlen);

/*
 * ringlb_snapshot writes the balancer's state to *out as a NUL-terminated
 * text the caller frees with ringlb_free. format 0 is tab-separated lines:
 *   B <name> <backend>
 *   D <dest> <active> <capacity> <drained 0|1> <started> <last hold, unix s>
 *     <ringing> <talking> <answered> <wrap-up until, unix s or 0>
 *   H <dest> <call id> <node> <start, unix s> <expires, unix s or 0>
 *     <state ringing|talking>
 * and format 1 is JSON.
 */
int ringlb_snapshot(uint64_t handle, int format, char **out, char *err, size_t errlen);

/*
 * ringlb_report writes an operator's table of the balancer to *out, freed
 * with ringlb_free: the same tables ringlbctl prints. For
 * RINGLB_REPORT_HOLDS, n > 0 keeps only the holds on dests[0..n).
 */
int ringlb_report(uint64_t handle, int kind, int n, const char *const *dests, char **out, char *err, size_t errlen);

/*
 * ringlb_metrics starts the process-wide Prometheus endpoint (/metrics) on
 * addr, host:port (NULL or "" for 127.0.0.1:9361; "*:port" for every
 * interface, which ":port" or "0.0.0.0:port" never mean), and writes the
 * address it listens on into bound (boundlen bytes; 64 is enough). Called
 * again with the same address it does nothing; another address, a port in
 * use, or every interface not asked for as "*:port" is RINGLB_EINVAL. The
 * endpoint runs on the Go runtime's own threads.
 */
int ringlb_metrics(const char *addr, char *bound, size_t boundlen, char *err, size_t errlen);

/*
 * ringlb_noop does nothing through the same path as every other call: the
 * floor that benchmarks compare against.
 */
int ringlb_noop(void);
/* abigen operations end */

/* ringlb_free frees memory that ringlb returned. */
void ringlb_free(void *p);

#ifdef __cplusplus
}
#endif
#endif /* RINGLB_H */
