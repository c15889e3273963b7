/*
 * cabi.c SO_PATH [--quick] [--cycles N] - the C ABI of ringlb.so measured from plain C
 * threads (threads that never ran Go code, as FreeSWITCH calls it), next to
 * floors measured in the same process:
 *
 *   plain C call   an empty non-inlined C function called through a pointer
 *   signal mask    pthread_sigmask to block the host's signals and back: what
 *                  every direct call into Go pays so that no host signal
 *                  handler runs on a Go stack (two system calls)
 *   ringlb_noop    the same dispatch path as every ringlb call, doing nothing
 *                  (the cgo floor, or the hand-off floor under workers)
 *   next+release   ringlb_next over 10 destinations then ringlb_release
 *
 * from 1 and 2 threads at once. The dispatch mode is whatever RINGLB_DISPATCH
 * says (the library reads it when loaded); bench/run.sh runs this once with
 * auto and once with workers.
 *
 * Then memory: process RSS (/proc/self/statm) after opening and warming up,
 * after 1,000,000 next+release cycles with a distinct call id each, and
 * after 1,000,000 more (--cycles changes the million; --quick makes it
 * 100,000). The Go heap is not visible from C; RSS covers it.
 *
 * Output: a markdown fragment on stdout, and "@key value" lines (for
 * bench/run.sh) at the end. It measures only: no timing is ever asserted.
 * Exits non-zero only if a ringlb call fails.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../tests/c/loadlib.h"

#define NDEST 10
#define MAXT 2
#define NIDS 1024

static typeof(&ringlb_open) p_open;
static typeof(&ringlb_next) p_next;
static typeof(&ringlb_acquire) p_acquire;
static typeof(&ringlb_release) p_release;
static typeof(&ringlb_noop) p_noop;

static const char *dests[NDEST];
static uint64_t handle;
static char ids[MAXT][NIDS][48];

/* The plain C floor: an empty function the compiler cannot inline or drop. */
__attribute__((noinline)) static int plain_fn(void) {
	__asm__ volatile("");
	return 0;
}
static int (*volatile p_plain)(void) = plain_fn;

static double now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void die(const char *what, int rc, const char *err) {
	fprintf(stderr, "cabi: %s failed: rc=%d %s\n", what, rc, err ? err : "");
	exit(1);
}

/* One next+release cycle for call id id. */
static void cycle(const char *id) {
	char err[RINGLB_ERRLEN];
	int chosen = -1, removed = 0;
	int rc = p_next(handle, NDEST, dests, id, &chosen, err, sizeof err);
	if (rc != RINGLB_OK)
		die("ringlb_next", rc, err);
	rc = p_release(handle, dests[chosen], id, &removed, err, sizeof err);
	if (rc != RINGLB_OK || !removed)
		die("ringlb_release", rc, err);
}

enum op { OP_PLAIN, OP_SIGMASK, OP_NOOP, OP_NEXTREL, NOPS };
static const char *op_names[NOPS] = {"plain C call (floor)", "signal mask block + restore (syscall floor)",
                                     "ringlb_noop (cgo floor)", "next+release, 10 dests"};
static sigset_t all_signals;

static void run_op(int op, int tid, long iters) {
	long i;
	switch (op) {
	case OP_PLAIN:
		for (i = 0; i < iters; i++)
			p_plain();
		break;
	case OP_SIGMASK:
		for (i = 0; i < iters; i++) {
			sigset_t old;
			pthread_sigmask(SIG_BLOCK, &all_signals, &old);
			pthread_sigmask(SIG_SETMASK, &old, NULL);
		}
		break;
	case OP_NOOP:
		for (i = 0; i < iters; i++)
			p_noop();
		break;
	default:
		for (i = 0; i < iters; i++)
			cycle(ids[tid][i & (NIDS - 1)]);
	}
}

struct job {
	int op, tid;
	long iters;
	pthread_barrier_t *bar;
	double ns;
};

