/*
 * pool.c - ringlb's worker threads, which run the requests of the callers
 * that must not run Go code themselves (dispatch.c): a caller queues its
 * request and sleeps on a semaphore (a futex: no spinning) until a worker
 * has answered it. Workers are created SCHED_OTHER explicitly, with the
 * host's asynchronous signals blocked, and never exit.
 *
 * A request waits for a worker until its deadline at most: if no worker has
 * taken it by then, its caller takes it back and fails it; a worker fails at
 * once a request whose deadline has passed. RINGLB_MAX_WORKERS (default
 * 32, 1 to 1024) caps the workers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "dispatch.h"

static int max_workers = 32;

void ringlb_pool_configure(void) {
	const char *w = getenv("RINGLB_MAX_WORKERS");
	if (w != NULL) {
		int n = atoi(w);
		if (n >= 1 && n <= 1024)
			max_workers = n;
	}
}

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

void ringlb_mutex_init_pi(pthread_mutex_t *mu) {
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_INHERIT);
	pthread_mutex_init(mu, &a);
	pthread_mutexattr_destroy(&a);
}

/* A realtime caller blocked on the queue lock lends its priority to the
 * holder, so a preempted worker cannot hold it up. */
static void q_init(void) { ringlb_mutex_init_pi(&q_mu); }

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
	ringlb_set_err(st, RINGLB_EBACKEND, msg);
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
	ringlb_start(&warm.st, NULL, 0);
	ringlbgo_noop(&warm);
	/* The runtime unblocked go_unblocked as this thread entered; its
	 * later entries leave the mask alone. */
	pthread_sigmask(SIG_BLOCK, &ringlb_async_signals, NULL);
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
			ringlb_set_err(p->st, RINGLB_EINTERNAL, "ringlb: cannot start a worker thread");
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
	pthread_sigmask(SIG_BLOCK, &ringlb_async_signals, &old);
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

void ringlb_hand_off(void (*fn)(void *), struct ringlb_status *st) {
	struct request r = {.fn = fn, .st = st};
	int64_t t0 = ringlb_mono_ns();
	if (sem_init(&r.done, 0, 0) != 0) {
		ringlb_set_err(st, RINGLB_EINTERNAL, "ringlb: cannot create a semaphore");
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
