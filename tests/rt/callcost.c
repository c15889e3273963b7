/*
 * callcost - what the calling discipline costs per call.
 *
 *   callcost [flags] path/to/ringlb.so
 *
 * One (or -t) long-lived thread(s), created after the library is loaded and
 * inheriting the process's scheduling (run under chrt, or set it with -p),
 * call in a loop for -D seconds each:
 *   ringlb_noop                       the floor: the discipline and the cgo
 *                                     crossing with no work
 *   ringlb_next + ringlb_release      a real pair on the memory backend,
 *                                     -d destinations, a unique call id
 * and print the mean ns per call (from the loop's total time) and the
 * p50/p99/max of single calls (each timed with CLOCK_MONOTONIC, which adds
 * ~20-40 ns). Which path the calls take depends on the caller's class and
 * RINGLB_DISPATCH: SCHED_OTHER + auto = Go called directly, SCHED_FIFO/RR +
 * auto = handed to a worker, RINGLB_DISPATCH=workers = always handed off.
 */
#include "rtcommon.h" /* first: it defines _GNU_SOURCE */

#include <pthread.h>

#define MAX_DESTS 64
#define MAX_THREADS 64
#define SAMPLES (1 << 20)

static struct ringlb_api api;
static uint64_t handle;
static const char *dests[MAX_DESTS];
static int ndest = 10;
static double seconds = 1.0;
static pthread_barrier_t start;

struct result {
	int idx;
	double noop_ns, pair_ns;
	int64_t noop_n, pair_n;
	int64_t noop_p50, noop_p99, noop_max;
	int64_t pair_p50, pair_p99, pair_max;
	int errors;
	char err[RINGLB_ERRLEN + 64];
};

static int one_pair(struct result *r, int64_t k) {
	char id[64], err[RINGLB_ERRLEN];
	int chosen = -1, removed = 0;
	snprintf(id, sizeof id, "cost-%d-%lld", r->idx, (long long)k);
	int rc = api.next(handle, ndest, dests, id, &chosen, err, sizeof err);
	if (rc != RINGLB_OK || chosen < 0 || chosen >= ndest) {
		if (r->errors++ == 0)
			snprintf(r->err, sizeof r->err, "next rc=%d: %s", rc, err);
		return -1;
	}
	rc = api.release(handle, dests[chosen], id, &removed, err, sizeof err);
	if (rc != RINGLB_OK || removed != 1) {
		if (r->errors++ == 0)
			snprintf(r->err, sizeof r->err, "release rc=%d removed=%d: %s", rc, removed, err);
		return -1;
	}
	return 0;
}

/* timed_loop runs op until seconds have passed; returns iterations done. */
#define TIMED_LOOP(n_out, ns_out, body)                                        \
	do {                                                                   \
		int64_t t0_ = rt_now_ns(), end_ = t0_ + (int64_t)(seconds * 1e9), \
			n_ = 0, t_;                                            \
		for (;;) {                                                     \
			for (int j_ = 0; j_ < 256; j_++, n_++) {               \
				body;                                          \
			}                                                      \
			if ((t_ = rt_now_ns()) >= end_)                        \
				break;                                         \
		}                                                              \
		n_out = n_;                                                    \
		ns_out = (double)(t_ - t0_) / (double)n_;                      \
	} while (0)

static void sampled(int64_t *samples, int64_t *n, int pair, struct result *r, int64_t *p50,
                    int64_t *p99, int64_t *max) {
	int64_t end = rt_now_ns() + (int64_t)(seconds * 1e9 / 2), k = 0;
	while (k < SAMPLES && rt_now_ns() < end) {
		int64_t t0 = rt_now_ns();
		if (pair)
			one_pair(r, 1000000000LL + k);
		else
			api.noop();
		samples[k++] = rt_now_ns() - t0;
	}
	qsort(samples, (size_t)k, sizeof(int64_t), rt_cmp_i64);
	*p50 = rt_percentile(samples, (size_t)k, 50);
	*p99 = rt_percentile(samples, (size_t)k, 99);
	*max = k ? samples[k - 1] : 0;
	*n = k;
}

static void *caller(void *arg) {
	struct result *r = arg;
	int64_t *samples = malloc(SAMPLES * sizeof(int64_t)), n;
	if (samples == NULL)
		return NULL;
	for (int i = 0; i < 2000; i++) /* warm up: first entries, workers */
		one_pair(r, -1 - i), api.noop();
	pthread_barrier_wait(&start);
	int64_t k = 0;
	TIMED_LOOP(r->noop_n, r->noop_ns, api.noop());
	TIMED_LOOP(r->pair_n, r->pair_ns, one_pair(r, k++));
	sampled(samples, &n, 0, r, &r->noop_p50, &r->noop_p99, &r->noop_max);
	sampled(samples, &n, 1, r, &r->pair_p50, &r->pair_p99, &r->pair_max);
	free(samples);
	return NULL;
}

