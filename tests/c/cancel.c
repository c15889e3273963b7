/*
 * cancel.c SO_PATH - callers that are cancelled, or made to exit by a
 * signal handler, while they wait in ringlb for a slow backend must never
 * leave a worker writing into their freed stack.
 *
 * A request for a worker lives on its caller's stack, and the worker writes
 * the answer into it and into the caller's buffers. So ringlb keeps a caller
 * from being cancelled while it is inside a call, and holds the host's
 * signals back meanwhile: a cancellation (deferred or asynchronous) takes
 * effect once the call has returned, and a handler that calls pthread_exit
 * runs after it.
 *
 * A loopback listener that never answers plays a hung Redis (timeout 2 s,
 * so that the callers are still waiting when a loaded machine gets round
 * to stopping them). Each caller runs on a stack this test maps itself,
 * calls ringlb_next, and is, while it waits:
 *   - cancelled (deferred cancellation, the default),
 *   - cancelled with asynchronous cancellation enabled, or
 *   - sent SIGUSR1, whose handler calls pthread_exit.
 * Callers are SCHED_FIFO when allowed, so they wait for a worker (run it
 * with RINGLB_DISPATCH=workers too, so they do whatever their policy), and
 * SCHED_OTHER under RINGLB_DISPATCH=direct, so they run Go code themselves
 * (realtime threads must not). Once a
 * caller is joined its stack is made inaccessible (PROT_NONE): a worker
 * writing into it later crashes the test. Then the test waits past the
 * timeout and checks ringlb still answers.
 *
 * Fails on a crash, if a deferred-cancelled caller's call did not return
 * (with RINGLB_EBACKEND) before the cancellation took effect, if a caller
 * did not end as asked, or if ringlb is wedged afterwards.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hostlib.h"
#include "loadlib.h"

#define PER_MODE 3
#define MODES 3
#define CALLERS (PER_MODE * MODES)
#define STACK_SIZE (256 * 1024)

enum { DEFERRED, ASYNCHRONOUS, EXIT_BY_SIGNAL };
static const char *const mode_names[] = {"deferred cancel", "asynchronous cancel", "pthread_exit in a handler"};

static typeof(&ringlb_open) p_open;
static typeof(&ringlb_next) p_next;
static uint64_t handle;

struct caller {
	pthread_t t;
	int mode;
	void *stack;
	_Atomic int64_t t_start, t_end; /* ns; t_end 0 until the call returned */
	int64_t t_stop;                 /* when it was cancelled or signalled */
	atomic_int rc;
	atomic_int unwound; /* its cleanup handler ran: it was cancelled or exited */
};
static struct caller callers[CALLERS];
static atomic_int entered;

static void exit_handler(int sig) {
	(void)sig;
	pthread_exit((void *)42);
}

static void unwound(void *arg) { atomic_store(&((struct caller *)arg)->unwound, 1); }

static void *caller_main(void *arg) {
	struct caller *c = arg;
	pthread_cleanup_push(unwound, c);
	const char *dests[] = {"user/1001", "user/1002"};
	char call[32], err[RINGLB_ERRLEN];
	int chosen = -1;
	snprintf(call, sizeof call, "cancel-%ld", (long)(c - callers));
	if (c->mode == ASYNCHRONOUS)
		pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, NULL);
	atomic_store(&c->t_start, now_ns());
	atomic_fetch_add(&entered, 1);
	int rc = p_next(handle, 2, dests, call, &chosen, err, sizeof err);
	atomic_store(&c->t_end, now_ns());
	atomic_store(&c->rc, rc);
	/* The cancellation requested meanwhile acts here. */
	pthread_testcancel();
	pthread_cleanup_pop(0);
	return NULL;
}

