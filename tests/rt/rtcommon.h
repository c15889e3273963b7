/*
 * rtcommon.h - helpers shared by the realtime harnesses (rtburst.c,
 * callcost.c): loading ringlb.so the way FreeSWITCH's mod_lua does, setting
 * and naming scheduling policies, and reading the policy of every thread.
 *
 * Loading: ringlb.so is a Lua C module too, so it has undefined lua_*
 * symbols that the host provides. mod_lua is loaded RTLD_GLOBAL and links
 * liblua, so those symbols are in the global scope when `require` dlopens a
 * module. The harness does the same: it dlopens the Lua library RTLD_GLOBAL
 * first, then ringlb.so with RTLD_NOW|RTLD_GLOBAL. RTLD_NOW (not
 * RTLD_LAZY) keeps the test honest: every symbol must resolve at load time,
 * and no lazy PLT binding (which takes the dynamic linker's lock) happens
 * inside the timed calls of a burst.
 */
#ifndef RTCOMMON_H
#define RTCOMMON_H

#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../../cgo/ringlb.h"

/* Exit codes shared with run.sh. */
#define RT_EXIT_PASS 0
#define RT_EXIT_FAIL 1
#define RT_EXIT_SETUP 2
#define RT_EXIT_DEADLINE 3
#define RT_EXIT_SKIP 77

struct ringlb_api {
	typeof(&ringlb_version) version;
	typeof(&ringlb_open) open;
	typeof(&ringlb_next) next;
	typeof(&ringlb_release) release;
	typeof(&ringlb_load) load;
	typeof(&ringlb_noop) noop;
};

static inline pid_t rt_gettid(void) { return (pid_t)syscall(SYS_gettid); }

static inline int64_t rt_now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline const char *rt_policy_name(int pol) {
	switch (pol) {
	case SCHED_OTHER:
		return "SCHED_OTHER";
	case SCHED_FIFO:
		return "SCHED_FIFO";
	case SCHED_RR:
		return "SCHED_RR";
	case SCHED_BATCH:
		return "SCHED_BATCH";
	case SCHED_IDLE:
		return "SCHED_IDLE";
#ifdef SCHED_DEADLINE
	case SCHED_DEADLINE:
		return "SCHED_DEADLINE";
#endif
	}
	return "SCHED_?";
}

static inline int rt_is_realtime(int pol) {
	return pol == SCHED_FIFO || pol == SCHED_RR
#ifdef SCHED_DEADLINE
	       || pol == SCHED_DEADLINE
#endif
	    ;
}

/*
 * rt_parse_policy parses "fifo:10", "rr:89", "other" (or "inherit", which
 * leaves *pol at -1). Returns 0 on success.
 */
static inline int rt_parse_policy(const char *s, int *pol, int *prio) {
	*pol = -1;
	*prio = 0;
	if (strcmp(s, "inherit") == 0)
		return 0;
	if (strcmp(s, "other") == 0) {
		*pol = SCHED_OTHER;
		return 0;
	}
	const char *colon = strchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : strlen(s);
	if (n == 4 && strncmp(s, "fifo", 4) == 0)
		*pol = SCHED_FIFO;
	else if (n == 2 && strncmp(s, "rr", 2) == 0)
		*pol = SCHED_RR;
	else
		return -1;
	*prio = colon ? atoi(colon + 1) : 10;
	if (*prio < 1 || *prio > 99)
		return -1;
	return 0;
}

/*
 * rt_set_policy sets the whole process's policy (the calling thread's, which
 * every thread created later inherits). A refusal is reported as SKIP by the
 * caller: realtime scheduling is not available here.
 */
static inline int rt_set_policy(int pol, int prio) {
	struct sched_param sp = {.sched_priority = rt_is_realtime(pol) ? prio : 0};
	return sched_setscheduler(0, pol, &sp);
}

/* rt_describe_self prints the calling thread's policy into buf. */
static inline void rt_describe_self(char *buf, size_t n) {
	struct sched_param sp;
	int pol = sched_getscheduler(0);
	sched_getparam(0, &sp);
	snprintf(buf, n, "%s/%d", rt_policy_name(pol), sp.sched_priority);
}

/*
 * rt_load opens the Lua library (RTLD_GLOBAL, like mod_lua's own liblua) and
 * then ringlb.so with RTLD_NOW|RTLD_GLOBAL, and resolves the API.
 */
static inline int rt_load(const char *lualib, const char *so, struct ringlb_api *api) {
	if (lualib != NULL && lualib[0] != '\0' && strcmp(lualib, "none") != 0) {
		if (dlopen(lualib, RTLD_NOW | RTLD_GLOBAL) == NULL) {
			fprintf(stderr, "cannot load the Lua library %s: %s\n", lualib, dlerror());
			return -1;
		}
	}
	void *h = dlopen(so, RTLD_NOW | RTLD_GLOBAL);
	if (h == NULL) {
		fprintf(stderr, "cannot load %s: %s\n", so, dlerror());
		return -1;
	}
#define RT_SYM(field, name)                                                             \
	do {                                                                            \
		*(void **)&api->field = dlsym(h, name);                                 \
		if (api->field == NULL) {                                               \
			fprintf(stderr, "%s: missing symbol %s\n", so, name);           \
			return -1;                                                      \
		}                                                                       \
	} while (0)
	RT_SYM(version, "ringlb_version");
	RT_SYM(open, "ringlb_open");
	RT_SYM(next, "ringlb_next");
	RT_SYM(release, "ringlb_release");
	RT_SYM(load, "ringlb_load");
	RT_SYM(noop, "ringlb_noop");
#undef RT_SYM
	return 0;
}

/* One thread of the process and its scheduling class. */
struct rt_thread {
	pid_t tid;
	int policy;
	int prio;
	char comm[32];
};

/*
 * rt_list_threads reads /proc/self/task and fills out[0..max); it returns
 * how many threads there were (possibly more than max). Threads that exit
 * while we read are skipped.
 */
static inline int rt_list_threads(struct rt_thread *out, int max) {
	DIR *d = opendir("/proc/self/task");
	if (d == NULL)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		pid_t tid = (pid_t)atoi(e->d_name);
		struct sched_param sp;
		int pol = sched_getscheduler(tid);
		if (pol < 0 || sched_getparam(tid, &sp) != 0)
			continue; /* exited meanwhile */
		if (n < max) {
			out[n].tid = tid;
			out[n].policy = pol;
			out[n].prio = sp.sched_priority;
			out[n].comm[0] = '\0';
			char path[64];
			snprintf(path, sizeof path, "/proc/self/task/%d/comm", (int)tid);
			FILE *f = fopen(path, "r");
			if (f != NULL) {
				if (fgets(out[n].comm, sizeof out[n].comm, f) != NULL)
					out[n].comm[strcspn(out[n].comm, "\n")] = '\0';
				fclose(f);
			}
		}
		n++;
	}
	closedir(d);
	return n;
}

static int rt_cmp_i64(const void *a, const void *b) {
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* rt_percentile returns the p-th percentile (0..100) of sorted v[0..n). */
static inline int64_t rt_percentile(const int64_t *v, size_t n, double p) {
	if (n == 0)
		return 0;
	/* nearest rank: the smallest value with at least p% of values <= it */
	double r = (p / 100.0) * (double)n;
	size_t rank = (size_t)r;
	if ((double)rank < r)
		rank++;
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

#endif
