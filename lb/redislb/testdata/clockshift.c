/*
 * clockshift.c - an LD_PRELOAD library that shifts a process's wall clock
 * (CLOCK_REALTIME, gettimeofday, time) by the number of milliseconds written
 * in the file that CLOCKSHIFT_FILE names, as an NTP step or an operator's
 * `date -s` would. The file is read again at most every 10 ms, so a test
 * steps the clock of a running redis-server by rewriting it. Monotonic
 * clocks are left alone. Built and used by the Redis clock-step tests.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);

static atomic_llong shift_ms;
static atomic_llong read_at_ns = -1;

static clock_gettime_fn real_clock_gettime(void) {
	static clock_gettime_fn f;
	if (f == NULL)
		f = (clock_gettime_fn)dlsym(RTLD_NEXT, "clock_gettime");
	return f;
}

/* shift returns the current shift (ms), reading the file when it is due. */
static long long shift(void) {
	struct timespec now;
	if (real_clock_gettime()(CLOCK_MONOTONIC, &now) != 0)
		return atomic_load(&shift_ms);
	long long ns = (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
	long long last = atomic_load(&read_at_ns);
	if (last >= 0 && ns - last < 10000000LL)
		return atomic_load(&shift_ms);
	atomic_store(&read_at_ns, ns);
	const char *path = getenv("CLOCKSHIFT_FILE");
	if (path == NULL)
		return 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return atomic_load(&shift_ms);
	char buf[32];
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n > 0) {
		buf[n] = 0;
		atomic_store(&shift_ms, strtoll(buf, NULL, 10));
	}
	return atomic_load(&shift_ms);
}

static void add_ms(struct timespec *ts, long long ms) {
	long long ns = (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec + ms * 1000000LL;
	ts->tv_sec = ns / 1000000000LL;
	ts->tv_nsec = ns % 1000000000LL;
	if (ts->tv_nsec < 0) {
		ts->tv_nsec += 1000000000LL;
		ts->tv_sec--;
	}
}

int clock_gettime(clockid_t id, struct timespec *ts) {
	int rc = real_clock_gettime()(id, ts);
	if (rc == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
		add_ms(ts, shift());
	return rc;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz) {
	(void)tz;
	struct timespec ts;
	int rc = clock_gettime(CLOCK_REALTIME, &ts);
	if (rc == 0) {
		tv->tv_sec = ts.tv_sec;
		tv->tv_usec = ts.tv_nsec / 1000;
	}
	return rc;
}

time_t time(time_t *out) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (out != NULL)
		*out = ts.tv_sec;
	return ts.tv_sec;
}
