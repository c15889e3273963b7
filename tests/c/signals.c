/*
 * signals.c SO_PATH [REDIS_URL] - a host that owns its signals, as FreeSWITCH
 * does, bombards itself with them while ringlb runs Go code.
 *
 * The host installs handlers that use a large stack (HANDLER_STACK bytes, far
 * more than Go's 32 KiB signal stack):
 *   - with plain signal() before it loads ringlb (FreeSWITCH's start-up),
 *   - with sigaction() and no SA_ONSTACK after loading (a module that
 *     installs its own later).
 * Caller threads (host threads, SCHED_OTHER) run next+release in a loop, on
 * the memory backend and, given REDIS_URL, on the Redis backend too (its
 * goroutines, timers and sockets). The main thread sends each signal in turn,
 * alternating process-directed (kill) and thread-directed (pthread_kill to a
 * caller, often while it is inside Go), and waits until the handler has run
 * before sending the next, so every signal is accounted for.
 *
 * Fails if the process crashes or hangs, if a signal is not handled within
 * SIGNAL_WAIT_MS, if the handler ever runs on a thread that is not one of
 * the host's (a Go or ringlb thread) or off the host thread's own stack, or
 * if any ringlb call fails.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hostlib.h"
#include "loadlib.h"

#define CALLERS 4
#define HANDLER_STACK (96 * 1024)
#define SIGNAL_WAIT_MS 5000
#define DEADLINE_S 150

static typeof(&ringlb_open) p_open;
static typeof(&ringlb_next) p_next;
static typeof(&ringlb_release) p_release;
static typeof(&ringlb_load) p_load;

static const int host_signals[] = {SIGHUP, SIGUSR1, SIGUSR2, SIGALRM, SIGTERM};
#define NSIG_HOST (int)(sizeof host_signals / sizeof host_signals[0])

/* The stack of each host thread, recorded when it starts; NULL on threads
 * the host did not create (Go's, ringlb's workers). */
static __thread char *stack_lo, *stack_hi;

static atomic_long handled, off_host_thread, off_own_stack;
static atomic_long call_failures, calls;
static atomic_int stop;
static sigset_t host_set;

static void handler(int sig) {
	volatile char buf[HANDLER_STACK];
	/* Touch every page, as a handler with deep frames would. */
	for (size_t i = 0; i < sizeof buf; i += 1024)
		buf[i] = (char)sig;
	char *sp = (char *)&buf[0];
	if (stack_lo == NULL)
		atomic_fetch_add(&off_host_thread, 1);
	else if (sp < stack_lo || sp + sizeof buf > stack_hi)
		atomic_fetch_add(&off_own_stack, 1);
	atomic_fetch_add(&handled, 1);
}

static void record_stack(void) {
	if (thread_stack(&stack_lo, &stack_hi) != 0) {
		fprintf(stderr, "FAIL: cannot read this thread's stack bounds\n");
		exit(1);
	}
}

static uint64_t handles[2];
static int nhandles;
static const char *dests[] = {"user/1001", "user/1002", "user/1003", "user/1004"};
#define NDEST 4

static void *caller(void *arg) {
	long id = (long)arg;
	char call[64];
	record_stack();
	pthread_sigmask(SIG_UNBLOCK, &host_set, NULL);
	for (long i = 0; !atomic_load(&stop); i++) {
		snprintf(call, sizeof call, "c%ld-%ld", id, i);
		if (next_release(p_next, p_release, handles[i % nhandles], NDEST, dests, call) != 0) {
			atomic_fetch_add(&call_failures, 1);
			continue;
		}
		atomic_fetch_add(&calls, 1);
	}
	return NULL;
}

static void *watchdog(void *arg) {
	(void)arg;
	sleep(DEADLINE_S);
	fprintf(stderr, "FAIL: still running after %d s (hung)\n", DEADLINE_S);
	_exit(2);
}

