/*
 * pool_growth.c SO_PATH - the worker pool grows with the requests that wait
 * at the same time, and only with them.
 *
 * One realtime caller making SERIAL_CALLS calls one after another must
 * leave at most two workers (the pool once grew to its cap of 32: the
 * caller, woken by its answer, queued its next request before the worker
 * that answered was back, and that looked like a backlog).
 *
 * Realtime callers arriving together while the backend is slow must each
 * get a worker thread of their own, not queue behind two (the pool once
 * never grew for realtime bursts: the callers saw signalled-but-not-yet-
 * running workers as idle). A loopback listener that never answers plays a
 * hung Redis; each call waits for its 1 s timeout. Ten SCHED_FIFO threads
 * call at once; after they are answered there must be at least ten
 * workers. Workers start one at a time, each once the previous one runs: on
 * a loaded machine a new SCHED_OTHER thread waited up to 290 ms for a CPU,
 * so the timeout leaves the nine starts time.
 *
 * Workers are counted by ringlb's own metric (ringlb_workers): the threads
 * the Go runtime starts from a worker inherit its name, so names overcount.
 * Realtime refused: exit 77 (the caller reports SKIPPED).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hostlib.h"
#include "loadlib.h"
#include "scrape.h"

#define CALLERS 10
#define SERIAL_CALLS 10000

static typeof(&ringlb_next) p_next;
static typeof(&ringlb_release) p_release;
static uint64_t handle, mem_handle;
static int serial_failures;
static pthread_barrier_t start;
static int rcs[CALLERS];

static void *caller(void *arg) {
	long i = (long)arg;
	const char *dests[] = {"user/1001", "user/1002"};
	char call[32], err[RINGLB_ERRLEN];
	int chosen;
	snprintf(call, sizeof call, "pool-%ld", i);
	pthread_barrier_wait(&start);
	rcs[i] = p_next(handle, 2, dests, call, &chosen, err, sizeof err);
	return NULL;
}

/* serial makes SERIAL_CALLS next+release pairs, one after another. */
static void *serial(void *arg) {
	(void)arg;
	const char *dests[] = {"user/1001", "user/1002", "user/1003"};
	char call[32];
	for (int i = 0; i < SERIAL_CALLS / 2; i++) {
		snprintf(call, sizeof call, "serial-%d", i);
		if (next_release(p_next, p_release, mem_handle, 3, dests, call) != 0)
			serial_failures++;
	}
	return NULL;
}

/* create_rt starts a realtime thread; it returns 0, 77 (skip) when realtime
 * is refused, or 1. */
static int create_rt(pthread_t *t, pthread_attr_t *attr, void *(*fn)(void *), void *arg) {
	int e = pthread_create(t, attr, fn, arg);
	if (e == EPERM) {
		printf("SKIPPED: realtime scheduling refused (EPERM); pool growth not tested\n");
		return 77;
	}
	if (e != 0) {
		fprintf(stderr, "pthread_create: %s\n", strerror(e));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv) {
	if (argc != 2) {
		fprintf(stderr, "usage: %s ringlb.so\n", argv[0]);
		return 2;
	}
	char url[64], err[RINGLB_ERRLEN];
	if (hung_redis(url, sizeof url) != 0)
		return 1;
	void *so = load_library(argv[1]);
	typeof(&ringlb_open) p_open;
	typeof(&ringlb_metrics) p_metrics;
	LOAD_SYM(so, open);
	LOAD_SYM(so, next);
	LOAD_SYM(so, release);
	LOAD_SYM(so, metrics);
	const char *keys[] = {"url", "timeout"}, *vals[] = {url, "1s"};
	int rc = p_open("pool-growth", 2, keys, vals, &handle, err, sizeof err);
	if (rc != RINGLB_OK) {
		fprintf(stderr, "FAIL open: %d %s\n", rc, err);
		return 1;
	}
	pthread_attr_t attr;
	fifo_attr(&attr);
	if ((rc = p_open("pool-serial", 0, NULL, NULL, &mem_handle, err, sizeof err)) != RINGLB_OK) {
		fprintf(stderr, "FAIL open: %d %s\n", rc, err);
		return 1;
	}
	pthread_t one;
	int e = create_rt(&one, &attr, serial, NULL);
	if (e != 0)
		return e;
	pthread_join(one, NULL);
	int failed = serial_failures;
	double serial_workers = scrape_metric(p_metrics, "ringlb_workers");
	if (serial_workers < 1 || serial_workers > 2) {
		fprintf(stderr, "FAIL %g workers after one realtime caller's %d calls one after another (want 1 or 2)\n",
		        serial_workers, SERIAL_CALLS);
		failed++;
	}
	pthread_barrier_init(&start, NULL, CALLERS);
	pthread_t t[CALLERS];
	for (long i = 0; i < CALLERS; i++)
		if ((e = create_rt(&t[i], &attr, caller, (void *)i)) != 0)
			return e;
	for (int i = 0; i < CALLERS; i++)
		pthread_join(t[i], NULL);
	double workers = scrape_metric_within(p_metrics, "ringlb_workers", CALLERS, 1e9);
	for (int i = 0; i < CALLERS; i++) {
		if (rcs[i] != RINGLB_EBACKEND) {
			fprintf(stderr, "FAIL caller %d: rc %d, want RINGLB_EBACKEND\n", i, rcs[i]);
			failed++;
		}
	}
	if (workers < CALLERS) {
		fprintf(stderr, "FAIL %g workers for %d realtime callers waiting together\n", workers, CALLERS);
		failed++;
	}
	printf("c pool_growth: %g worker(s) after one realtime caller's %d calls one after another; %g workers for %d "
	       "callers waiting together; %d failed\n",
	       serial_workers, SERIAL_CALLS, workers, CALLERS, failed);
	return failed ? 1 : 0;
}
