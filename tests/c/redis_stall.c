/*
 * redis_stall.c SO_PATH REDIS_URL REDIS_PID - a host that owns its memory
 * calls ringlb while its Redis is stalled, and scribbles over and unmaps the
 * buffers it passed as soon as each call returns (with a timeout error).
 *
 * ringlb.h promises that pointers are only read during the call. A Redis
 * operation that kept views of the caller's strings, or that was written out
 * after its caller gave up, would store garbage names in Redis or fault on
 * the unmapped pages, killing the host. CYCLES times, the host stops Redis
 * (SIGSTOP), runs THREADS threads of ROUNDS calls each (next and acquire,
 * in pages of their own) and starts Redis again (SIGCONT); then it checks
 * through a snapshot that every destination and call id Redis holds is one
 * a caller passed, whole and paired as passed. Fails on a wrong name, on a call that did not
 * fail with RINGLB_EBACKEND or took far longer than its timeout, and by
 * dying.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "hostlib.h"
#include "loadlib.h"

#define CYCLES 4
#define THREADS 16
#define ROUNDS 8
#define NDEST 4
#define TIMEOUT_MS 50
#define BOUND_MS (TIMEOUT_MS + 1000)

static typeof(&ringlb_open) p_open;
static typeof(&ringlb_next) p_next;
static typeof(&ringlb_acquire) p_acquire;
static typeof(&ringlb_release) p_release;
static typeof(&ringlb_load) p_load;
static typeof(&ringlb_snapshot) p_snapshot;
static typeof(&ringlb_free) p_free;

static uint64_t handle;
static pid_t redis_pid;
static atomic_long failures, slowest_ms;
static int cycle;

static long now_ms(void) { return (long)(now_ns() / 1000000); }

static void resume_redis(void) { kill(redis_pid, SIGCONT); }

static void *caller(void *arg) {
	long id = (long)arg;
	long page = sysconf(_SC_PAGESIZE);
	char err[RINGLB_ERRLEN];
	for (int r = 0; r < ROUNDS; r++) {
		char *buf = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (buf == MAP_FAILED) {
			perror("FAIL mmap");
			atomic_fetch_add(&failures, 1);
			return NULL;
		}
		const char *dests[NDEST];
		char *at = buf;
		for (int k = 0; k < NDEST; k++) {
			dests[k] = at;
			at += sprintf(at, "d-%ld-%d-%d", id, cycle * ROUNDS + r, k) + 1;
		}
		char *call = at;
		sprintf(call, "c-%ld-%d", id, cycle * ROUNDS + r);
		long t0 = now_ms();
		int rc, out = 0;
		if (r % 2 == 0)
			rc = p_next(handle, NDEST, dests, call, &out, err, sizeof err);
		else
			rc = p_acquire(handle, dests[0], call, &out, err, sizeof err);
		long took = now_ms() - t0;
		long prev = atomic_load(&slowest_ms);
		while (took > prev && !atomic_compare_exchange_weak(&slowest_ms, &prev, took))
			;
		if (rc != RINGLB_EBACKEND) {
			fprintf(stderr, "FAIL: call with Redis stalled returned %d (%s), want RINGLB_EBACKEND\n", rc,
			        rc ? err : "ok");
			atomic_fetch_add(&failures, 1);
		}
		/* The caller's memory is the caller's again: reuse it, then give
		 * it back to the system. */
		memset(buf, '#', page);
		munmap(buf, page);
	}
	return NULL;
}

/* parse_name reports whether s, up to a tab or the end of its line, is a
 * destination ("d-<a>-<b>-<k>", kind 'd') or a call id ("c-<a>-<b>") as the
 * callers made them, storing a and b. */
static int parse_name(const char *s, char kind, long *a, long *b) {
	int n = 0, k;
	if (kind == 'd')
		return sscanf(s, "d-%ld-%ld-%d%n", a, b, &k, &n) == 3 && (s[n] == '\t' || s[n] == '\n' || s[n] == 0);
	return sscanf(s, "c-%ld-%ld%n", a, b, &n) == 2 && (s[n] == '\t' || s[n] == '\n' || s[n] == 0);
}