static void *thread_main(void *arg) {
	struct job *j = arg;
	/* A thread's first call into Go binds it to a runtime M (slow, once);
	 * real callers pay that once per thread, so it is kept out of timing. */
	run_op(j->op, j->tid, 1);
	pthread_barrier_wait(j->bar);
	double t0 = now_ns();
	run_op(j->op, j->tid, j->iters);
	j->ns = now_ns() - t0;
	return NULL;
}

/* measure runs op on nthreads new threads, iters each, and returns the
 * slowest thread's ns per operation. */
static double measure(int op, int nthreads, long iters) {
	pthread_t t[MAXT];
	struct job j[MAXT];
	pthread_barrier_t bar;
	pthread_barrier_init(&bar, NULL, (unsigned)nthreads);
	for (int i = 0; i < nthreads; i++) {
		j[i] = (struct job){.op = op, .tid = i, .iters = iters, .bar = &bar};
		if (pthread_create(&t[i], NULL, thread_main, &j[i]) != 0)
			die("pthread_create", -1, NULL);
	}
	double worst = 0;
	for (int i = 0; i < nthreads; i++) {
		pthread_join(t[i], NULL);
		if (j[i].ns > worst)
			worst = j[i].ns;
	}
	pthread_barrier_destroy(&bar);
	return worst / (double)iters;
}

