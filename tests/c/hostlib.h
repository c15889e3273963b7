/*
 * hostlib.h - what the C hosts share besides loading ringlb (loadlib.h):
 * the monotonic clock, a Redis that never answers, realtime thread
 * attributes, a thread's stack bounds, a thread's name, installing a
 * handler, and a call's next+release.
 */
#ifndef RINGLB_HOSTLIB_H
#define RINGLB_HOSTLIB_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "ringlb.h"

/* task_name reads the name of this process's thread tid (an entry of
 * /proc/self/task) into comm, n bytes, without its newline; it returns 0,
 * or -1 if the thread is gone. */
static inline int task_name(const char *tid, char *comm, size_t n) {
	char path[300];
	snprintf(path, sizeof path, "/proc/self/task/%s/comm", tid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	if (fgets(comm, (int)n, f) == NULL)
		comm[0] = '\0';
	fclose(f);
	comm[strcspn(comm, "\n")] = '\0';
	return 0;
}

/* now_ns reads CLOCK_MONOTONIC in ns. */
static inline int64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* hung_redis writes to url the address of a loopback listener that accepts
 * nothing: connects complete in its backlog and no reply ever comes, like a
 * hung Redis. It returns 0, or -1 after printing why. */
static inline int hung_redis(char *url, size_t len) {
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof a;
	if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) != 0 || listen(ls, 128) != 0 ||
	    getsockname(ls, (struct sockaddr *)&a, &alen) != 0) {
		perror("listener");
		return -1;
	}
	snprintf(url, len, "redis://127.0.0.1:%d/0", ntohs(a.sin_port));
	return 0;
}

/* fifo_attr initialises attr for a SCHED_FIFO thread at priority 10;
 * pthread_create with it fails with EPERM where realtime is refused. */
static inline void fifo_attr(pthread_attr_t *attr) {
	struct sched_param sp = {.sched_priority = 10};
	pthread_attr_init(attr);
	pthread_attr_setinheritsched(attr, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(attr, SCHED_FIFO);
	pthread_attr_setschedparam(attr, &sp);
}

/* thread_stack sets [*lo, *hi) to the calling thread's stack; it returns 0,
 * or -1. */
static inline int thread_stack(char **lo, char **hi) {
	pthread_attr_t a;
	void *base;
	size_t size;
	if (pthread_getattr_np(pthread_self(), &a) != 0)
		return -1;
	int rc = pthread_attr_getstack(&a, &base, &size);
	pthread_attr_destroy(&a);
	if (rc != 0)
		return -1;
	*lo = base;
	*hi = (char *)base + size;
	return 0;
}

/* on_signal installs handler for sig with sigaction, flags and an empty
 * mask. */
static inline void on_signal(int sig, void (*handler)(int), int flags) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = handler;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

/* next_release holds one of dests[0..n) for call with next and lets it go
 * with release, on balancer h; it returns 0, or -1 after printing why. */
static inline int next_release(typeof(&ringlb_next) next, typeof(&ringlb_release) release, uint64_t h, int n,
                               const char *const *dests, const char *call) {
	char err[RINGLB_ERRLEN];
	int chosen = -1, removed = 0;
	int rc = next(h, n, dests, call, &chosen, err, sizeof err);
	if (rc != RINGLB_OK || chosen < 0) {
		fprintf(stderr, "FAIL next: rc=%d %s\n", rc, err);
		return -1;
	}
	rc = release(h, dests[chosen], call, &removed, err, sizeof err);
	if (rc != RINGLB_OK || removed != 1) {
		fprintf(stderr, "FAIL release: rc=%d removed=%d %s\n", rc, removed, err);
		return -1;
	}
	return 0;
}

#endif
