/*
 * dispatch.c - the public C ABI (ringlb.h) and the calling discipline that
 * keeps realtime threads out of Go.
 *
 * FreeSWITCH runs its call threads SCHED_FIFO/RR. A thread that enters Go for
 * the first time takes an "extra M" from a runtime list guarded by a spin
 * lock, and gives it back at thread exit through the same lock; realtime
 * threads spinning on it starve the holder and stall for seconds (see
 * docs/realtime.md). So a realtime caller never executes Go code: it queues
 * its request for one of ringlb's worker threads, which are created
 * SCHED_OTHER explicitly, and sleeps on a semaphore (a futex: no spinning)
 * until the worker has answered. Non-realtime callers call Go directly.
 *
 * RINGLB_DISPATCH in the environment overrides the choice: "auto" (default),
 * "workers" (always hand off) or "direct" (never; unsafe on realtime threads,
 * for measurements only).
 *
 * The Go runtime's own threads inherit the scheduling policy of the thread
 * that creates them. The runtime is started from the thread that loads the
 * library, so a constructor that runs before Go's demotes that thread to
 * SCHED_OTHER, and the Go side gives the policy back once its first thread
 * exists (ringlb_go_started).
 *
 * Signals belong to the host. Its handlers must never run on a Go-owned
 * stack (a goroutine stack, or Go's 32 KiB signal stack) nor interrupt Go
 * code, so every thread that runs Go code keeps the host's asynchronous
 * signals (async_signals) blocked while it does:
 *   - Go's own threads take their mask from the thread that starts the
 *     runtime, so the loading thread blocks them before Go's constructor
 *     runs, and gets its mask back on its next call into ringlb
 *     (luaopen_ringlb or any ringlb_* function);
 *   - ringlb's workers are born with them blocked;
 *   - a host thread that calls Go directly blocks them for the call only.
 * A signal sent meanwhile is delivered to another thread, or to the same one
 * as soon as the call returns, on the host's own stack. The Go runtime also
 * adds SA_ONSTACK to the handlers the host installed before loading, which
 * would move them onto Go's signal stack on every thread that has called
 * Go; that flag is taken back once the runtime is up. Synchronous signals
 * (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS), SIGPIPE and Go's
 * preemption signal SIGURG stay with Go, which handles them or forwards them
 * to the host's handler as it documents.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ringlb.h"
#include "ringlb_call.h"

enum { DISPATCH_AUTO, DISPATCH_WORKERS, DISPATCH_DIRECT };

static int dispatch_mode = DISPATCH_AUTO;
static int max_workers = 32;

/* The loading thread's policy, saved by the early constructor. */
static pid_t loader_tid;
static int loader_policy = -1;
static struct sched_param loader_param;
static int loader_restored; /* accessed with __atomic builtins */

/* The host's asynchronous signals: every signal but those Go must see. */
static sigset_t async_signals;
/* The loading thread's signal mask before ringlb_early blocked them. */
static sigset_t loader_mask;
/* Set on the loading thread only, until it has its mask back. */
static __thread int loader_mask_blocked;
/* The flags of every handler before Go's constructor ran. */
static struct sigaction before_go[NSIG];

static void init_async_signals(void) {
	static const int go_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS,
	                                 SIGABRT, SIGPIPE, SIGURG, SIGKILL, SIGSTOP};
	sigfillset(&async_signals);
	for (size_t i = 0; i < sizeof go_signals / sizeof go_signals[0]; i++)
		sigdelset(&async_signals, go_signals[i]);
}

/*
 * ringlb_restore_loader gives the loading thread its signal mask back. It
 * costs one TLS read on every other thread and on every later call.
 */
void ringlb_restore_loader(void) {
	if (__builtin_expect(loader_mask_blocked, 0)) {
		loader_mask_blocked = 0;
		pthread_sigmask(SIG_SETMASK, &loader_mask, NULL);
	}
}

/*
 * drop_go_onstack takes back the SA_ONSTACK that the Go runtime added to the
 * host's handlers of asynchronous signals when it initialised: those signals
 * never reach a thread while it runs Go code, so their handlers belong on
 * the host's stacks. A handler the host changed since is left alone.
 */
