/*
 * spaced.c - the process CPU one call into ringlb costs when calls come one
 * at a time, as the switch makes them (a tracked call makes three, spread
 * over its life), rather than back to back as bench/cabi.c makes them.
 * What a spaced call costs is mostly waking threads: the caller's, ringlb's
 * worker's (for a realtime caller), and the Go runtime's monitor (sysmon),
 * which polls while a P stays in the syscall state after a call into Go
 * returns (docs/freeswitch.md, "What ringlb costs the switch").
 *
 *   gcc -O2 -pthread -Icgo -o spaced bench/spaced.c -ldl
 *   ./spaced build/lua5.3/ringlb.so [CALLS [GAP_MS [ROUNDS]]]
 *
 * A caller thread (SCHED_FIFO 10, or SCHED_OTHER with SPACED_POLICY=other;
 * RINGLB_DISPATCH applies as in the switch) makes CALLS calls on a memory
 * balancer (count, answered, release of one call, in turn), GAP_MS apart,
 * and in each round also the same sleeps with no calls. Printed: the
 * process CPU (all threads) per call over the same sleeps with none, per
 * round, and by thread for the last round: the caller, ringlb's workers,
 * the rest (the Go runtime's threads; the main thread only waits).
 * Figures are the machine's: compare builds in one run (the ratios hold,
 * the absolute values move with the machine's load and its CPUs' idle
 * states).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../tests/c/hostlib.h"
#include "../tests/c/loadlib.h"

static typeof(&ringlb_open) p_open;
static typeof(&ringlb_count) p_count, p_answered, p_release;
static int calls = 300, gap_ms = 25, rounds = 3;
static pid_t caller_tid;

static double process_cpu_ms(void) {
	struct rusage u;
	getrusage(RUSAGE_SELF, &u);
	return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}

/* threads adds each thread's CPU (ns, from schedstat) and wake-ups (time
 * slices) to the caller's, the workers' or the rest's. */
static void threads(double ms[3], unsigned long long slices[3]) {
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	memset(ms, 0, 3 * sizeof ms[0]);
	memset(slices, 0, 3 * sizeof slices[0]);
	while (d != NULL && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char path[300], name[32] = "";
		unsigned long long ns = 0, wait = 0, n = 0;
		if (task_name(e->d_name, name, sizeof name) != 0)
			continue;
		snprintf(path, sizeof path, "/proc/self/task/%s/schedstat", e->d_name);
		FILE *f = fopen(path, "r");
		if (f != NULL) {
			if (fscanf(f, "%llu %llu %llu", &ns, &wait, &n) != 3)
				ns = n = 0;
			fclose(f);
		}
		int k = atoi(e->d_name) == caller_tid ? 0 : strncmp(name, "ringlb-worker", 13) == 0 ? 1 : 2;
		ms[k] += ns / 1e6;
		slices[k] += n;
	}
	if (d != NULL)
		closedir(d);
}

static void *caller(void *arg) {
	(void)arg;
	caller_tid = (pid_t)syscall(SYS_gettid);
	uint64_t h;
	char err[256];
	int x;
	if (p_open("spaced", 0, NULL, NULL, &h, err, sizeof err) != 0) {
		fprintf(stderr, "spaced: open: %s\n", err);
		exit(1);
	}
	for (int i = 0; i < 50; i++) { /* warm up: workers, maps, the runtime */
		p_count(h, "user/1001", "warm", &x, err, sizeof err);
		p_release(h, "user/1001", "warm", &x, err, sizeof err);
	}
	usleep(200000);
	double ms0[3], ms1[3];
	unsigned long long n0[3], n1[3];
	for (int r = 1; r <= rounds; r++) {
		double idle0 = process_cpu_ms();
		for (int i = 0; i < calls; i++)
			usleep(gap_ms * 1000);
		double idle = process_cpu_ms() - idle0;
		threads(ms0, n0);
		double busy0 = process_cpu_ms();
		for (int i = 0; i < calls; i++) {
			char call[32];
			snprintf(call, sizeof call, "r%d-c%d", r, i / 3);
			int rc = i % 3 == 0   ? p_count(h, "user/1001", call, &x, err, sizeof err)
			         : i % 3 == 1 ? p_answered(h, "user/1001", call, &x, err, sizeof err)
			                      : p_release(h, "user/1001", call, &x, err, sizeof err);
			if (rc != 0) {
				fprintf(stderr, "spaced: call %d: %s\n", i, err);
				exit(1);
			}
			usleep(gap_ms * 1000);
		}
		double busy = process_cpu_ms() - busy0;
		threads(ms1, n1);
		printf("round %d: %d calls %d ms apart: process CPU %.1f us per call over the same sleeps without calls "
		       "(%.3f vs %.3f ms in all)\n",
		       r, calls, gap_ms, (busy - idle) * 1e3 / calls, busy, idle);
	}
	const char *what[3] = {"caller thread", "ringlb-worker threads", "the others (Go's)"};
	for (int k = 0; k < 3; k++)
		printf("  last round, %-22s %8.1f us per call, %5.2f wake-ups per call\n", what[k],
		       (ms1[k] - ms0[k]) * 1e3 / calls, (double)(n1[k] - n0[k]) / calls);
	return NULL;
}

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: %s RINGLB_SO [CALLS [GAP_MS [ROUNDS]]]\n", argv[0]);
		return 2;
	}
	if (argc > 2)
		calls = atoi(argv[2]);
	if (argc > 3)
		gap_ms = atoi(argv[3]);
	if (argc > 4)
		rounds = atoi(argv[4]);
	if (calls < 3 || gap_ms < 1 || rounds < 1) {
		fprintf(stderr, "spaced: CALLS >= 3, GAP_MS >= 1, ROUNDS >= 1\n");
		return 2;
	}
	void *so = load_library(argv[1]);
	LOAD_SYM(so, open);
	LOAD_SYM(so, count);
	LOAD_SYM(so, answered);
	LOAD_SYM(so, release);
	pthread_attr_t a;
	const char *pol = getenv("SPACED_POLICY");
	if (pol == NULL || strcmp(pol, "other") != 0)
		fifo_attr(&a);
	else
		pthread_attr_init(&a);
	pthread_t t;
	if (pthread_create(&t, &a, caller, NULL) != 0) {
		perror("spaced: pthread_create (SCHED_FIFO needs root or CAP_SYS_NICE; SPACED_POLICY=other)");
		return 1;
	}
	pthread_join(t, NULL);
	return 0;
}
