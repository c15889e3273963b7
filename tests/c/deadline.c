/*
 * deadline.c SO_PATH REDIS_URL REDIS_PID - every call returns within its
 * balancer's timeout however many realtime callers queue for ringlb's
 * workers while Redis hangs.
 *
 * The timeout counts from the moment a caller enters ringlb, so the time it
 * waits for a worker counts: a request no worker has taken by then is taken
 * back and failed, a worker fails at once one whose deadline has passed, and
 * the operation itself ends by the same deadline (dispatch.c).
 *
 * A real redis-server (REDIS_PID) answers one call, then is stopped with
 * SIGSTOP (and continued when the test ends): connections open, nothing
 * answers. Timeout 250 ms. ROUNDS rounds of two bursts of SCHED_FIFO
 * threads calling ringlb_next at once (SCHED_OTHER callers under
 * RINGLB_DISPATCH=workers when realtime is refused): a floor burst of 32
 * callers, as many as the default cap of workers, where nothing waits for a
 * worker, then CALLERS, three times as many.
 *
 * Fails unless every call returns RINGLB_EBACKEND and, over the full bursts:
 *   - the median call, and the two thirds of the calls that are fastest
 *     (as many as cannot have had a worker at once), take at most 1.2 x the
 *     timeout: the bound, strict. Calls that never reach a worker
 *     are failed by their own (realtime) threads at their deadline, so
 *     scheduling noise on the workers does not move these;
 *   - the slowest takes at most 1.2 x the timeout plus the larger of
 *     STUCK_MARGIN_MS (2 s) and twice the floor bursts' worst excess over
 *     the timeout: no call is stuck (Redis stays stopped, so a call its
 *     deadline does not end never returns). A call a worker serves ends
 *     when that SCHED_OTHER worker gets a CPU back, which the floor burst
 *     measures: 32 workers whose calls end at once took +5 to +30 ms on a
 *     quiet 2-core machine and +260 ms to +1.3 s at load averages of 12 to
 *     20, in bursts where nothing queues; a full burst took +286 ms right
 *     after a floor burst of +39 ms, and +559 ms after one of +129 ms with
 *     both cores saturated (load average 11). A strict 1.2 x bound on
 *     every call would measure the machine, not ringlb. The median bound is
 *     the one that fails the old behaviour, on any machine.
 * Before the deadline counted from entry, callers beyond the workers waited
 * for a worker and then a whole timeout: about callers/32 x the timeout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hostlib.h"
#include "loadlib.h"

#define TIMEOUT_MS 250
#define WORKERS 32 /* RINGLB_MAX_WORKERS's default */
#define CALLERS (3 * WORKERS)
#define ROUNDS 3
#define STUCK_MARGIN_MS 2000

static typeof(&ringlb_open) p_open;
static typeof(&ringlb_next) p_next;
static typeof(&ringlb_release) p_release;
static uint64_t handle;
static pid_t redis_pid;
static pthread_attr_t attr;

static pthread_barrier_t start;
static int64_t lat[CALLERS];
static int rcs[CALLERS];

static void continue_redis(void) {
	if (redis_pid > 0)
		kill(redis_pid, SIGCONT);
}

static void *caller(void *arg) {
	long i = (long)arg;
	const char *dests[] = {"user/1001", "user/1002", "user/1003"};
	char call[32], err[RINGLB_ERRLEN];
	int chosen = -1;
	snprintf(call, sizeof call, "deadline-%ld", i);
	pthread_barrier_wait(&start);
	int64_t t0 = now_ns();
	rcs[i] = p_next(handle, 3, dests, call, &chosen, err, sizeof err);
	lat[i] = now_ns() - t0;
	if (rcs[i] != RINGLB_EBACKEND)
		fprintf(stderr, "call %ld: rc %d %s\n", i, rcs[i], err);
	return NULL;
}

/* burst makes n threads call at once and leaves their latencies and
 * results in lat[0..n) and rcs[0..n). */
static int burst(int n) {
	pthread_t th[CALLERS];
	pthread_barrier_init(&start, NULL, (unsigned)n);
	for (long i = 0; i < n; i++) {
		int e = pthread_create(&th[i], &attr, caller, (void *)i);
		if (e != 0) {
			fprintf(stderr, "pthread_create: %s\n", strerror(e));
			return -1;
		}
	}
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start);
	return 0;
}