static void drop_go_onstack(void) {
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction now;
		if (sigismember(&async_signals, sig) != 1 || sigaction(sig, NULL, &now) != 0)
			continue;
		if (now.sa_handler == SIG_DFL || now.sa_handler == SIG_IGN ||
		    now.sa_handler != before_go[sig].sa_handler ||
		    !(now.sa_flags & SA_ONSTACK) || (before_go[sig].sa_flags & SA_ONSTACK))
			continue;
		now.sa_flags &= ~SA_ONSTACK;
		sigaction(sig, &now, NULL);
	}
}

/*
 * ringlb_early runs before the Go runtime's own constructor (constructors with
 * a priority run before those without), on the thread that loads the library.
 */
__attribute__((constructor(101))) static void ringlb_early(void) {
	init_async_signals();
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, NULL, &before_go[sig]);
	/* The runtime's first thread, created by Go's constructor on this
	 * thread, inherits this mask and hands it to every thread Go makes. */
	if (pthread_sigmask(SIG_BLOCK, &async_signals, &loader_mask) == 0)
		loader_mask_blocked = 1;
	const char *m = getenv("RINGLB_DISPATCH");
	if (m != NULL) {
		if (strcmp(m, "workers") == 0)
			dispatch_mode = DISPATCH_WORKERS;
		else if (strcmp(m, "direct") == 0)
			dispatch_mode = DISPATCH_DIRECT;
	}
	const char *w = getenv("RINGLB_MAX_WORKERS");
	if (w != NULL) {
		int n = atoi(w);
		if (n >= 1 && n <= 1024)
			max_workers = n;
	}
	int pol = sched_getscheduler(0) & ~SCHED_RESET_ON_FORK;
	if (pol == SCHED_FIFO || pol == SCHED_RR) {
		struct sched_param zero = {0};
		if (sched_getparam(0, &loader_param) == 0 &&
		    sched_setscheduler(0, SCHED_OTHER, &zero) == 0) {
			loader_tid = (pid_t)syscall(SYS_gettid);
			loader_policy = pol;
		}
	}
}

/*
 * ringlb_go_started is called by the Go runtime's first goroutine. The
 * thread it runs on has been created, with SCHED_OTHER inherited, so the
 * loading thread can have its realtime policy back.
 */
void ringlb_go_started(void) {
	/* Go's signal set-up ran in its constructor, before this thread. */
	drop_go_onstack();
	if (loader_policy < 0 || __atomic_exchange_n(&loader_restored, 1, __ATOMIC_ACQ_REL))
		return;
	/* The loader is inside dlopen or just past it; if it already exited,
	 * its thread id must not be reused for someone else's thread. */
	if (syscall(SYS_tgkill, getpid(), loader_tid, 0) == 0)
		sched_setscheduler(loader_tid, loader_policy, &loader_param);
}

static int is_realtime(void) {
	int pol = sched_getscheduler(0) & ~SCHED_RESET_ON_FORK;
	return pol == SCHED_FIFO || pol == SCHED_RR
#ifdef SCHED_DEADLINE
	       || pol == SCHED_DEADLINE
#endif
	    ;
}

/* ---- the worker pool ---- */

static void set_err(struct ringlb_status *st, int rc, const char *msg) {
	st->rc = rc;
	if (st->err != NULL && st->errlen > 0) {
		strncpy(st->err, msg, st->errlen - 1);
		st->err[st->errlen - 1] = '\0';
	}
}

/* A request for a worker: run fn(req); req starts with its ringlb_status. */
struct request {
	void (*fn)(void *req);
	void *req;
	sem_t done;
	struct request *next;
};

static pthread_mutex_t q_mu;
static pthread_cond_t q_cv = PTHREAD_COND_INITIALIZER;
static pthread_once_t q_once = PTHREAD_ONCE_INIT;
static struct request *q_head, *q_tail;
static int n_workers, n_idle;
/* q_len is the number of queued requests. n_idle also counts workers that
 * were signalled but have not woken yet, so "idle" alone does not tell
 * whether the queue will be served soon: the pool grows while more requests
 * wait than there are idle workers. Requires q_mu. */