int main(int argc, char **argv) {
	if (argc < 4) {
		fprintf(stderr, "usage: %s SO_PATH REDIS_URL REDIS_PID\n", argv[0]);
		return 2;
	}
	redis_pid = (pid_t)atol(argv[3]);
	atexit(resume_redis);
	void *so = load_library(argv[1]);
	LOAD_SYM(so, open);
	LOAD_SYM(so, next);
	LOAD_SYM(so, acquire);
	LOAD_SYM(so, release);
	LOAD_SYM(so, load);
	LOAD_SYM(so, snapshot);
	LOAD_SYM(so, free);

	char err[RINGLB_ERRLEN], name[64], timeout[16];
	snprintf(name, sizeof name, "stall-%d", (int)getpid());
	snprintf(timeout, sizeof timeout, "%.3f", TIMEOUT_MS / 1000.0);
	const char *k[] = {"url", "lease", "timeout"};
	const char *v[] = {argv[2], "30", timeout};
	if (p_open(name, 3, k, v, &handle, err, sizeof err) != RINGLB_OK) {
		fprintf(stderr, "FAIL open: %s\n", err);
		return 1;
	}
	/* Scripts loaded, so what the stalled server runs later takes effect
	 * (retried: on a loaded machine a call may miss the 50 ms timeout). */
	const char *probe[] = {"probe"};
	int64_t load;
	int removed;
	long t0 = now_ms();
	while (p_release(handle, "probe", "probe", &removed, err, sizeof err) != RINGLB_OK ||
	       p_load(handle, 1, probe, &load, err, sizeof err) != RINGLB_OK) {
		if (now_ms() - t0 > 10000) {
			fprintf(stderr, "FAIL: %s\n", err);
			return 1;
		}
		usleep(20000);
	}

	for (cycle = 0; cycle < CYCLES; cycle++) {
		if (kill(redis_pid, SIGSTOP) != 0) {
			perror("FAIL: SIGSTOP redis");
			return 1;
		}
		pthread_t th[THREADS];
		for (long i = 0; i < THREADS; i++)
			pthread_create(&th[i], NULL, caller, (void *)i);
		for (int i = 0; i < THREADS; i++)
			pthread_join(th[i], NULL);
		resume_redis();
		/* Whatever reached the server has run once a later call has. */
		t0 = now_ms();
		while (p_load(handle, 1, probe, &load, err, sizeof err) != RINGLB_OK) {
			if (now_ms() - t0 > 10000) {
				fprintf(stderr, "FAIL: Redis did not answer again: %s\n", err);
				return 1;
			}
			usleep(20000);
		}
	}
	/* The snapshot, like the probe above, is retried: on a loaded machine a
	 * read may miss the 50 ms timeout, which this test does not measure. */
	char *snap = NULL;
	t0 = now_ms();
	int rc;
	while ((rc = p_snapshot(handle, 0, &snap, err, sizeof err)) == RINGLB_EBACKEND && now_ms() - t0 < 10000)
		usleep(20000);
	if (rc != RINGLB_OK) {
		fprintf(stderr, "FAIL snapshot: %s\n", err);
		return 1;
	}
	long dests = 0, holds = 0;
	if (strchr(snap, '#') != NULL) {
		fprintf(stderr, "FAIL: the snapshot holds the caller's scribbles:\n%s\n", snap);
		atomic_fetch_add(&failures, 1);
	}
	for (char *line = snap; *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : line + strlen(line)) {
		long a, b, c, d;
		if (line[0] == 'D' && line[1] == '\t') {
			if (strncmp(line + 2, "probe\t", 6) == 0)
				continue;
			dests++;
			if (!parse_name(line + 2, 'd', &a, &b)) {
				fprintf(stderr, "FAIL: destination not passed by a caller: %.80s\n", line);
				atomic_fetch_add(&failures, 1);
			}
		} else if (line[0] == 'H' && line[1] == '\t') {
			holds++;
			char *call = strchr(line + 2, '\t');
			if (call == NULL || !parse_name(line + 2, 'd', &a, &b) || !parse_name(call + 1, 'c', &c, &d) ||
			    a != c || b != d) {
				fprintf(stderr, "FAIL: hold not as a caller passed it: %.80s\n", line);
				atomic_fetch_add(&failures, 1);
			}
		}
	}
	p_free(snap);
	printf("%d calls with Redis stalled, slowest %ld ms (timeout %d ms); %ld destinations and %ld holds in Redis after,"
	       " %ld failures\n",
	       CYCLES * THREADS * ROUNDS, atomic_load(&slowest_ms), TIMEOUT_MS, dests, holds, atomic_load(&failures));
	if (atomic_load(&slowest_ms) > BOUND_MS) {
		fprintf(stderr, "FAIL: a call took %ld ms, bound %d ms\n", atomic_load(&slowest_ms), BOUND_MS);
		atomic_fetch_add(&failures, 1);
	}
	if (atomic_load(&failures)) {
		printf("FAIL\n");
		return 1;
	}
	printf("PASS\n");
	return 0;
}
