/*
 * pool_growth.c SO_PATH - realtime callers arriving together while the
 * backend is slow must each get a worker thread of their own, not queue
 * behind two (the pool once never grew for realtime bursts: the callers
 * saw signalled-but-not-yet-running workers as idle).
 *
 * A loopback listener that never answers plays a hung Redis; each call
 * waits for its 200 ms timeout. Ten SCHED_FIFO threads call at once; after
 * they are answered there must be at least ten ringlb-worker threads.
 * Realtime refused: exit 77 (the caller reports SKIPPED).
 */
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

#include "loadlib.h"

#define CALLERS 10

static typeof(&ringlb_next) p_next;
static uint64_t handle;
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

static int count_workers(void) {
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;
	while (d != NULL && (e = readdir(d)) != NULL) {
		char path[300], comm[32] = "";
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
		FILE *f = fopen(path, "r");
		if (f != NULL) {
			if (fgets(comm, sizeof comm, f) != NULL && strncmp(comm, "ringlb-worker", 13) == 0)
				n++;
			fclose(f);
		}
	}
	if (d != NULL)
		closedir(d);
	return n;
}

int main(int argc, char **argv) {
	if (argc != 2) {
		fprintf(stderr, "usage: %s ringlb.so\n", argv[0]);
		return 2;
	}
	/* A listener that accepts nothing: connects complete in the backlog and
	 * no reply ever comes, like a hung Redis. */
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof a;
	if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) != 0 || listen(ls, 128) != 0 ||
	    getsockname(ls, (struct sockaddr *)&a, &alen) != 0) {
		perror("listener");
		return 1;
	}
	void *so = load_library(argv[1]);
	typeof(&ringlb_open) p_open;
	LOAD_SYM(so, open);
	LOAD_SYM(so, next);
	char url[64], err[RINGLB_ERRLEN];
	snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", ntohs(a.sin_port));
	const char *keys[] = {"url", "timeout"}, *vals[] = {url, "200ms"};
	int rc = p_open("pool-growth", 2, keys, vals, &handle, err, sizeof err);
	if (rc != RINGLB_OK) {
		fprintf(stderr, "FAIL open: %d %s\n", rc, err);
		return 1;
	}
	pthread_attr_t attr;
	struct sched_param sp = {.sched_priority = 10};
	pthread_attr_init(&attr);
	pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
	pthread_attr_setschedparam(&attr, &sp);
	pthread_barrier_init(&start, NULL, CALLERS);
	pthread_t t[CALLERS];
	for (long i = 0; i < CALLERS; i++) {
		int e = pthread_create(&t[i], &attr, caller, (void *)i);
		if (e == EPERM) {
			printf("SKIPPED: realtime scheduling refused (EPERM); pool growth not tested\n");
			return 77;
		}
		if (e != 0) {
			fprintf(stderr, "pthread_create: %s\n", strerror(e));
			return 1;
		}
	}
	for (int i = 0; i < CALLERS; i++)
		pthread_join(t[i], NULL);
	int failed = 0, workers = count_workers();
	for (int i = 0; i < CALLERS; i++) {
		if (rcs[i] != RINGLB_EBACKEND) {
			fprintf(stderr, "FAIL caller %d: rc %d, want RINGLB_EBACKEND\n", i, rcs[i]);
			failed++;
		}
	}
	if (workers < CALLERS) {
		fprintf(stderr, "FAIL %d ringlb-worker threads for %d realtime callers waiting together\n", workers, CALLERS);
		failed++;
	}
	printf("c pool_growth: %d workers for %d callers; %d passed, %d failed\n", workers, CALLERS,
	       failed ? 0 : 1, failed);
	return failed ? 1 : 0;
}