static int q_len;
/*
 * warming is 1 while a new worker is entering Go for the first time. Workers
 * are started one at a time: a thread's first entry takes an "extra M" from
 * the runtime's list, and when that list is empty the thread sleeps in a
 * usleep(1) loop until some *other* thread enters Go and allocates one
 * (runtime.lockextra / newextram), so a burst of new workers entering
 * together would wait for unrelated traffic (docs/realtime.md). One at a
 * time, each new worker finds the spare M its predecessor's first entry left
 * on the list.
 */
static int warming;

static void q_init(void) {
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	/* A realtime caller blocked on the queue lock lends its priority to
	 * the holder, so a preempted worker cannot hold it up. */
	pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_INHERIT);
	pthread_mutex_init(&q_mu, &a);
	pthread_mutexattr_destroy(&a);
}

static int start_worker(void);
static void worker_failed(void);

/*
 * should_grow decides, with q_mu held, whether to start one more worker:
 * more requests wait than there are idle workers, none is warming up, and
 * the cap allows it. If so it counts the worker in and the caller starts it
 * after unlocking. Realtime callers arriving together would otherwise all
 * see a signalled-but-not-yet-running worker as idle and never grow the pool,
 * which matters when each request waits for a slow Redis.
 */
static int should_grow(void) {
	if (q_len <= n_idle || warming || n_workers >= max_workers)
		return 0;
	warming = 1;
	n_workers++;
	return 1;
}

static void *worker_main(void *arg) {
	(void)arg;
	/* Named, so `top -H` and the tests can tell ringlb's workers apart. */
	pthread_setname_np(pthread_self(), "ringlb-worker");
	/* Enter Go once before serving: binds this thread's M for good (it is
	 * given back only at thread exit, and workers never exit) and leaves a
	 * spare M on the runtime's list for the next new thread. */
	struct ringlb_status warm;
	memset(&warm, 0, sizeof warm);
	ringlbgo_noop(&warm);
	pthread_mutex_lock(&q_mu);
	warming = 0;
	for (;;) {
		/* A backlog built up (while this worker warmed, or behind the
		 * request it takes now): add the next worker. */
		if (should_grow()) {
			pthread_mutex_unlock(&q_mu);
			if (start_worker() != 0)
				worker_failed();
			pthread_mutex_lock(&q_mu);
		}
		while (q_head == NULL) {
			n_idle++;
			pthread_cond_wait(&q_cv, &q_mu);
			n_idle--;
		}
		struct request *r = q_head;
		q_head = r->next;
		if (q_head == NULL)
			q_tail = NULL;
		q_len--;
		pthread_mutex_unlock(&q_mu);
		r->fn(r->req);
		sem_post(&r->done); /* r may be gone after this */
		pthread_mutex_lock(&q_mu);
	}
	return NULL;
}

/*
 * worker_failed undoes the n_workers++ and warming = 1 of a worker that could
 * not be started. If no worker is left, nobody will serve what is queued:
 * fail it all.
 */
static void worker_failed(void) {
	pthread_mutex_lock(&q_mu);
	n_workers--;
	warming = 0;
	if (n_workers == 0) {
		struct request *p = q_head;
		q_head = q_tail = NULL;
		q_len = 0;
		while (p != NULL) {
			struct request *next = p->next;
			set_err((struct ringlb_status *)p->req, RINGLB_EINTERNAL, "ringlb: cannot start a worker thread");
			sem_post(&p->done);
			p = next;
		}
	}
	pthread_mutex_unlock(&q_mu);
}

