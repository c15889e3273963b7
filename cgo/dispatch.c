/*
 * dispatch.c - the public C ABI (ringlb.h) and the calling discipline that
 * keeps realtime threads out of Go, the host's signals off Go stacks, and
 * every call within its balancer's timeout.
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
 * The Go runtime's own threads inherit the scheduling policy and the signal
 * mask of the thread that creates them. The runtime's first thread is
 * created by Go's constructor on the thread that loads the library, so a
 * constructor that runs before Go's (ringlb_early) demotes that thread to
 * SCHED_OTHER and blocks the host's asynchronous signals, and one that runs
 * after Go's (ringlb_after_go) gives both back before dlopen returns.
 *
 * Signals belong to the host. Its handlers must never run on a Go-owned
 * stack (a goroutine stack, or a Go thread's signal stack) nor interrupt Go
 * code, so every thread that runs Go code keeps the host's asynchronous
 * signals (async_signals) blocked while it does:
 *   - Go's own threads inherit them blocked from the loading thread;
 *   - ringlb's workers are born with them blocked;
 *   - a host thread blocks them for the length of each call into ringlb,
 *     whether it calls Go directly or waits for a worker.
 * A signal sent meanwhile is delivered to another thread, or to the same one
 * as soon as the call returns, on the host's own stack.
 *
 * The exception is go_unblocked: SIGPROF, SIGCHLD, SIGSTKFLT and signal 34
 * with Go 1.26, which the runtime unblocks on every thread as it starts
 * running Go code there. ringlb blocks them again on its workers after their
 * first entry, and makes a host thread's first direct entry a no-op after
 * which it blocks them again, but the runtime's own threads keep them
 * unblocked: a handler of these may run on a Go thread. There it runs on the
 * thread's signal stack (256 KiB, sigstack.c) if it has SA_ONSTACK, which
 * the runtime adds to the handlers installed before loading and ringlb
 * keeps; a handler installed
 * later without it would run on a goroutine stack, which ringlb reports
 * (ringlb_unsafe_signals) but cannot prevent. The runtime's SA_ONSTACK on the
 * handlers of every other asynchronous signal is taken back, since those
 * never reach a Go thread. Synchronous signals (SIGSEGV, SIGBUS, SIGFPE,
 * SIGILL, SIGTRAP, SIGSYS), SIGABRT, SIGPIPE and Go's preemption signal
 * SIGURG stay with Go, which handles them or forwards them to the host's
 * handler as it documents.
 *
 * A host thread's call cannot be cancelled (pthread_cancel, deferred or
 * asynchronous) while it is inside ringlb, and no handler of the host's can
 * run on it (to exit the thread or jump out) meanwhile: a request lives on
 * its caller's stack and points into the caller's memory, so its caller must
 * be there until it is answered. A cancellation requested meanwhile takes
 * effect as the call returns if asynchronous, else at the caller's next
 * cancellation point.
 *
 * Each balancer operation must return within the balancer's timeout,
 * counted from the moment its caller entered ringlb: the deadline goes with
 * the request (ringlb_status.deadline_ns). A realtime caller waits for its
 * worker until then, and if no worker has taken the request by then it takes
 * it back and fails it; a worker fails at once a request whose deadline has
 * passed; the Go side bounds the operation by the deadline.
 *
 * The child of a fork() has none of ringlb's threads nor the Go runtime's:
 * every call there fails at once with RINGLB_EINTERNAL.
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
/* Those of them the Go runtime unblocks on every thread that runs Go code,
 * measured on one of its threads once it is up (ringlb_go_started). */
static sigset_t go_unblocked;
static int go_unblocked_known; /* __atomic */
/* The loading thread's signal mask before ringlb_early blocked them. */
static sigset_t loader_mask;
/* Set on the loading thread only, until it has its mask back. */
static __thread int loader_mask_blocked;
/* The handlers before Go's constructor ran. */
static struct sigaction before_go[NSIG];

/* Set in the child of a fork(). */
static volatile sig_atomic_t forked_child;

static const char forked_child_msg[] = "ringlb: cannot be used in a forked child; exec or load it anew";

static void init_async_signals(void) {
	static const int go_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS,
	                                 SIGABRT, SIGPIPE, SIGURG, SIGKILL, SIGSTOP};
	sigfillset(&async_signals);
	for (size_t i = 0; i < sizeof go_signals / sizeof go_signals[0]; i++)
		sigdelset(&async_signals, go_signals[i]);
}

static void mark_forked_child(void) { forked_child = 1; }

/*
 * ringlb_restore_loader gives the loading thread its signal mask back, if
 * ringlb_after_go could not. It costs one TLS read on every other thread and
 * on every later call.
 */
void ringlb_restore_loader(void) {
	if (__builtin_expect(loader_mask_blocked, 0)) {
		loader_mask_blocked = 0;
		pthread_sigmask(SIG_SETMASK, &loader_mask, NULL);
	}
}

