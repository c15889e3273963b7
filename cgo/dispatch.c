/*
 * dispatch.c - the calling discipline of every call into ringlb: it keeps
 * realtime threads out of Go, the host's signals off Go stacks, and every
 * call within its balancer's timeout. abi_gen.c's functions fill a request
 * and call ringlb_call_go or ringlb_call_op here.
 *
 * FreeSWITCH runs its call threads SCHED_FIFO/RR. A thread that enters Go for
 * the first time takes an "extra M" from a runtime list guarded by a spin
 * lock, and gives it back at thread exit through the same lock; realtime
 * threads spinning on it starve the holder and stall for seconds (see
 * docs/realtime.md). So a realtime caller never executes Go code: it hands
 * its request to one of ringlb's worker threads (pool.c) and sleeps until
 * the worker has answered. Non-realtime callers call Go directly.
 *
 * RINGLB_DISPATCH in the environment overrides the choice: "auto" (default),
 * "workers" (always hand off) or "direct" (never; unsafe on realtime threads,
 * for measurements only).
 *
 * During a call the host's asynchronous signals are blocked on the calling
 * thread (host.c says why), and the call cannot be cancelled
 * (pthread_cancel, deferred or asynchronous): a request lives on its
 * caller's stack and points into the caller's memory, so its caller must be
 * there until it is answered, and no handler of the host's may run on it
 * (to exit the thread or jump out) meanwhile. A cancellation requested
 * meanwhile takes effect as the call returns if asynchronous, else at the
 * caller's next cancellation point.
 *
 * Each balancer operation must return within the balancer's timeout,
 * counted from the moment its caller entered ringlb: the deadline goes with
 * the request (ringlb_status.deadline_ns). A realtime caller waits for its
 * worker until then (pool.c), and the Go side bounds the operation by it.
 *
 * In the child of a fork() every call fails at once with RINGLB_EINTERNAL.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dispatch.h"

enum { DISPATCH_AUTO, DISPATCH_WORKERS, DISPATCH_DIRECT };

static int dispatch_mode = DISPATCH_AUTO;

void ringlb_dispatch_configure(void) {
	const char *m = getenv("RINGLB_DISPATCH");
	if (m != NULL && strcmp(m, "workers") == 0)
		dispatch_mode = DISPATCH_WORKERS;
	else if (m != NULL && strcmp(m, "direct") == 0)
		dispatch_mode = DISPATCH_DIRECT;
}

static int is_realtime(void) {
	int pol = sched_getscheduler(0) & ~SCHED_RESET_ON_FORK;
	return pol == SCHED_FIFO || pol == SCHED_RR
#ifdef SCHED_DEADLINE
	       || pol == SCHED_DEADLINE
#endif
	    ;
}

void ringlb_set_err(struct ringlb_status *st, int rc, const char *msg) {
	st->rc = rc;
	if (st->err != NULL && st->errlen > 0) {
		strncpy(st->err, msg, st->errlen - 1);
		st->err[st->errlen - 1] = '\0';
	}
}

void ringlb_start(struct ringlb_status *st, char *err, size_t errlen) {
	st->rc = RINGLB_OK;
	st->err = err;
	/* Go turns errlen into a slice length: keep it far from overflow. */
	st->errlen = err != NULL ? (errlen > 65536 ? 65536 : errlen) : 0;
	st->deadline_ns = 0;
	if (st->errlen > 0)
		err[0] = '\0';
}

int64_t ringlb_mono_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- balancers' timeouts ---- */

/*
 * The timeout of each balancer, by handle, published by the Go side when it
 * opens one (ringlb_set_timeout), read without a lock by every caller.
 * Handles are small numbers given out in order. The table grows by
 * replacement; a replaced table is kept, because a caller may still be
 * reading it, so all the tables together stay under twice the last one.
 */
struct timeouts {
	uint64_t n;
	int64_t ns[];
};

#define MAX_TIMEOUT_HANDLE (1u << 20)

static struct timeouts *timeouts; /* __atomic */
static pthread_mutex_t timeouts_mu = PTHREAD_MUTEX_INITIALIZER;

void ringlb_set_timeout(uint64_t handle, int64_t ns) {
	if (handle >= MAX_TIMEOUT_HANDLE || ns <= 0)
		return;
	pthread_mutex_lock(&timeouts_mu);
	struct timeouts *t = timeouts;
	if (t != NULL && handle < t->n) {
		__atomic_store_n(&t->ns[handle], ns, __ATOMIC_RELEASE);
	} else {
		uint64_t n = t != NULL ? t->n : 64;
		while (n <= handle)
			n *= 2;
		struct timeouts *grown = calloc(1, sizeof *grown + n * sizeof grown->ns[0]);
		if (grown != NULL) {
			grown->n = n;
			if (t != NULL)
				memcpy(grown->ns, t->ns, t->n * sizeof t->ns[0]);
			grown->ns[handle] = ns;
			__atomic_store_n(&timeouts, grown, __ATOMIC_RELEASE);
		}
		/* Without memory the balancer's calls are still bounded by
		 * the Go side, only not while they wait for a worker. */
	}
	pthread_mutex_unlock(&timeouts_mu);
}

