/*
 * ringlb_internal.h - what the C files of the library share, and the head
 * of every request that crosses into Go. Internal: the public API is
 * ringlb.h; the requests themselves are ringlb_call.h (generated).
 */
#ifndef RINGLB_INTERNAL_H
#define RINGLB_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* ringlb_status is the head of every request. */
struct ringlb_status {
	char *err;           /* the caller's buffer for a message, or NULL */
	size_t errlen;       /* its size */
	int rc;              /* RINGLB_OK or a RINGLB_E* code */
	int64_t deadline_ns; /* when a balancer operation must end (CLOCK_MONOTONIC, ringlb_mono_ns): its
	                      * caller's entry plus the balancer's timeout; 0 for none */
};

/* ringlb_start readies st for a call whose error text goes to err, errlen
 * bytes (dispatch.c). */
__attribute__((visibility("hidden"))) void ringlb_start(struct ringlb_status *st, char *err, size_t errlen);

/* ringlb_out checks the result pointer p, named what, of a call: it may be
 * NULL only when n, the number of results it points to, is 0 or less.
 * Otherwise it fails st with RINGLB_EINVAL and returns 0. ringlb_out_buf
 * checks a text buffer of len bytes: it must have room for the NUL. */
__attribute__((visibility("hidden"))) int ringlb_out(struct ringlb_status *st, const void *p, long n,
                                                     const char *what);
__attribute__((visibility("hidden"))) int ringlb_out_buf(struct ringlb_status *st, const char *p, size_t len,
                                                         const char *what);

/* ringlb_call_go runs fn(st), a Go function, on a thread that may run Go
 * code and returns st's result code; ringlb_call_op does so for an
 * operation on the balancer with handle, bounded by its timeout from now
 * (dispatch.c). */
__attribute__((visibility("hidden"))) int ringlb_call_go(void (*fn)(void *), struct ringlb_status *st);
__attribute__((visibility("hidden"))) int ringlb_call_op(void (*fn)(void *), struct ringlb_status *st,
                                                         uint64_t handle);

/* ringlb_go_started is called by the Go runtime's first goroutine
 * (exports.go's init): the loading thread may have its policy back. */
__attribute__((visibility("hidden"))) void ringlb_go_started(void);

/* ringlb_pool_stats reports the worker pool for the metrics: workers
 * started, requests handed off, and the time their callers waited, in all. */
__attribute__((visibility("hidden"))) void ringlb_pool_stats(int *workers, uint64_t *handoffs,
                                                             uint64_t *wait_ns);

/* ringlb_host_log writes one line to FreeSWITCH's log when ringlb runs
 * inside the switch, else to standard error (hostlog.c). level is a
 * switch_log_level_t. */
__attribute__((visibility("hidden"))) void ringlb_host_log(int level, const char *line);

/* ringlb_restore_loader gives the thread that loaded the library its signal
 * mask back (dispatch.c); a no-op on every other thread. */
__attribute__((visibility("hidden"))) void ringlb_restore_loader(void);

/* ringlb_set_timeout tells dispatch.c the timeout of the balancer with
 * handle, in ns (0: none), so that its operations end by their caller's
 * entry plus that, waiting for a worker included. */
__attribute__((visibility("hidden"))) void ringlb_set_timeout(uint64_t handle, int64_t ns);

/* ringlb_sigstack_init prepares sigstack.c (from the first constructor);
 * ringlb_own_sigstack gives the calling host thread a large signal stack
 * of ringlb's, freed when the thread exits, unless it has one of its own
 * (sigstack.c). */
__attribute__((visibility("hidden"))) void ringlb_sigstack_init(void);
__attribute__((visibility("hidden"))) void ringlb_own_sigstack(void);

/* ringlb_mono_ns reads CLOCK_MONOTONIC in ns, the clock of deadline_ns. */
__attribute__((visibility("hidden"))) int64_t ringlb_mono_ns(void);

/* ringlb_unsafe_signals writes to buf the names of the signals that the Go
 * runtime's threads do not block and whose handler lacks SA_ONSTACK (so
 * would run on a goroutine stack there), and returns how many (dispatch.c). */
__attribute__((visibility("hidden"))) int ringlb_unsafe_signals(char *buf, size_t len);

#endif /* RINGLB_INTERNAL_H */