int main(int argc, char **argv) {
	const char *lualib = "liblua5.3.so.0", *setpol = "inherit", *expect = NULL;
	int nthreads = 1, opt;
	while ((opt = getopt(argc, argv, "t:D:d:p:x:L:")) != -1) {
		switch (opt) {
		case 't': nthreads = atoi(optarg); break;
		case 'D': seconds = atof(optarg); break;
		case 'd': ndest = atoi(optarg); break;
		case 'p': setpol = optarg; break;
		case 'x': expect = optarg; break;
		case 'L': lualib = optarg; break;
		default: goto usage;
		}
	}
	if (optind != argc - 1 || nthreads < 1 || nthreads > MAX_THREADS || ndest < 1 ||
	    ndest > MAX_DESTS || seconds <= 0) {
	usage:
		fprintf(stderr, "usage: callcost [-t threads] [-D seconds] [-d dests] [-p fifo:10|rr:89|other] "
		                "[-x policy] [-L lualib] path/to/ringlb.so\n");
		return RT_EXIT_SETUP;
	}
	int pol, prio;
	if (rt_parse_policy(setpol, &pol, &prio) != 0)
		goto usage;
	if (pol >= 0 && rt_set_policy(pol, prio) != 0) {
		printf("SKIP: realtime scheduling refused: sched_setscheduler: %s\n", strerror(errno));
		return RT_EXIT_SKIP;
	}
	if (expect != NULL) {
		int epol, eprio;
		if (rt_parse_policy(expect, &epol, &eprio) != 0)
			goto usage;
		if (epol >= 0 && sched_getscheduler(0) != epol) {
			printf("SKIP: expected %s, realtime scheduling is not in effect\n", rt_policy_name(epol));
			return RT_EXIT_SKIP;
		}
	}
	if (rt_load(lualib, argv[optind], &api) != 0)
		return RT_EXIT_SETUP;
	static char names[MAX_DESTS][16];
	for (int i = 0; i < ndest; i++) {
		snprintf(names[i], sizeof names[i], "dest%02d", i);
		dests[i] = names[i];
	}
	char err[RINGLB_ERRLEN];
	if (api.open("callcost", 0, NULL, NULL, &handle, err, sizeof err) != RINGLB_OK) {
		printf("FAIL: ringlb_open: %s\n", err);
		return RT_EXIT_FAIL;
	}
	char cls[64];
	rt_describe_self(cls, sizeof cls);
	const char *mode = getenv("RINGLB_DISPATCH");
	if (mode == NULL)
		mode = "auto";
	pthread_barrier_init(&start, NULL, (unsigned)nthreads);
	pthread_t th[MAX_THREADS];
	struct result res[MAX_THREADS];
	memset(res, 0, sizeof res);
	for (int i = 0; i < nthreads; i++) {
		res[i].idx = i;
		if (pthread_create(&th[i], NULL, caller, &res[i]) != 0) {
			fprintf(stderr, "callcost: pthread_create failed\n");
			return RT_EXIT_SETUP;
		}
	}
	int errors = 0;
	double noop = 0, pair = 0;
	int64_t np50 = 0, np99 = 0, nmax = 0, pp50 = 0, pp99 = 0, pmax = 0;
	for (int i = 0; i < nthreads; i++) {
		pthread_join(th[i], NULL);
		struct result *r = &res[i];
		noop += r->noop_ns / nthreads;
		pair += r->pair_ns / nthreads;
		np50 = r->noop_p50 > np50 ? r->noop_p50 : np50;
		np99 = r->noop_p99 > np99 ? r->noop_p99 : np99;
		nmax = r->noop_max > nmax ? r->noop_max : nmax;
		pp50 = r->pair_p50 > pp50 ? r->pair_p50 : pp50;
		pp99 = r->pair_p99 > pp99 ? r->pair_p99 : pp99;
		pmax = r->pair_max > pmax ? r->pair_max : pmax;
		if (r->errors) {
			printf("FAIL: thread %d: %d error(s), first: %s\n", i, r->errors, r->err);
			errors += r->errors;
		}
	}
	printf("COST class=%s dispatch=%s threads=%d noop_ns=%.0f pair_ns=%.0f "
	       "noop_p50/p99/max_ns=%lld/%lld/%lld pair_p50/p99/max_ns=%lld/%lld/%lld\n",
	       cls, mode, nthreads, noop, pair, (long long)np50, (long long)np99, (long long)nmax,
	       (long long)pp50, (long long)pp99, (long long)pmax);
	int64_t loads[MAX_DESTS];
	if (api.load(handle, ndest, dests, loads, err, sizeof err) != RINGLB_OK) {
		printf("FAIL: ringlb_load: %s\n", err);
		return RT_EXIT_FAIL;
	}
	for (int i = 0; i < ndest; i++)
		if (loads[i] != 0) {
			printf("FAIL: %s has load %lld at the end\n", dests[i], (long long)loads[i]);
			return RT_EXIT_FAIL;
		}
	return errors ? RT_EXIT_FAIL : RT_EXIT_PASS;
}