/* start_worker creates a detached SCHED_OTHER worker thread. */
static int start_worker(void) {
	pthread_attr_t a;
	struct sched_param zero = {0};
	pthread_t t;
	if (pthread_attr_init(&a) != 0)
		return -1;
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_attr_setinheritsched(&a, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(&a, SCHED_OTHER);
	pthread_attr_setschedparam(&a, &zero);
	/* Born with the host's signals blocked: a worker only runs Go code. */
	sigset_t old;
	pthread_sigmask(SIG_BLOCK, &async_signals, &old);
	int rc = pthread_create(&t, &a, worker_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&a);
	return rc == 0 ? 0 : -1;
}

/* Hand-offs and the time their callers waited, for the metrics. */
static uint64_t handoffs, handoff_wait_ns; /* __atomic */

static uint64_t mono_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void ringlb_pool_stats(int *workers, uint64_t *n, uint64_t *wait_ns) {
	*workers = __atomic_load_n(&n_workers, __ATOMIC_RELAXED);
	*n = __atomic_load_n(&handoffs, __ATOMIC_RELAXED);
	*wait_ns = __atomic_load_n(&handoff_wait_ns, __ATOMIC_RELAXED);
}

/* hand_off queues fn(req) for a worker and sleeps until it is served. */
static void hand_off(void (*fn)(void *), void *req) {
	struct request r;
	int spawn = 0;
	uint64_t t0 = mono_ns();
	r.fn = fn;
	r.req = req;
	r.next = NULL;
	if (sem_init(&r.done, 0, 0) != 0) {
		set_err((struct ringlb_status *)req, RINGLB_EINTERNAL, "ringlb: cannot create a semaphore");
		return;
	}
	pthread_once(&q_once, q_init);
	pthread_mutex_lock(&q_mu);
	if (q_tail != NULL)
		q_tail->next = &r;
	else
		q_head = &r;
	q_tail = &r;
	q_len++;
	if (n_idle > 0)
		pthread_cond_signal(&q_cv);
	/* One new worker at a time (see warming); busy workers and the next
	 * one to warm up drain the queue meanwhile. */
	spawn = should_grow();
	pthread_mutex_unlock(&q_mu);
	if (spawn && start_worker() != 0)
		worker_failed();
	while (sem_wait(&r.done) != 0 && errno == EINTR) {
	}
	sem_destroy(&r.done);
	__atomic_add_fetch(&handoffs, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&handoff_wait_ns, mono_ns() - t0, __ATOMIC_RELAXED);
}

/*
 * thread_rt caches whether this thread is realtime: -1 unknown, else 0 or 1.
 * The policy is read on a thread's first call only, because the system call
 * costs about as much as the rest of a call. FreeSWITCH sets a thread's
 * policy when it creates it, before any script runs on it.
 */
static __thread int thread_rt = -1;

/* call_direct runs fn(req) on this (non-realtime) thread, with the host's
 * signals held back until Go has returned. */
static void call_direct(void (*fn)(void *), void *req) {
	sigset_t old;
	pthread_sigmask(SIG_BLOCK, &async_signals, &old);
	fn(req);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* call_go runs fn(req), a Go function, on a thread that may run Go code,
 * and returns the request's result code. */
static int call_go(void (*fn)(void *), struct ringlb_status *req) {
	int direct;
	ringlb_restore_loader();
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
			if (loader_policy >= 0 && (pid_t)syscall(SYS_gettid) == loader_tid)
				thread_rt = 1;
			else
				thread_rt = is_realtime();
		}
		direct = !thread_rt;
	}
	if (loader_policy >= 0 && !__atomic_load_n(&loader_restored, __ATOMIC_ACQUIRE) &&
	    (pid_t)syscall(SYS_gettid) == loader_tid) {
		/* The loader thread is still demoted; it must not run Go either. */
		direct = 0;
	}
	if (direct)
		call_direct(fn, req);
	else
		hand_off(fn, req);
	return req->rc;
}

/* ---- the public C ABI ---- */

/*
 * Each operation's Go function takes its own request type; RUN_IN_GO makes
 * the untyped trampoline a worker can call, so the types are checked here
 * and in exports.go, and nowhere is a request read as another.
 */
#define RUN_IN_GO(op, type)                                                                      \
	static void run_##op(void *r) { ringlbgo_##op((struct type *)r); }