static int cmp64(const void *a, const void *b) {
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void *noop(void *arg) { return arg; }

/* rt_attr makes attr SCHED_FIFO 10 and reports whether that is allowed. */
static int rt_attr(pthread_attr_t *attr) {
	fifo_attr(attr);
	pthread_t t;
	if (pthread_create(&t, attr, noop, NULL) != 0) {
		pthread_attr_destroy(attr);
		pthread_attr_init(attr);
		return 0;
	}
	pthread_join(t, NULL);
	return 1;
}

int main(int argc, char **argv) {
	if (argc != 4) {
		fprintf(stderr, "usage: %s ringlb.so REDIS_URL REDIS_PID\n", argv[0]);
		return 2;
	}
	redis_pid = (pid_t)atoi(argv[3]);
	atexit(continue_redis);
	int realtime = rt_attr(&attr);
	if (!realtime)
		setenv("RINGLB_DISPATCH", "workers", 1); /* read when the library loads */
	void *so = load_library(argv[1]);
	LOAD_SYM(so, open);
	LOAD_SYM(so, next);
	LOAD_SYM(so, release);
	char err[RINGLB_ERRLEN], timeout[16];
	snprintf(timeout, sizeof timeout, "%dms", TIMEOUT_MS);
	const char *keys[] = {"url", "timeout"}, *vals[] = {argv[2], timeout};
	int rc = p_open("deadline", 2, keys, vals, &handle, err, sizeof err);
	const char *dests[] = {"user/1001"};
	int chosen = -1, removed = 0;
	if (rc == RINGLB_OK)
		rc = p_next(handle, 1, dests, "warm", &chosen, err, sizeof err);
	if (rc == RINGLB_OK)
		rc = p_release(handle, dests[0], "warm", &removed, err, sizeof err);
	if (rc != RINGLB_OK) {
		fprintf(stderr, "FAIL: Redis must answer before it is stopped: %d %s\n", rc, err);
		return 1;
	}
	if (kill(redis_pid, SIGSTOP) != 0) {
		perror("FAIL: SIGSTOP redis-server");
		return 1;
	}

	/* Each round: a floor burst of as many callers as there are workers
	 * (nothing waits for a worker, so its worst excess over the timeout is
	 * what this machine takes to wake 32 workers whose calls end at once),
	 * then the full burst. */
	const int64_t timeout_ns = (int64_t)TIMEOUT_MS * 1000000;
	int64_t floor_worst = 0, all[ROUNDS * CALLERS];
	int n = 0, wrong = 0;
	for (int r = 0; r < ROUNDS; r++) {
		if (burst(WORKERS) != 0)
			return 1;
		for (int i = 0; i < WORKERS; i++) {
			wrong += rcs[i] != RINGLB_EBACKEND;
			if (lat[i] > floor_worst)
				floor_worst = lat[i];
		}
		if (burst(CALLERS) != 0)
			return 1;
		for (int i = 0; i < CALLERS; i++) {
			wrong += rcs[i] != RINGLB_EBACKEND;
			all[n++] = lat[i];
		}
	}
	const int64_t excess = floor_worst > timeout_ns ? floor_worst - timeout_ns : 0;
	const int64_t stuck_ns = (int64_t)STUCK_MARGIN_MS * 1000000;
	const int64_t bound = timeout_ns * 12 / 10, max_bound = bound + (2 * excess > stuck_ns ? 2 * excess : stuck_ns);
	int over = 0, over_350 = 0;
	for (int i = 0; i < n; i++) {
		over += all[i] > bound;
		over_350 += all[i] > 350 * 1000000LL;
	}
	qsort(all, (size_t)n, sizeof all[0], cmp64);
	int64_t median = all[n / 2], two_thirds = all[n * 2 / 3 - 1], worst = all[n - 1];
	printf("c deadline: timeout %d ms, Redis stopped, %d rounds of %d %s callers at once: median %.1f ms, "
	       "2/3 %.1f ms, max %.1f ms (bounds %.0f, %.0f and %.1f ms); %d of %d calls over 1.2 x the timeout, %d over "
	       "350 ms, %d not RINGLB_EBACKEND; floor: %d callers at once (one per worker), worst %.1f ms\n",
	       TIMEOUT_MS, ROUNDS, CALLERS, realtime ? "SCHED_FIFO" : "SCHED_OTHER (RINGLB_DISPATCH=workers)",
	       median / 1e6, two_thirds / 1e6, worst / 1e6, bound / 1e6, bound / 1e6, max_bound / 1e6, over, n, over_350,
	       wrong, WORKERS, floor_worst / 1e6);
	if (wrong || median > bound || two_thirds > bound || worst > max_bound) {
		printf("FAIL\n");
		return 1;
	}
	printf("PASS\n");
	return 0;
}