int main(int argc, char **argv) {
	if (argc != 2) {
		fprintf(stderr, "usage: %s ringlb.so\n", argv[0]);
		return 2;
	}
	char url[64], err[RINGLB_ERRLEN];
	if (hung_redis(url, sizeof url) != 0)
		return 1;
	on_signal(SIGUSR1, exit_handler, 0);

	void *so = load_library(argv[1]);
	LOAD_SYM(so, open);
	LOAD_SYM(so, next);
	const char *keys[] = {"url", "timeout"}, *vals[] = {url, "2s"};
	int rc = p_open("cancel", 2, keys, vals, &handle, err, sizeof err);
	if (rc != RINGLB_OK) {
		fprintf(stderr, "FAIL open: %d %s\n", rc, err);
		return 1;
	}

	const char *dispatch = getenv("RINGLB_DISPATCH");
	int want_rt = dispatch == NULL || strcmp(dispatch, "direct") != 0;
	int realtime = 0;
	for (int i = 0; i < CALLERS; i++) {
		struct caller *c = &callers[i];
		c->mode = i % MODES;
		c->stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
		if (c->stack == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		pthread_attr_t attr;
		if (want_rt)
			fifo_attr(&attr);
		else
			pthread_attr_init(&attr);
		pthread_attr_setstack(&attr, c->stack, STACK_SIZE);
		int e = pthread_create(&c->t, &attr, caller_main, c);
		if (e == EPERM) {
			pthread_attr_destroy(&attr);
			pthread_attr_init(&attr);
			pthread_attr_setstack(&attr, c->stack, STACK_SIZE);
			e = pthread_create(&c->t, &attr, caller_main, c);
		} else if (e == 0 && want_rt) {
			realtime++;
		}
		pthread_attr_destroy(&attr);
		if (e != 0) {
			fprintf(stderr, "pthread_create: %s\n", strerror(e));
			return 1;
		}
	}
	/* Each caller's call waits 2 s for the hung backend: stop them
	 * while they wait (checked below for the deferred ones). */
	while (atomic_load(&entered) < CALLERS)
		usleep(1000);
	usleep(100 * 1000);
	for (int i = 0; i < CALLERS; i++) {
		struct caller *c = &callers[i];
		c->t_stop = now_ns();
		if (c->mode == EXIT_BY_SIGNAL)
			pthread_kill(c->t, SIGUSR1);
		else
			pthread_cancel(c->t);
	}
	int failed = 0, waited_in_call = 0;
	for (int i = 0; i < CALLERS; i++) {
		struct caller *c = &callers[i];
		void *res;
		pthread_join(c->t, &res);
		/* The thread is gone: its stack must be left alone from now on. */
		if (mprotect(c->stack, STACK_SIZE, PROT_NONE) != 0) {
			perror("mprotect");
			return 1;
		}
		/* An asynchronous cancellation acts as the call re-enables
		 * cancellation, and glibc 2.36 then leaves the result NULL. */
		void *want = c->mode == EXIT_BY_SIGNAL ? (void *)42 : PTHREAD_CANCELED;
		if (!atomic_load(&c->unwound) || (c->mode != ASYNCHRONOUS && res != want)) {
			fprintf(stderr, "FAIL caller %d (%s) ended with %p, unwound %d; want %p, unwound\n", i,
			        mode_names[c->mode], res, atomic_load(&c->unwound), want);
			failed++;
		}
		int64_t end = atomic_load(&c->t_end);
		if (c->mode == DEFERRED) {
			if (end == 0 || atomic_load(&c->rc) != RINGLB_EBACKEND) {
				fprintf(stderr, "FAIL caller %d (%s): its call did not return before it was cancelled (rc %d)\n",
				        i, mode_names[c->mode], atomic_load(&c->rc));
				failed++;
			} else if (c->t_stop > atomic_load(&c->t_start) && c->t_stop < end) {
				waited_in_call++;
			}
		}
	}
	/* Past every timeout: a worker still holding one of those requests
	 * would have written into a stack that is gone by now. */
	usleep(2500 * 1000);
	const char *mem_dests[] = {"user/1001"};
	uint64_t mem;
	int chosen = -1;
	rc = p_open("cancel-mem", 0, NULL, NULL, &mem, err, sizeof err);
	if (rc == RINGLB_OK)
		rc = p_next(mem, 1, mem_dests, "after", &chosen, err, sizeof err);
	if (rc != RINGLB_OK || chosen != 0) {
		fprintf(stderr, "FAIL: ringlb after the cancellations: rc %d %s\n", rc, err);
		failed++;
	}
	if (waited_in_call == 0) {
		fprintf(stderr, "FAIL: no deferred cancellation arrived while its call waited\n");
		failed++;
	}
	printf("c cancel: %d callers (%d realtime; %s) stopped while waiting for a hung backend, %d of the %d deferred "
	       "ones cancelled during their call; no write into a freed stack; %d failed\n",
	       CALLERS, realtime, dispatch != NULL ? dispatch : "auto", waited_in_call, PER_MODE,
	       failed);
	return failed ? 1 : 0;
}