RUN_IN_GO(open, ringlb_open_req)
RUN_IN_GO(get, ringlb_get_req)
RUN_IN_GO(list, ringlb_list_req)
RUN_IN_GO(order, ringlb_order_req)
RUN_IN_GO(next, ringlb_next_req)
RUN_IN_GO(acquire, ringlb_hold_req)
RUN_IN_GO(release, ringlb_hold_req)
RUN_IN_GO(answered, ringlb_hold_req)
RUN_IN_GO(count, ringlb_hold_req)
RUN_IN_GO(load, ringlb_load_req)
RUN_IN_GO(drain, ringlb_drain_req)
RUN_IN_GO(reset, ringlb_reset_req)
RUN_IN_GO(snapshot, ringlb_snapshot_req)
RUN_IN_GO(report, ringlb_report_req)
RUN_IN_GO(dialstring, ringlb_dialstring_req)
RUN_IN_GO(ring_check, ringlb_ring_check_req)
RUN_IN_GO(metrics, ringlb_metrics_req)
RUN_IN_GO(fallback, ringlb_fallback_req)
RUN_IN_GO(ring_pick, ringlb_ring_pick_req)
RUN_IN_GO(ring_hold_all, ringlb_ring_hold_all_req)
RUN_IN_GO(ring_reason, ringlb_ring_reason_req)
RUN_IN_GO(noop, ringlb_status)

static void init_status(struct ringlb_status *st, char *err, size_t errlen) {
	st->rc = RINGLB_OK;
	st->err = err;
	/* Go turns errlen into a slice length: keep it far from overflow. */
	st->errlen = err != NULL ? (errlen > 65536 ? 65536 : errlen) : 0;
	if (st->errlen > 0)
		err[0] = '\0';
}

/* check_out reports a NULL output pointer as RINGLB_EINVAL. */
static int check_out(struct ringlb_status *st, const void *p, const char *what) {
	if (p != NULL)
		return 1;
	char msg[96];
	snprintf(msg, sizeof msg, "ringlb: %s is NULL", what);
	set_err(st, RINGLB_EINVAL, msg);
	return 0;
}

const char *ringlb_version(void) { return RINGLB_VERSION; }

int ringlb_open(const char *name, int nopts, const char *const *keys, const char *const *values,
                uint64_t *handle, char *err, size_t errlen) {
	struct ringlb_open_req r = {.name = name, .nopts = nopts, .keys = keys, .values = values, .handle = handle};
	init_status(&r.st, err, errlen);
	if (!check_out(&r.st, handle, "handle") || !check_out(&r.st, name, "name"))
		return r.st.rc;
	return call_go(run_open, &r.st);
}

int ringlb_get(const char *name, uint64_t *handle, char *err, size_t errlen) {
	struct ringlb_get_req r = {.name = name, .handle = handle};
	init_status(&r.st, err, errlen);
	if (!check_out(&r.st, handle, "handle") || !check_out(&r.st, name, "name"))
		return r.st.rc;
	return call_go(run_get, &r.st);
}

int ringlb_list(char **out, char *err, size_t errlen) {
	struct ringlb_list_req r = {.out = out};
	init_status(&r.st, err, errlen);
	if (!check_out(&r.st, out, "out"))
		return r.st.rc;
	*out = NULL;
	return call_go(run_list, &r.st);
}

int ringlb_order(uint64_t handle, int n, const char *const *dests, int *order, int *count,
                 char *err, size_t errlen) {
	struct ringlb_order_req r = {.handle = handle, .n = n, .dests = dests, .order = order, .count = count};
	init_status(&r.st, err, errlen);
	if (!check_out(&r.st, order, "order") || !check_out(&r.st, count, "count"))
		return r.st.rc;
	*count = 0;
	return call_go(run_order, &r.st);
}

int ringlb_next(uint64_t handle, int n, const char *const *dests, const char *call_id,
                int *chosen, char *err, size_t errlen) {
	struct ringlb_next_req r = {.handle = handle, .n = n, .dests = dests, .call_id = call_id, .chosen = chosen};
	init_status(&r.st, err, errlen);
	if (!check_out(&r.st, chosen, "chosen"))
		return r.st.rc;
	*chosen = -1;
	return call_go(run_next, &r.st);
}