/* timeout_of returns the timeout of the balancer with handle, or 0. */
static int64_t timeout_of(uint64_t handle) {
	struct timeouts *t = __atomic_load_n(&timeouts, __ATOMIC_ACQUIRE);
	return t != NULL && handle < t->n ? __atomic_load_n(&t->ns[handle], __ATOMIC_ACQUIRE) : 0;
}

/*
 * thread_rt caches whether this thread is realtime: -1 unknown, else 0 or 1.
 * The policy is read on a thread's first call only, because the system call
 * costs about as much as the rest of a call. FreeSWITCH sets a thread's
 * policy when it creates it, before any script runs on it.
 */
static __thread int thread_rt = -1;

/* thread_bound is 1 once this thread has entered Go directly. */
static __thread int thread_bound;

/*
 * call_direct runs fn(st) on this (non-realtime) thread. Its first entry
 * into Go binds a Go M to the thread for good, and the runtime unblocks
 * go_unblocked on the thread as it does: that entry is a no-op, after which
 * they are blocked again, so that no operation runs with them unblocked.
 * Before it, the thread gets a signal stack of ringlb's (sigstack.c), which
 * the runtime then uses instead of its 32 KiB one.
 */
static void call_direct(void (*fn)(void *), struct ringlb_status *st) {
	if (!thread_bound) {
		ringlb_own_sigstack();
		struct ringlb_noop_req bind;
		ringlb_start(&bind.st, NULL, 0);
		ringlbgo_noop(&bind);
		pthread_sigmask(SIG_BLOCK, &ringlb_async_signals, NULL);
		thread_bound = 1;
	}
	fn(st);
}

/* ringlb_call_go runs fn(st), a Go function, on a thread that may run Go
 * code, and returns the request's result code. */
int ringlb_call_go(void (*fn)(void *), struct ringlb_status *st) {
	if (__builtin_expect(ringlb_forked_child, 0)) {
		ringlb_set_err(st, RINGLB_EINTERNAL, "ringlb: cannot be used in a forked child; exec or load it anew");
		return st->rc;
	}
	/* First of all: from here on the request is in shared hands. */
	int cancel_state;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
	ringlb_restore_loader();
	int direct;
	switch (dispatch_mode) {
	case DISPATCH_DIRECT:
		direct = 1;
		break;
	case DISPATCH_WORKERS:
		direct = 0;
		break;
	default:
		if (thread_rt < 0) {
			/* The loading thread may still be demoted by ringlb_early:
			 * its own policy, the one it gets back, is realtime. */
			thread_rt = ringlb_loader_here() || is_realtime();
		}
		direct = !thread_rt;
	}
	if (ringlb_loader_demoted_here())
		direct = 0; /* the loading thread is still demoted; it must not run Go either */
	sigset_t old;
	pthread_sigmask(SIG_BLOCK, &ringlb_async_signals, &old);
	if (direct)
		call_direct(fn, st);
	else
		ringlb_hand_off(fn, st);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	/* A cancellation requested meanwhile acts now if asynchronous, else
	 * at the caller's next cancellation point. */
	pthread_setcancelstate(cancel_state, NULL);
	return st->rc;
}

/* ringlb_call_op runs a balancer operation: fn(st) on the balancer with
 * handle, by the balancer's timeout from now. */
int ringlb_call_op(void (*fn)(void *), struct ringlb_status *st, uint64_t handle) {
	int64_t t = timeout_of(handle);
	if (t > 0)
		st->deadline_ns = ringlb_mono_ns() + t;
	return ringlb_call_go(fn, st);
}

/* ---- what abi_gen.c's functions call ---- */

int ringlb_out(struct ringlb_status *st, const void *p, long n, const char *what) {
	if (p != NULL || n <= 0)
		return 1;
	char msg[96];
	snprintf(msg, sizeof msg, "ringlb: %s is NULL", what);
	ringlb_set_err(st, RINGLB_EINVAL, msg);
	return 0;
}

int ringlb_out_buf(struct ringlb_status *st, const char *p, size_t len, const char *what) {
	if (!ringlb_out(st, p, 1, what))
		return 0;
	if (len > 0)
		return 1;
	char msg[96];
	snprintf(msg, sizeof msg, "ringlb: %s has no room (%slen is 0)", what, what);
	ringlb_set_err(st, RINGLB_EINVAL, msg);
	return 0;
}


const char *ringlb_version(void) { return RINGLB_VERSION; }

void ringlb_free(void *p) { free(p); }