/* restore_loader_policy gives the loading thread, tid, its realtime policy
 * back, once. */
static void restore_loader_policy(pid_t tid) {
	if (loader_policy < 0 || __atomic_exchange_n(&loader_restored, 1, __ATOMIC_ACQ_REL))
		return;
	sched_setscheduler(tid, loader_policy, &loader_param);
}

/*
 * drop_go_onstack takes back the SA_ONSTACK that the Go runtime added to the
 * host's handlers of asynchronous signals when it initialised: those signals
 * never reach a thread while it runs Go code, so their handlers belong on
 * the host's stacks. Those of go_unblocked keep it, so that on the runtime's
 * threads they run on the signal stack. A handler the host changed since is
 * left alone.
 */
static void drop_go_onstack(void) {
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction now;
		if (sigismember(&async_signals, sig) != 1 || sigismember(&go_unblocked, sig) == 1 ||
		    sigaction(sig, NULL, &now) != 0)
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
	pthread_atfork(NULL, NULL, mark_forked_child);
	ringlb_sigstack_init();
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
 * ringlb_after_go runs after the Go runtime's constructor: constructors
 * without a priority run in link order, and the Go linker puts the runtime's
 * object (go.o) before the C objects of cgo packages; tests/c/run.sh checks
 * the order in the built library. Go's constructor installs the runtime's
 * signal handlers (so SIGSEGV's has changed once it has run) and creates the
 * runtime's first thread, which has taken this thread's policy and mask.
 * The loading thread gets both back before dlopen returns, so that neither
 * the host nor the children it forks and execs meanwhile see them changed.
 * Were the order ever different, the first call into ringlb and Go's init
 * would give them back instead.
 */
__attribute__((constructor)) static void ringlb_after_go(void) {
	struct sigaction segv;
	if (sigaction(SIGSEGV, NULL, &segv) != 0 || segv.sa_handler == before_go[SIGSEGV].sa_handler)
		return;
	ringlb_restore_loader();
	restore_loader_policy(0);
}

/*
 * ringlb_go_started is called by the Go runtime's first goroutine, on one of
 * the runtime's threads, once the runtime is up.
 */
void ringlb_go_started(void) {
	/* This thread's mask is the one Go gives all its threads: the
	 * asynchronous signals it does not block are those Go unblocked. */
	sigset_t cur;
	if (pthread_sigmask(SIG_BLOCK, NULL, &cur) == 0) {
		sigemptyset(&go_unblocked);
		for (int sig = 1; sig < NSIG; sig++)
			if (sigismember(&async_signals, sig) == 1 && sigismember(&cur, sig) == 0)
				sigaddset(&go_unblocked, sig);
		__atomic_store_n(&go_unblocked_known, 1, __ATOMIC_RELEASE);
	}
	/* Go's signal set-up ran in its constructor, before this thread. */
	drop_go_onstack();
	/* Normally done by ringlb_after_go. If the loader already exited, its
	 * thread id must not be reused for someone else's thread. */
	if (loader_policy >= 0 && syscall(SYS_tgkill, getpid(), loader_tid, 0) == 0)
		restore_loader_policy(loader_tid);
}

/*
 * ringlb_unsafe_signals writes the names of the signals of go_unblocked
 * whose handler is one of the host's functions without SA_ONSTACK to
 * buf[0..len), separated by spaces, and returns how many there are. Such a
 * handler runs on whatever stack a Go thread was on, often a goroutine's
 * few KiB.
 */
int ringlb_unsafe_signals(char *buf, size_t len) {
	int n = 0;
	size_t used = 0;
	if (len > 0)
		buf[0] = '\0';
	if (!__atomic_load_n(&go_unblocked_known, __ATOMIC_ACQUIRE))
		return 0;
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction now;
		if (sigismember(&go_unblocked, sig) != 1 || sigaction(sig, NULL, &now) != 0)
			continue;
		if (now.sa_handler == SIG_DFL || now.sa_handler == SIG_IGN || (now.sa_flags & SA_ONSTACK))
			continue;
		n++;
		const char *abbrev = sigabbrev_np(sig);
		char name[24];
		if (abbrev != NULL)
			snprintf(name, sizeof name, "SIG%s", abbrev);
		else if (sig >= SIGRTMIN)
			snprintf(name, sizeof name, "SIGRTMIN+%d", sig - SIGRTMIN);
		else
			snprintf(name, sizeof name, "signal %d", sig);
		if (len > 0 && used < len - 1)
			used += (size_t)snprintf(buf + used, len - used, "%s%s", n > 1 ? " " : "", name);
	}
	return n;
}

static int is_realtime(void) {
	int pol = sched_getscheduler(0) & ~SCHED_RESET_ON_FORK;
	return pol == SCHED_FIFO || pol == SCHED_RR
#ifdef SCHED_DEADLINE
	       || pol == SCHED_DEADLINE
#endif
	    ;
}

static void set_err(struct ringlb_status *st, int rc, const char *msg) {
	st->rc = rc;
	if (st->err != NULL && st->errlen > 0) {
		strncpy(st->err, msg, st->errlen - 1);
		st->err[st->errlen - 1] = '\0';
	}
}

static void init_status(struct ringlb_status *st, char *err, size_t errlen) {
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

/* ---- the worker pool ---- */

/* A request for a worker: run fn(st), st being the head of the request. */
struct request {
	void (*fn)(void *req);
	struct ringlb_status *st;
	sem_t done;
	struct request *next;
	int taken; /* q_mu: a worker has it, so its caller must wait for it */
};

static pthread_mutex_t q_mu;
static pthread_cond_t q_cv = PTHREAD_COND_INITIALIZER;
static pthread_once_t q_once = PTHREAD_ONCE_INIT;
static struct request *q_head, *q_tail;
/* q_len is the number of queued requests, n_idle the workers waiting for
 * one, including those signalled that have not woken yet. Require q_mu. */
static int q_len, n_workers, n_idle;
/* n_returning counts workers that have answered a request and are on their
 * way back to the queue (__atomic; decremented with q_mu held). A realtime
 * caller woken by its answer often runs, and queues its next request, before
 * the worker that answered it has the lock again: without this, that worker
 * would look busy and the caller would see a backlog. */
static int n_returning;
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
 * more requests are queued than there are workers free to take them (idle,
 * or on their way back after an answer), none is warming up, and the cap
 * allows it. If so it counts the worker in and the caller starts it after
 * unlocking. So the pool grows with the number of requests waiting at the
 * same time, and one caller's requests one after another never grow it.
 * Realtime callers arriving together do grow it even though the workers
 * they signalled have not run yet, which matters when each request waits
 * for a slow Redis.
 */
static int should_grow(void) {
	if (q_len <= n_idle + __atomic_load_n(&n_returning, __ATOMIC_ACQUIRE) || warming ||
	    n_workers >= max_workers)
		return 0;
	warming = 1;
	n_workers++;
	return 1;
}

/* timed_out fails a request that waited for a worker past its deadline. */
static void timed_out(struct ringlb_status *st) {
	char msg[160];
	snprintf(msg, sizeof msg,
	         "ringlb: no worker thread was free within the balancer's timeout (%d workers, all busy: "
	         "the backend is slow or down)",
	         __atomic_load_n(&n_workers, __ATOMIC_RELAXED));
	set_err(st, RINGLB_EBACKEND, msg);
}

/* serve runs a request on this worker, unless its deadline has passed
 * while it waited. */
static void serve(struct request *r) {
	if (r->st->deadline_ns != 0 && ringlb_mono_ns() >= r->st->deadline_ns)
		timed_out(r->st);
	else
		r->fn(r->st);
}

static void *worker_main(void *arg) {
	(void)arg;
	/* Named, so `top -H` and the tests can tell ringlb's workers apart. */
	pthread_setname_np(pthread_self(), "ringlb-worker");
	/* Enter Go once before serving: binds this thread's M for good (it is
	 * given back only at thread exit, and workers never exit) and leaves a
	 * spare M on the runtime's list for the next new thread. */
	struct ringlb_noop_req warm;
	init_status(&warm.st, NULL, 0);
	ringlbgo_noop(&warm);
	/* The runtime unblocked go_unblocked as this thread entered; its
	 * later entries leave the mask alone. */
	pthread_sigmask(SIG_BLOCK, &async_signals, NULL);
	pthread_mutex_lock(&q_mu);
	warming = 0;
	for (;;) {
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
		r->taken = 1;
		/* Requests wait behind this one (a backlog built up while this
		 * worker warmed, or since): add the next worker. */
		int spawn = should_grow();
		pthread_mutex_unlock(&q_mu);
		if (spawn && start_worker() != 0)
			worker_failed();
		serve(r);
		__atomic_add_fetch(&n_returning, 1, __ATOMIC_RELEASE);
		sem_post(&r->done); /* r may be gone after this */
		pthread_mutex_lock(&q_mu);
		__atomic_sub_fetch(&n_returning, 1, __ATOMIC_RELEASE);
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
			p->taken = 1;
			set_err(p->st, RINGLB_EINTERNAL, "ringlb: cannot start a worker thread");
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

void ringlb_pool_stats(int *workers, uint64_t *n, uint64_t *wait_ns) {
	*workers = __atomic_load_n(&n_workers, __ATOMIC_RELAXED);
	*n = __atomic_load_n(&handoffs, __ATOMIC_RELAXED);
	*wait_ns = __atomic_load_n(&handoff_wait_ns, __ATOMIC_RELAXED);
}

/* unqueue takes r out of the queue, with q_mu held. */
static void unqueue(struct request *r) {
	struct request *prev = NULL;
	for (struct request *p = q_head; p != NULL; prev = p, p = p->next) {
		if (p != r)
			continue;
		if (prev != NULL)
			prev->next = r->next;
		else
			q_head = r->next;
		if (q_tail == r)
			q_tail = prev;
		q_len--;
		return;
	}
}

/*
 * wait_served sleeps until r has been answered. With a deadline, it sleeps
 * until then at most: a request no worker has taken by then is taken back
 * and failed; one a worker has taken is waited for, since its worker writes
 * into it, and the Go side ends it by the same deadline.
 */
static void wait_served(struct request *r) {
	int64_t d = r->st->deadline_ns;
	if (d > 0) {
		struct timespec until = {.tv_sec = d / 1000000000, .tv_nsec = d % 1000000000};
		int rc;
		while ((rc = sem_clockwait(&r->done, CLOCK_MONOTONIC, &until)) != 0 && errno == EINTR) {
		}
		if (rc == 0)
			return;
		pthread_mutex_lock(&q_mu);
		int queued = !r->taken;
		if (queued)
			unqueue(r);
		pthread_mutex_unlock(&q_mu);
		if (queued) {
			timed_out(r->st);
			return;
		}
	}
	while (sem_wait(&r->done) != 0 && errno == EINTR) {
	}
}

/* hand_off queues fn(st) for a worker and sleeps until it is served. */
static void hand_off(void (*fn)(void *), struct ringlb_status *st) {
	struct request r = {.fn = fn, .st = st};
	int64_t t0 = ringlb_mono_ns();
	if (sem_init(&r.done, 0, 0) != 0) {
		set_err(st, RINGLB_EINTERNAL, "ringlb: cannot create a semaphore");
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
	int spawn = should_grow();
	pthread_mutex_unlock(&q_mu);
	if (spawn && start_worker() != 0)
		worker_failed();
	wait_served(&r);
	sem_destroy(&r.done);
	__atomic_add_fetch(&handoffs, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&handoff_wait_ns, (uint64_t)(ringlb_mono_ns() - t0), __ATOMIC_RELAXED);
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
		init_status(&bind.st, NULL, 0);
		ringlbgo_noop(&bind);
		pthread_sigmask(SIG_BLOCK, &async_signals, NULL);
		thread_bound = 1;
	}
	fn(st);
}

/* call_go runs fn(st), a Go function, on a thread that may run Go code,
 * and returns the request's result code. */
static int call_go(void (*fn)(void *), struct ringlb_status *st) {
	if (__builtin_expect(forked_child, 0)) {
		set_err(st, RINGLB_EINTERNAL, forked_child_msg);
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
	sigset_t old;
	pthread_sigmask(SIG_BLOCK, &async_signals, &old);
	if (direct)
		call_direct(fn, st);
	else
		hand_off(fn, st);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	/* A cancellation requested meanwhile acts now if asynchronous, else
	 * at the caller's next cancellation point. */
	pthread_setcancelstate(cancel_state, NULL);
	return st->rc;
}

/* call_op runs a balancer operation: fn(st) on the balancer with handle,
 * by the balancer's timeout from now. */
static int call_op(void (*fn)(void *), struct ringlb_status *st, uint64_t handle) {
	int64_t t = timeout_of(handle);
	if (t > 0)
		st->deadline_ns = ringlb_mono_ns() + t;
	return call_go(fn, st);
}

/* ---- what abi_gen.c's functions call ---- */

void ringlb_start(struct ringlb_status *st, char *err, size_t errlen) { init_status(st, err, errlen); }

int ringlb_out(struct ringlb_status *st, const void *p, long n, const char *what) {
	if (p != NULL || n <= 0)
		return 1;
	char msg[96];
	snprintf(msg, sizeof msg, "ringlb: %s is NULL", what);
	set_err(st, RINGLB_EINVAL, msg);
	return 0;
}

int ringlb_out_buf(struct ringlb_status *st, const char *p, size_t len, const char *what) {
	if (!ringlb_out(st, p, 1, what))
		return 0;
	if (len > 0)
		return 1;
	char msg[96];
	snprintf(msg, sizeof msg, "ringlb: %s has no room (%slen is 0)", what, what);
	set_err(st, RINGLB_EINVAL, msg);
	return 0;
}

int ringlb_call_go(void (*fn)(void *), struct ringlb_status *st) { return call_go(fn, st); }

int ringlb_call_op(void (*fn)(void *), struct ringlb_status *st, uint64_t handle) { return call_op(fn, st, handle); }

const char *ringlb_version(void) { return RINGLB_VERSION; }

void ringlb_free(void *p) { free(p); }