/* hold_op runs one of the operations on one destination and one call. */
static int hold_op(void (*run)(void *), uint64_t handle, const char *dest, const char *call_id,
                   int *changed, char *err, size_t errlen) {
	struct ringlb_hold_req r = {.handle = handle, .dest = dest, .call_id = call_id, .changed = changed};
	init_status(&r.st, err, errlen);
	if (!check_out(&r.st, changed, "result flag"))
		return r.st.rc;
	*changed = 0;
	return call_go(run, &r.st);
}

int ringlb_acquire(uint64_t handle, const char *dest, const char *call_id, int *added, char *err,
                   size_t errlen) {
	return hold_op(run_acquire, handle, dest, call_id, added, err, errlen);
}

int ringlb_count(uint64_t handle, const char *dest, const char *call_id, int *added, char *err,
                 size_t errlen) {
	return hold_op(run_count, handle, dest, call_id, added, err, errlen);
}

int ringlb_release(uint64_t handle, const char *dest, const char *call_id, int *removed,
                   char *err, size_t errlen) {
	return hold_op(run_release, handle, dest, call_id, removed, err, errlen);
}

int ringlb_answered(uint64_t handle, const char *dest, const char *call_id, int *marked,
                    char *err, size_t errlen) {
	return hold_op(run_answered, handle, dest, call_id, marked, err, errlen);
}

int ringlb_load(uint64_t handle, int n, const char *const *dests, int64_t *loads, char *err,
                size_t errlen) {
	struct ringlb_load_req r = {.handle = handle, .n = n, .dests = dests, .loads = loads};
	init_status(&r.st, err, errlen);
	if (n > 0 && !check_out(&r.st, loads, "loads"))
		return r.st.rc;
	return call_go(run_load, &r.st);
}

int ringlb_drain(uint64_t handle, const char *dest, int drained, char *err, size_t errlen) {
	struct ringlb_drain_req r = {.handle = handle, .dest = dest, .drained = drained != 0};
	init_status(&r.st, err, errlen);
	return call_go(run_drain, &r.st);
}

int ringlb_reset(uint64_t handle, const char *dest, int *dropped, char *err, size_t errlen) {
	struct ringlb_reset_req r = {.handle = handle, .dest = dest, .dropped = dropped};
	init_status(&r.st, err, errlen);
	if (!check_out(&r.st, dropped, "result flag"))
		return r.st.rc;
	*dropped = 0;
	return call_go(run_reset, &r.st);
}

int ringlb_snapshot(uint64_t handle, int format, char **out, char *err, size_t errlen) {
	struct ringlb_snapshot_req r = {.handle = handle, .format = format, .out = out};
	init_status(&r.st, err, errlen);
	if (!check_out(&r.st, out, "out"))
		return r.st.rc;
	*out = NULL;
	return call_go(run_snapshot, &r.st);
}

int ringlb_report(uint64_t handle, int kind, int n, const char *const *dests, char **out,
                  char *err, size_t errlen) {
	struct ringlb_report_req r = {.handle = handle, .kind = kind, .n = n, .dests = dests, .out = out};
	init_status(&r.st, err, errlen);
	if (!check_out(&r.st, out, "out"))
		return r.st.rc;
	*out = NULL;
	return call_go(run_report, &r.st);
}

int ringlb_dialstring(int n, const char *const *legs, int sep, int nvars, const char *const *keys,
                      const char *const *values, int leg_timeout, const char *tag, char **out,
                      char *err, size_t errlen) {
	struct ringlb_dialstring_req r = {.nlegs = n,
	                                  .legs = legs,
	                                  .sep = sep,
	                                  .nvars = nvars,
	                                  .keys = keys,
	                                  .values = values,
	                                  .leg_timeout = leg_timeout,
	                                  .tag = tag,
	                                  .out = out};
	init_status(&r.st, err, errlen);
	if (!check_out(&r.st, out, "out"))
		return r.st.rc;
	*out = NULL;
	return call_go(run_dialstring, &r.st);
}

