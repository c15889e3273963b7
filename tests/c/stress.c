/*
 * stress.c SO_PATH - the C ABI from plain pthreads (non-Go threads, as
 * FreeSWITCH calls it): many threads choose, hold and release at once; no
 * destination ever holds more than its capacity, every release finds its
 * hold, and every count is zero at the end. Also the ABI's argument checks.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadlib.h"

#define THREADS 8
#define ITERS 10000
#define NDEST 5
#define CAP 1

static typeof(&ringlb_open) p_open;
static typeof(&ringlb_next) p_next;
static typeof(&ringlb_acquire) p_acquire;
static typeof(&ringlb_release) p_release;
static typeof(&ringlb_load) p_load;
static typeof(&ringlb_order) p_order;

static const char *dests[NDEST] = {"user/1001", "user/1002", "user/1003", "user/1004", "user/1005"};
static uint64_t handle;
static atomic_long chosen_count[NDEST];
static atomic_long full_count, failures;

static void failf(const char *what, int rc, const char *err) {
	fprintf(stderr, "FAIL %s: rc=%d %s\n", what, rc, err);
	atomic_fetch_add(&failures, 1);
}

static void *worker(void *arg) {
	long id = (long)arg;
	char err[RINGLB_ERRLEN], call[64];
	for (int i = 0; i < ITERS; i++) {
		snprintf(call, sizeof call, "t%ld-c%d", id, i);
		int chosen = -1;
		int rc = p_next(handle, NDEST, dests, call, &chosen, err, sizeof err);
		if (rc == RINGLB_EFULL) {
			atomic_fetch_add(&full_count, 1);
			continue;
		}
		if (rc != RINGLB_OK || chosen < 0 || chosen >= NDEST) {
			failf("next", rc, err);
			continue;
		}
		atomic_fetch_add(&chosen_count[chosen], 1);
		int64_t load = -1;
		rc = p_load(handle, 1, &dests[chosen], &load, err, sizeof err);
		if (rc != RINGLB_OK || load < 1 || load > CAP) {
			fprintf(stderr, "FAIL load of %s while held: %lld (capacity %d)\n", dests[chosen], (long long)load, CAP);
			atomic_fetch_add(&failures, 1);
		}
		int added = -1;
		rc = p_acquire(handle, dests[chosen], call, &added, err, sizeof err);
		if (rc != RINGLB_OK || added != 0)
			failf("acquire of a held destination must report 0", rc, err);
		int removed = 0;
		rc = p_release(handle, dests[chosen], call, &removed, err, sizeof err);
		if (rc != RINGLB_OK || removed != 1)
			failf("release", rc, err);
		rc = p_release(handle, dests[chosen], call, &removed, err, sizeof err);
		if (rc != RINGLB_OK || removed != 0)
			failf("second release must report 0", rc, err);
	}
	return NULL;
}

#define CHECK(cond, ...)                                                                             \
	do {                                                                                             \
		if (!(cond)) {                                                                               \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                     \
			fprintf(stderr, __VA_ARGS__);                                                            \
			fprintf(stderr, "\n");                                                                   \
			atomic_fetch_add(&failures, 1);                                                          \
		} else {                                                                                     \
			checks++;                                                                                \
		}                                                                                            \
	} while (0)

int main(int argc, char **argv) {
	if (argc != 2) {
		fprintf(stderr, "usage: %s ringlb.so\n", argv[0]);
		return 2;
	}
	void *so = load_library(argv[1]);
	LOAD_SYM(so, open);
	LOAD_SYM(so, next);
	LOAD_SYM(so, acquire);
	LOAD_SYM(so, release);
	LOAD_SYM(so, load);
	LOAD_SYM(so, order);
	int checks = 0;
	char err[RINGLB_ERRLEN];
	const char *keys[] = {"capacity", "tie"}, *vals[] = {"1", "lru"};
	int rc = p_open("c-stress", 2, keys, vals, &handle, err, sizeof err);
	CHECK(rc == RINGLB_OK, "open: %d %s", rc, err);

	/* Argument checks: errors, never crashes. */
	int chosen, added, count, order[NDEST];
	int64_t loads[NDEST];
	rc = p_next(handle, 3, NULL, "c", &chosen, err, sizeof err);
	CHECK(rc == RINGLB_EINVAL && strstr(err, "NULL"), "next with NULL dests: %d %s", rc, err);
	rc = p_next(handle, NDEST, dests, NULL, &chosen, err, sizeof err);
	CHECK(rc == RINGLB_EINVAL, "next with NULL call id: %d %s", rc, err);
	rc = p_next(handle, 0, dests, "c", &chosen, err, sizeof err);
	CHECK(rc == RINGLB_ENODEST, "next with no dests: %d %s", rc, err);
	rc = p_next(handle, -1, dests, "c", &chosen, err, sizeof err);
	CHECK(rc == RINGLB_EINVAL, "next with n=-1: %d %s", rc, err);
	rc = p_next(handle, 5000, dests, "c", &chosen, err, sizeof err);
	CHECK(rc == RINGLB_EINVAL, "next with n=5000: %d %s", rc, err);
	rc = p_next(9999, NDEST, dests, "c", &chosen, err, sizeof err);
	CHECK(rc == RINGLB_EHANDLE, "unknown handle: %d %s", rc, err);
	rc = p_next(handle, NDEST, dests, "c", NULL, err, sizeof err);
	CHECK(rc == RINGLB_EINVAL, "NULL out pointer: %d %s", rc, err);
	rc = p_acquire(handle, "", "c", &added, NULL, 0);
	CHECK(rc == RINGLB_EINVAL, "empty dest with no err buffer: %d", rc);
	char tiny[8];
	rc = p_acquire(handle, NULL, "c", &added, tiny, sizeof tiny);
	CHECK(rc == RINGLB_EINVAL && strlen(tiny) == 7, "error text cut to the buffer: %d '%s'", rc, tiny);
	const char *with_null[] = {"user/1001", NULL};
	rc = p_order(handle, 2, with_null, order, &count, err, sizeof err);
	CHECK(rc == RINGLB_EINVAL, "order with a NULL item: %d %s", rc, err);
	const char *bad_keys[] = {"colour"}, *bad_vals[] = {"red"};
	uint64_t h2;
	rc = p_open("c-bad", 1, bad_keys, bad_vals, &h2, err, sizeof err);
	CHECK(rc == RINGLB_EINVAL && strstr(err, "colour"), "unknown option: %d %s", rc, err);
	const char *url_key[] = {"url"}, *secret_url[] = {"redis+cluster://:hunter2pw/x@h1,h2"};
	rc = p_open("c-secret", 1, url_key, secret_url, &h2, err, sizeof err);
	CHECK(rc == RINGLB_EINVAL && !strstr(err, "hunter2"), "a url's password never shows: %d %s", rc, err);
	const char *other[] = {"2"};
	rc = p_open("c-stress", 1, keys, other, &h2, err, sizeof err);
	CHECK(rc == RINGLB_EMISMATCH, "other options: %d %s", rc, err);

	pthread_t t[THREADS];
	for (long i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, worker, (void *)i);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);

	rc = p_load(handle, NDEST, dests, loads, err, sizeof err);
	CHECK(rc == RINGLB_OK, "final load: %d %s", rc, err);
	long total = 0;
	for (int i = 0; i < NDEST; i++) {
		CHECK(loads[i] == 0, "final load of %s is %lld", dests[i], (long long)loads[i]);
		total += chosen_count[i];
		printf("  %s chosen %ld times\n", dests[i], (long)chosen_count[i]);
	}
	CHECK(total + full_count == (long)THREADS * ITERS, "every call answered");
	printf("  %ld holds, %ld at-capacity answers, %d threads x %d calls\n", total, (long)full_count, THREADS, ITERS);
	long bad = atomic_load(&failures);
	printf("c stress: %d passed, %ld failed\n", checks + (bad == 0), bad);
	return bad == 0 ? 0 : 1;
}