static long now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: %s SO_PATH [REDIS_URL] (SIGNALS=N in the environment)\n", argv[0]);
		return 2;
	}
	long total = getenv("SIGNALS") ? atol(getenv("SIGNALS")) : 20000;
	record_stack();

	/* The host's handlers, before the module loads, as FreeSWITCH installs
	 * them: signal(), so no SA_ONSTACK. */
	for (int i = 0; i < NSIG_HOST - 1; i++)
		signal(host_signals[i], handler);

	sigset_t mask_before, mask_after;
	pthread_sigmask(SIG_SETMASK, NULL, &mask_before);
	void *so = load_library(argv[1]);
	LOAD_SYM(so, open);
	LOAD_SYM(so, next);
	LOAD_SYM(so, release);
	LOAD_SYM(so, load);

	/* And one installed after loading, again without SA_ONSTACK; SIGHUP
	 * installed again the same way (a module reinstalling log rotation). */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	sigaction(host_signals[NSIG_HOST - 1], &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	char err[RINGLB_ERRLEN];
	if (p_open("sig-mem", 0, NULL, NULL, &handles[nhandles++], err, sizeof err) != RINGLB_OK) {
		fprintf(stderr, "FAIL open memory: %s\n", err);
		return 1;
	}
	/* The loading thread has its own mask back after its first call, and
	 * the handlers it installed before loading stay off Go's signal stack. */
	pthread_sigmask(SIG_SETMASK, NULL, &mask_after);
	for (int sig = 1; sig < NSIG; sig++) {
		if (sigismember(&mask_before, sig) != sigismember(&mask_after, sig)) {
			fprintf(stderr, "FAIL: the loading thread's mask of signal %d changed\n", sig);
			return 1;
		}
	}
	struct sigaction now;
	sigaction(SIGUSR1, NULL, &now);
	if (now.sa_handler != handler || (now.sa_flags & SA_ONSTACK)) {
		fprintf(stderr, "FAIL: the host's SIGUSR1 handler was changed (flags %#x)\n", (unsigned)now.sa_flags);
		return 1;
	}
	if (argc > 2) {
		const char *k[] = {"url", "lease", "timeout"};
		const char *v[] = {argv[2], "3", "2"};
		if (p_open("sig-redis", 3, k, v, &handles[nhandles++], err, sizeof err) != RINGLB_OK) {
			fprintf(stderr, "FAIL open redis: %s\n", err);
			return 1;
		}
	}

	/* The sender and the watchdog keep the signals blocked, so
	 * process-directed ones go to the callers, or to Go's threads if those
	 * let them in. Callers unblock them when they start. */
	sigemptyset(&host_set);
	for (int i = 0; i < NSIG_HOST; i++)
		sigaddset(&host_set, host_signals[i]);
	pthread_sigmask(SIG_BLOCK, &host_set, NULL);
	pthread_t wd, callers[CALLERS];
	pthread_create(&wd, NULL, watchdog, NULL);
	for (long i = 0; i < CALLERS; i++)
		pthread_create(&callers[i], NULL, caller, (void *)i);

	long start = now_ms();
	for (long n = 0; n < total; n++) {
		int sig = host_signals[n % NSIG_HOST];
		long before = atomic_load(&handled);
		if (n % 2 == 0)
			kill(getpid(), sig);
		else
			pthread_kill(callers[(n / 2) % CALLERS], sig);
		long t0 = now_ms();
		while (atomic_load(&handled) == before) {
			if (now_ms() - t0 > SIGNAL_WAIT_MS) {
				fprintf(stderr, "FAIL: signal %d (#%ld, %s) not handled within %d ms\n", sig, n,
				        n % 2 == 0 ? "process-directed" : "thread-directed", SIGNAL_WAIT_MS);
				_exit(1);
			}
			usleep(20);
		}
	}
	long took = now_ms() - start;
	atomic_store(&stop, 1);
	for (int i = 0; i < CALLERS; i++)
		pthread_join(callers[i], NULL);

	int64_t load[NDEST];
	for (int h = 0; h < nhandles; h++) {
		if (p_load(handles[h], NDEST, dests, load, err, sizeof err) != RINGLB_OK) {
			fprintf(stderr, "FAIL load: %s\n", err);
			return 1;
		}
		for (int i = 0; i < NDEST; i++) {
			if (load[i] != 0) {
				fprintf(stderr, "FAIL: %s still has load %lld\n", dests[i], (long long)load[i]);
				atomic_fetch_add(&call_failures, 1);
			}
		}
	}
	printf("signals sent %ld, handled %ld in %ld ms; handler on a non-host thread %ld, off its own stack %ld;"
	       " %ld next+release pairs on %d backend(s), %ld failed\n",
	       total, atomic_load(&handled), took, atomic_load(&off_host_thread), atomic_load(&off_own_stack),
	       atomic_load(&calls), nhandles, atomic_load(&call_failures));
	if (atomic_load(&handled) != total || atomic_load(&off_host_thread) || atomic_load(&off_own_stack) ||
	    atomic_load(&call_failures) || atomic_load(&calls) == 0) {
		printf("FAIL\n");
		return 1;
	}
	printf("PASS\n");
	return 0;
}