static int cmp_double(const void *a, const void *b) {
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n) {
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static long rss_kib(void) {
	FILE *f = fopen("/proc/self/statm", "r");
	long size = 0, res = 0;
	if (f == NULL)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &res) != 2)
		res = -1;
	fclose(f);
	return res < 0 ? -1 : res * (sysconf(_SC_PAGESIZE) / 1024);
}

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: cabi SO_PATH [--quick] [--cycles N]\n");
		return 2;
	}
	int quick = 0;
	long cycles = 1000000;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			quick = 1;
			cycles = 100000;
		} else if (strcmp(argv[i], "--cycles") == 0 && i + 1 < argc) {
			cycles = atol(argv[++i]);
		} else {
			fprintf(stderr, "cabi: unknown argument %s\n", argv[i]);
			return 2;
		}
	}
	if (cycles < 1)
		cycles = 1;
	const char *mode = getenv("RINGLB_DISPATCH");
	if (mode == NULL || *mode == '\0')
		mode = "auto";
	void *so = load_library(argv[1]);
	LOAD_SYM(so, open);
	LOAD_SYM(so, next);
	LOAD_SYM(so, acquire);
	LOAD_SYM(so, release);
	LOAD_SYM(so, noop);

	static char dbuf[NDEST][48];
	for (int i = 0; i < NDEST; i++) {
		snprintf(dbuf[i], sizeof dbuf[i], "user/%d@pbx.example.com", 1000 + i);
		dests[i] = dbuf[i];
	}
	for (int t = 0; t < MAXT; t++)
		for (int i = 0; i < NIDS; i++)
			snprintf(ids[t][i], sizeof ids[t][i], "t%d-%08x-1c2d-4e5f-8a9b-%012x", t, i, i * 7919);

	char err[RINGLB_ERRLEN];
	const char *no_keys[1] = {NULL}, *no_vals[1] = {NULL};
	int rc = p_open("bench-cabi", 0, no_keys, no_vals, &handle, err, sizeof err);
	if (rc != RINGLB_OK)
		die("ringlb_open", rc, err);
	/* The same light preload as the Go benchmarks: dest i holds i%3 calls. */
	for (int i = 0; i < NDEST; i++)
		for (int k = 0; k < i % 3; k++) {
			char id[32];
			int added;
			snprintf(id, sizeof id, "pre-%d-%d", i, k);
			if ((rc = p_acquire(handle, dests[i], id, &added, err, sizeof err)) != RINGLB_OK)
				die("ringlb_acquire", rc, err);
		}

	sigfillset(&all_signals);
	/* Warm up (first calls start Go threads and workers), then size each
	 * operation's batch so that one trial takes about trial_ns. */
	const double trial_ns = quick ? 15e6 : 120e6;
	const int trials = quick ? 3 : 7;
	long iters[NOPS];
	for (int op = 0; op < NOPS; op++) {
		measure(op, 1, 2000);
		double per = measure(op, 1, op == OP_PLAIN ? 1000000 : 20000);
		long n = (long)(trial_ns / (per > 0.1 ? per : 0.1));
		iters[op] = n < 1000 ? 1000 : n;
	}

	double res[MAXT + 1][NOPS];
	for (int nt = 1; nt <= MAXT; nt++) {
		double v[NOPS][16];
		for (int r = 0; r < trials; r++) /* interleaved: noise hits all alike */
			for (int op = 0; op < NOPS; op++)
				v[op][r] = measure(op, nt, iters[op]);
		for (int op = 0; op < NOPS; op++)
			res[nt][op] = median(v[op], trials);
	}

	printf("#### C ABI from C threads, RINGLB_DISPATCH=%s\n\n", mode);
	printf("Median of %d interleaved trials of ~%.0f ms each; ns per call per thread "
	       "(with 2 threads both run at once; the slower one counts).\n\n",
	       trials, trial_ns / 1e6);
	printf("| operation | 1 thread ns | × plain C | × noop | 2 threads ns | × plain C | × noop |\n");
	printf("|---|---:|---:|---:|---:|---:|---:|\n");
	for (int op = 0; op < NOPS; op++) {
		printf("| %s |", op_names[op]);
		for (int nt = 1; nt <= MAXT; nt++)
			printf(" %.1f | %.1f | %.2f |", res[nt][op], res[nt][op] / res[nt][OP_PLAIN],
			       res[nt][op] / res[nt][OP_NOOP]);
		printf("\n");
	}
	printf("\nnext+release minus the noop floor, 1 thread: %.1f ns (two ABI calls, so the "
	       "dispatch path is paid twice).\n\n",
	       res[1][OP_NEXTREL] - res[1][OP_NOOP]);

	/* Memory: distinct call ids, as real calls have. */
	char id[64];
	for (long i = 0; i < 10000; i++) {
		snprintf(id, sizeof id, "warm-%ld", i);
		cycle(id);
	}
	long r0 = rss_kib();
	double t0 = now_ns();
	for (long i = 0; i < cycles; i++) {
		snprintf(id, sizeof id, "a-%ld-1c2d-4e5f-8a9b", i);
		cycle(id);
	}
	long r1 = rss_kib();
	for (long i = 0; i < cycles; i++) {
		snprintf(id, sizeof id, "b-%ld-1c2d-4e5f-8a9b", i);
		cycle(id);
	}
	long r2 = rss_kib();
	double secs = (now_ns() - t0) / 1e9;
	printf("RSS (KiB), %ld + %ld next+release cycles, distinct call ids, 1 thread (%.1f s):\n\n", cycles,
	       cycles, secs);
	printf("| after warm-up | after %ld | after %ld | growth 1st | growth 2nd |\n", cycles, 2 * cycles);
	printf("|---:|---:|---:|---:|---:|\n");
	printf("| %ld | %ld | %ld | %+ld | %+ld |\n\n", r0, r1, r2, r1 - r0, r2 - r1);

	printf("@mode %s\n", mode);
	printf("@plain_ns %.3f\n@noop_ns %.3f\n@nextrel_ns %.3f\n", res[1][OP_PLAIN], res[1][OP_NOOP],
	       res[1][OP_NEXTREL]);
	printf("@sigmask_ns %.3f\n", res[1][OP_SIGMASK]);
	printf("@noop2_ns %.3f\n@nextrel2_ns %.3f\n", res[2][OP_NOOP], res[2][OP_NEXTREL]);
	printf("@rss0_kib %ld\n@rss1_kib %ld\n@rss2_kib %ld\n", r0, r1, r2);
	return 0;
}
