/*
 * ringlb_call.h - the requests that cross from C into Go. Internal to the
 * library: the public API is ringlb.h.
 *
 * Each public function has a request type of its own, whose fields mean one
 * thing each; every request starts with a ringlb_status, where Go leaves the
 * result code and message. dispatch.c fills a request and runs its Go
 * function (ringlbgo_<op> in exports.go), on the calling thread or on a
 * worker.
 */
#ifndef RINGLB_CALL_H
#define RINGLB_CALL_H

#include <stddef.h>
#include <stdint.h>

#define RINGLB_VERSION "0.1.0"

/* ringlb_status is the head of every request. */
struct ringlb_status {
	char *err;           /* the caller's buffer for a message, or NULL */
	size_t errlen;       /* its size */
	int rc;              /* RINGLB_OK or a RINGLB_E* code */
	int64_t deadline_ns; /* when a balancer operation must end (CLOCK_MONOTONIC, ringlb_mono_ns): its
	                      * caller's entry plus the balancer's timeout; 0 for none */
};

struct ringlb_open_req {
	struct ringlb_status st;
	const char *name;
	int nopts;
	const char *const *keys;
	const char *const *values;
	uint64_t *handle; /* out */
};

struct ringlb_get_req {
	struct ringlb_status st;
	const char *name;
	uint64_t *handle; /* out */
};

struct ringlb_list_req {
	struct ringlb_status st;
	char **out; /* out: malloc'd names, one per line */
};

struct ringlb_order_req {
	struct ringlb_status st;
	uint64_t handle;
	int n;
	const char *const *dests;
	int *order; /* out: indices into dests, n at most */
	int *count; /* out: how many of order are set */
};

struct ringlb_next_req {
	struct ringlb_status st;
	uint64_t handle;
	int n;
	const char *const *dests;
	const char *call_id;
	int *chosen; /* out: index into dests */
};

/* ringlb_hold_req is acquire's, count's, release's and answered's: one destination, one call. */
struct ringlb_hold_req {
	struct ringlb_status st;
	uint64_t handle;
	const char *dest;
	const char *call_id;
	int *changed; /* out: 1 if a hold was added (acquire, count), removed (release) or marked (answered) */
};

struct ringlb_load_req {
	struct ringlb_status st;
	uint64_t handle;
	int n;
	const char *const *dests;
	int64_t *loads; /* out: n loads */
};

struct ringlb_drain_req {
	struct ringlb_status st;
	uint64_t handle;
	const char *dest;
	int drained; /* 1 drain, 0 undrain */
};

struct ringlb_reset_req {
	struct ringlb_status st;
	uint64_t handle;
	const char *dest;
	int *dropped; /* out */
};

struct ringlb_snapshot_req {
	struct ringlb_status st;
	uint64_t handle;
	int format; /* 0 tab-separated lines, 1 JSON (ringlb.h) */
	char **out; /* out: malloc'd text */
};

struct ringlb_report_req {
	struct ringlb_status st;
	uint64_t handle;
	int kind; /* RINGLB_REPORT_* */
	int n;
	const char *const *dests; /* holds: only these, when n > 0 */
	char **out;               /* out: malloc'd text */
};

struct ringlb_dialstring_req {
	struct ringlb_status st;
	int nlegs;
	const char *const *legs;
	int sep; /* 0 at once (","), 1 one after another ("|") */
	int nvars;
	const char *const *keys;
	const char *const *values;
	int leg_timeout; /* seconds, 0 for none */
	const char *tag; /* per-leg variable set to the leg, or NULL */
	char **out;      /* out: malloc'd dial string */
};

struct ringlb_fallback_req {
	struct ringlb_status st;
	uint64_t handle;
};

struct ringlb_metrics_req {
	struct ringlb_status st;
	const char *addr; /* or NULL */
	char *bound;      /* out */
	size_t boundlen;
};

struct ringlb_ring_check_req {
	struct ringlb_status st;
	const char *mode;
	int n;
	const char *const *dests;
	double timeout;
	const char *on_backend_error; /* or NULL */
	const char *balancer;         /* or NULL */
	int *members;                 /* out: indices into dests */
	int *count;                   /* out */
	int *timeout_s;               /* out */
};

struct ringlb_ring_pick_req {
	struct ringlb_status st;
	uint64_t handle;
	const char *mode;
	int n;
	const char *const *dests;
	const char *call_id;
	int *chosen;  /* out: index, or -1 */
	int *skipped; /* out: n flags */
};

struct ringlb_ring_hold_all_req {
	struct ringlb_status st;
	uint64_t handle;
	int n;
	const char *const *dests;
	const char *call_id;
	int *states; /* out: n RINGLB_MEMBER_* */
};

struct ringlb_ring_reason_req {
	struct ringlb_status st;
	int n;
	const char *const *causes;
	char *reason; /* out */
	size_t reasonlen;
	int *last; /* out */
};

/* The Go side of each operation (exports.go). */
void ringlbgo_noop(struct ringlb_status *st);
void ringlbgo_open(struct ringlb_open_req *r);
void ringlbgo_get(struct ringlb_get_req *r);
void ringlbgo_list(struct ringlb_list_req *r);
void ringlbgo_order(struct ringlb_order_req *r);
void ringlbgo_next(struct ringlb_next_req *r);
void ringlbgo_acquire(struct ringlb_hold_req *r);
void ringlbgo_release(struct ringlb_hold_req *r);
void ringlbgo_answered(struct ringlb_hold_req *r);
void ringlbgo_count(struct ringlb_hold_req *r);
void ringlbgo_load(struct ringlb_load_req *r);
void ringlbgo_drain(struct ringlb_drain_req *r);
void ringlbgo_reset(struct ringlb_reset_req *r);
void ringlbgo_snapshot(struct ringlb_snapshot_req *r);
void ringlbgo_report(struct ringlb_report_req *r);
void ringlbgo_dialstring(struct ringlb_dialstring_req *r);
void ringlbgo_ring_check(struct ringlb_ring_check_req *r);
void ringlbgo_metrics(struct ringlb_metrics_req *r);
void ringlbgo_fallback(struct ringlb_fallback_req *r);
void ringlbgo_ring_pick(struct ringlb_ring_pick_req *r);
void ringlbgo_ring_hold_all(struct ringlb_ring_hold_all_req *r);
void ringlbgo_ring_reason(struct ringlb_ring_reason_req *r);

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

#endif