int ringlb_ring_check(const char *mode, int n, const char *const *dests, double timeout,
                      const char *on_backend_error, const char *balancer, int *members,
                      int *count, int *timeout_s, char *err, size_t errlen) {
	struct ringlb_ring_check_req r = {.mode = mode,
	                                  .n = n,
	                                  .dests = dests,
	                                  .timeout = timeout,
	                                  .on_backend_error = on_backend_error,
	                                  .balancer = balancer,
	                                  .members = members,
	                                  .count = count,
	                                  .timeout_s = timeout_s};
	init_status(&r.st, err, errlen);
	if (!check_out(&r.st, mode, "mode") || !check_out(&r.st, members, "members") ||
	    !check_out(&r.st, count, "count") || !check_out(&r.st, timeout_s, "timeout_s"))
		return r.st.rc;
	*count = 0;
	return call_go(run_ring_check, &r.st);
}

int ringlb_ring_pick(uint64_t handle, const char *mode, int n, const char *const *dests,
                     const char *call_id, int *chosen, int *skipped, char *err, size_t errlen) {
	struct ringlb_ring_pick_req r = {.handle = handle,
	                                 .mode = mode,
	                                 .n = n,
	                                 .dests = dests,
	                                 .call_id = call_id,
	                                 .chosen = chosen,
	                                 .skipped = skipped};
	init_status(&r.st, err, errlen);
	if (!check_out(&r.st, mode, "mode") || !check_out(&r.st, chosen, "chosen") ||
	    (n > 0 && !check_out(&r.st, skipped, "skipped")))
		return r.st.rc;
	*chosen = -1;
	return call_go(run_ring_pick, &r.st);
}

int ringlb_ring_hold_all(uint64_t handle, int n, const char *const *dests, const char *call_id,
                         int *states, char *err, size_t errlen) {
	struct ringlb_ring_hold_all_req r = {
	    .handle = handle, .n = n, .dests = dests, .call_id = call_id, .states = states};
	init_status(&r.st, err, errlen);
	if (n > 0 && !check_out(&r.st, states, "states"))
		return r.st.rc;
	return call_go(run_ring_hold_all, &r.st);
}

int ringlb_ring_reason(int n, const char *const *causes, char *reason, size_t reasonlen, int *last,
                       char *err, size_t errlen) {
	struct ringlb_ring_reason_req r = {
	    .n = n, .causes = causes, .reason = reason, .reasonlen = reasonlen, .last = last};
	init_status(&r.st, err, errlen);
	if (!check_out(&r.st, reason, "reason") || !check_out(&r.st, last, "last"))
		return r.st.rc;
	if (reasonlen < 16) {
		set_err(&r.st, RINGLB_EINVAL, "ringlb: ring_reason: reason buffer under 16 bytes");
		return r.st.rc;
	}
	reason[0] = '\0';
	return call_go(run_ring_reason, &r.st);
}

int ringlb_fallback(uint64_t handle, char *err, size_t errlen) {
	struct ringlb_fallback_req r = {.handle = handle};
	init_status(&r.st, err, errlen);
	return call_go(run_fallback, &r.st);
}

int ringlb_metrics(const char *addr, char *bound, size_t boundlen, char *err, size_t errlen) {
	struct ringlb_metrics_req r = {.addr = addr, .bound = bound, .boundlen = boundlen};
	init_status(&r.st, err, errlen);
	if (!check_out(&r.st, bound, "bound"))
		return r.st.rc;
	if (boundlen < 2) {
		set_err(&r.st, RINGLB_EINVAL, "ringlb: metrics: bound buffer too small");
		return r.st.rc;
	}
	bound[0] = '\0';
	return call_go(run_metrics, &r.st);
}

int ringlb_noop(void) {
	struct ringlb_status st;
	init_status(&st, NULL, 0);
	return call_go(run_noop, &st);
}

void ringlb_free(void *p) { free(p); }
