/*
 * go_signals.c SO_PATH REDIS_URL MODE [KIB] - a host's handlers of the
 * signals that the Go runtime never blocks on its own threads, as a profiler
 * and a process supervisor install them, while ringlb runs Go code.
 *
 * The Go runtime unblocks SIGPROF, SIGCHLD, SIGSTKFLT and signal 34
 * (glibc's SIGRTMIN) on every thread as it starts running Go code there,
 * whatever the mask the thread had, so a process-directed one may land on a
 * Go runtime thread. ringlb keeps them blocked on its workers and on a host
 * thread for the length of each call, keeps the SA_ONSTACK the runtime
 * gives the handlers installed before loading, so that on a Go thread they
 * run on its signal stack, and gives every thread that runs Go code a
 * 256 KiB signal stack instead of the runtime's 32 KiB one
 * (docs/realtime.md, Signals).
 *
 * MODE:
 *   before        the handlers are installed with signal() before loading
 *                 ringlb (a profiler started with the host)
 *   after         with sigaction() and SA_ONSTACK after loading
 *   after-plain   with sigaction() without SA_ONSTACK after loading: the
 *                 unsafe set-up. Not a test: it shows what happens (a
 *                 crash, sooner or later).
 *   detect        the unsafe set-up is reported: a SIGCHLD handler without
 *                 SA_ONSTACK installed after loading shows in the metric
 *                 ringlb_unsafe_signal_handlers and in one log line on
 *                 standard error; installed again with SA_ONSTACK, the
 *                 metric is 0 again.
 * KIB is the stack each handler uses, in KiB (default 4). Handlers of
 * different signals may nest, on one signal stack: four of 12 KiB crashed
 * the process on the runtime's 32 KiB one.
 *
 * The load, for before/after: setitimer(ITIMER_PROF) at 1 kHz of process
 * CPU time, a thread forking children that exit at once (SIGCHLD), another
 * sending SIGSTKFLT and SIGRTMIN to the process, and caller threads running
 * next+release in a loop on the memory and the Redis backend: two SCHED_FIFO
 * callers (handed to workers; SCHED_OTHER when realtime is refused) and two
 * SCHED_OTHER callers (calling Go directly). DURATION_S seconds.
 *
 * Fails if the process crashes or hangs; if a handler runs on a host thread
 * off both its own stack and its alternate signal stack (on a goroutine
 * stack: Go code was interrupted), on a Go thread off its signal stack, or
 * on a signal stack under 256 KiB;
 * if a ringlb worker does not block these signals; or if any call fails.
 * Prints where the handlers ran.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hostlib.h"
#include "loadlib.h"
#include "scrape.h"

#define CALLERS 4
#define DURATION_S 3
#define DEADLINE_S 120
#define NSIGS 4

static typeof(&ringlb_open) p_open;
static typeof(&ringlb_next) p_next;
static typeof(&ringlb_release) p_release;
static typeof(&ringlb_metrics) p_metrics;

static int sigs[NSIGS];
static sigset_t sigs_set;

/* The stack of each host thread, recorded when it starts; NULL on threads
 * the host did not create (Go's, ringlb's workers). */
static __thread char *stack_lo, *stack_hi;

static size_t handler_stack;
static atomic_long on_host_own, on_host_alt, on_host_other, on_go_alt, on_go_other, on_worker_name;
/* Runs on a signal stack smaller than ringlb's (the runtime's own is 32 KiB). */
static atomic_long on_small_alt;
#define RINGLB_SIGSTACK (256 * 1024)
static atomic_long per_signal[NSIGS];
static atomic_long calls, call_failures;
static atomic_int stop;

static void handler(int sig) {
	int saved = errno;
	volatile char buf[handler_stack];
	for (size_t i = 0; i < handler_stack; i += 512)
		buf[i] = (char)sig;
	char *sp = (char *)&buf[0];
	for (int i = 0; i < NSIGS; i++)
		if (sigs[i] == sig)
			atomic_fetch_add(&per_signal[i], 1);
	stack_t ss;
	int on_alt = sigaltstack(NULL, &ss) == 0 && (ss.ss_flags & SS_ONSTACK);
	if (on_alt && ss.ss_size < RINGLB_SIGSTACK)
		atomic_fetch_add(&on_small_alt, 1);
	if (stack_lo != NULL) {
		if (sp >= stack_lo && sp + handler_stack <= stack_hi)
			atomic_fetch_add(&on_host_own, 1);
		else
			atomic_fetch_add(on_alt ? &on_host_alt : &on_host_other, 1);
	} else {
		char name[16] = "";
		prctl(PR_GET_NAME, name);
		/* The workers themselves (the runtime's threads are ringlb-go). */
		if (strncmp(name, "ringlb-worker", 13) == 0)
			atomic_fetch_add(&on_worker_name, 1);
		atomic_fetch_add(on_alt ? &on_go_alt : &on_go_other, 1);
	}
	errno = saved;
}

static void record_stack(void) {
	if (thread_stack(&stack_lo, &stack_hi) != 0) {
		fprintf(stderr, "FAIL: cannot read this thread's stack bounds\n");
		exit(1);
	}
	/* Host threads start with the signals blocked until they know their
	 * stack. */
	pthread_sigmask(SIG_UNBLOCK, &sigs_set, NULL);
}

static void install(int sig, int plain_signal, int onstack) {
	if (plain_signal)
		signal(sig, handler);
	else
		on_signal(sig, handler, SA_RESTART | (onstack ? SA_ONSTACK : 0));
}

/* sleep_for sleeps s seconds, whatever signals interrupt it. */
static void sleep_for(double s) {
	struct timespec end;
	clock_gettime(CLOCK_MONOTONIC, &end);
	long ns = end.tv_nsec + (long)((s - (long)s) * 1e9);
	end.tv_sec += (time_t)s + ns / 1000000000;
	end.tv_nsec = ns % 1000000000;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &end, NULL) == EINTR) {
	}
}

static uint64_t handles[2];
static int nhandles;
static const char *dests[] = {"user/1001", "user/1002", "user/1003", "user/1004"};

static void *caller(void *arg) {
	long id = (long)arg;
	char call[64];
	record_stack();
	for (long i = 0; !atomic_load(&stop); i++) {
		snprintf(call, sizeof call, "g%ld-%ld", id, i);
		if (next_release(p_next, p_release, handles[i % nhandles], 4, dests, call) != 0)
			atomic_fetch_add(&call_failures, 1);
		else
			atomic_fetch_add(&calls, 1);
		/* Spend CPU on the host's own stack too, as a switch does. */
		for (volatile int k = 0; k < 2000; k++) {
		}
	}
	return NULL;
}

static atomic_long forks;

static void *forker(void *arg) {
	(void)arg;
	record_stack();
	while (!atomic_load(&stop)) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(0);
		if (pid > 0) {
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
			}
			atomic_fetch_add(&forks, 1);
		}
		usleep(500);
	}
	return NULL;
}

static void *sender(void *arg) {
	(void)arg;
	record_stack();
	while (!atomic_load(&stop)) {
		kill(getpid(), SIGSTKFLT);
		kill(getpid(), SIGRTMIN);
		usleep(1000);
	}
	return NULL;
}

static void *watchdog(void *arg) {
	(void)arg;
	record_stack();
	sleep_for(DEADLINE_S);
	fprintf(stderr, "FAIL: still running after %d s (hung)\n", DEADLINE_S);
	_exit(2);
}

/* workers_blocking counts the threads named ringlb-worker that block every
 * signal of sigs. */
static int workers_blocking(void) {
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;
	while (d != NULL && (e = readdir(d)) != NULL) {
		char path[300], line[256], comm[32] = "";
		unsigned long long blk = 0;
		if (e->d_name[0] == '.' || task_name(e->d_name, comm, sizeof comm) != 0)
			continue;
		if (strcmp(comm, "ringlb-worker") != 0)
			continue;
		snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
		FILE *f;
		if ((f = fopen(path, "r")) == NULL)
			continue;
		while (fgets(line, sizeof line, f) != NULL)
			if (sscanf(line, "SigBlk: %llx", &blk) == 1)
				break;
		fclose(f);
		int all = 1;
		for (int i = 0; i < NSIGS; i++)
			if (!(blk & (1ULL << (sigs[i] - 1))))
				all = 0;
		n += all;
	}
	if (d != NULL)
		closedir(d);
	return n;
}

/* detect checks that a handler without SA_ONSTACK is reported, in the
 * metric and once in the log (standard error, redirected to a file). */
static int detect(void) {
	char path[] = "/tmp/ringlb-detect-XXXXXX";
	int fd = mkstemp(path);
	int saved_stderr = dup(2);
	if (fd < 0 || saved_stderr < 0 || dup2(fd, 2) < 0) {
		perror("detect: stderr");
		return 1;
	}
	unlink(path);
	double clean = scrape_metric(p_metrics, "ringlb_unsafe_signal_handlers");
	install(SIGCHLD, 0, 0);
	double unsafe = scrape_metric_within(p_metrics, "ringlb_unsafe_signal_handlers", 1, 1);
	double again = scrape_metric(p_metrics, "ringlb_unsafe_signal_handlers");
	install(SIGCHLD, 0, 1);
	double fixed = scrape_metric_within(p_metrics, "ringlb_unsafe_signal_handlers", 0, 0);
	dup2(saved_stderr, 2);
	char log[8192];
	ssize_t n = pread(fd, log, sizeof log - 1, 0);
	log[n > 0 ? n : 0] = '\0';
	int lines = 0;
	for (char *p = log; (p = strstr(p, "handler of SIGCHLD has no SA_ONSTACK")) != NULL; p++)
		lines++;
	printf("ringlb_unsafe_signal_handlers: %g before, %g and %g with a SIGCHLD handler without SA_ONSTACK, %g with "
	       "SA_ONSTACK; %d log line(s) about it:\n%s",
	       clean, unsafe, again, fixed, lines, log);
	if (clean != 0 || unsafe != 1 || again != 1 || fixed != 0 || lines != 1) {
		printf("FAIL\n");
		return 1;
	}
	printf("PASS\n");
	return 0;
}

int main(int argc, char **argv) {
	if (argc < 4) {
		fprintf(stderr, "usage: %s SO_PATH REDIS_URL before|after|after-plain|detect [KIB]\n", argv[0]);
		return 2;
	}
	const char *mode = argv[3];
	handler_stack = (size_t)(argc > 4 ? atoi(argv[4]) : 4) * 1024;
	if (handler_stack < 1024) {
		fprintf(stderr, "KIB must be at least 1\n");
		return 2;
	}
	record_stack();
	sigs[0] = SIGPROF, sigs[1] = SIGCHLD, sigs[2] = SIGSTKFLT, sigs[3] = SIGRTMIN;
	sigemptyset(&sigs_set);
	for (int i = 0; i < NSIGS; i++)
		sigaddset(&sigs_set, sigs[i]);
	int before = strcmp(mode, "before") == 0;
	int plain = strcmp(mode, "after-plain") == 0;
	if (!before && !plain && strcmp(mode, "after") != 0 && strcmp(mode, "detect") != 0) {
		fprintf(stderr, "MODE must be before, after, after-plain or detect\n");
		return 2;
	}
	if (before)
		for (int i = 0; i < NSIGS; i++)
			install(sigs[i], 1, 0);
	void *so = load_library(argv[1]);
	LOAD_SYM(so, open);
	LOAD_SYM(so, next);
	LOAD_SYM(so, release);
	LOAD_SYM(so, metrics);
	if (strcmp(mode, "detect") == 0)
		return detect();
	if (!before)
		for (int i = 0; i < NSIGS; i++)
			install(sigs[i], 0, !plain);

	char err[RINGLB_ERRLEN];
	if (p_open("gosig-mem", 0, NULL, NULL, &handles[nhandles++], err, sizeof err) != RINGLB_OK) {
		fprintf(stderr, "FAIL open memory: %s\n", err);
		return 1;
	}
	const char *k[] = {"url", "lease", "timeout"};
	const char *v[] = {argv[2], "3", "10"}; /* a loaded machine is no failure here */
	if (p_open("gosig-redis", 3, k, v, &handles[nhandles++], err, sizeof err) != RINGLB_OK) {
		fprintf(stderr, "FAIL open redis: %s\n", err);
		return 1;
	}

	pthread_t wd, fk, sd, t[CALLERS];
	pthread_sigmask(SIG_BLOCK, &sigs_set, NULL);
	pthread_create(&wd, NULL, watchdog, NULL);
	int realtime = 0;
	for (long i = 0; i < CALLERS; i++) {
		pthread_attr_t a;
		if (i < 2)
			fifo_attr(&a);
		else
			pthread_attr_init(&a);
		int e = pthread_create(&t[i], &a, caller, (void *)i);
		if (e == EPERM)
			e = pthread_create(&t[i], NULL, caller, (void *)i);
		else if (e == 0 && i < 2)
			realtime++;
		pthread_attr_destroy(&a);
		if (e != 0) {
			fprintf(stderr, "pthread_create: %s\n", strerror(e));
			return 1;
		}
	}
	pthread_create(&fk, NULL, forker, NULL);
	pthread_create(&sd, NULL, sender, NULL);
	pthread_sigmask(SIG_UNBLOCK, &sigs_set, NULL);
	struct itimerval it = {.it_interval = {0, 1000}, .it_value = {0, 1000}};
	setitimer(ITIMER_PROF, &it, NULL);
	sleep_for(DURATION_S);
	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_PROF, &off, NULL);
	atomic_store(&stop, 1);
	for (int i = 0; i < CALLERS; i++)
		pthread_join(t[i], NULL);
	pthread_join(fk, NULL);
	pthread_join(sd, NULL);

	double workers = scrape_metric(p_metrics, "ringlb_workers");
	int blocking = workers_blocking();
	printf("handlers (%s, %zu KiB): SIGPROF %ld, SIGCHLD %ld, SIGSTKFLT %ld, SIGRTMIN %ld; on host threads: on their own "
	       "stack %ld, on their signal stack %ld, elsewhere %ld; on the Go runtime's threads: on their signal stack %ld "
	       "(of which on threads named ringlb-worker %ld), elsewhere %ld; on a signal stack under 256 KiB %ld; ringlb "
	       "workers %g, of which blocking these signals %d; %ld next+release pairs (%d realtime callers), %ld failed, "
	       "%ld children\n",
	       mode, handler_stack / 1024, atomic_load(&per_signal[0]), atomic_load(&per_signal[1]),
	       atomic_load(&per_signal[2]), atomic_load(&per_signal[3]), atomic_load(&on_host_own),
	       atomic_load(&on_host_alt), atomic_load(&on_host_other), atomic_load(&on_go_alt),
	       atomic_load(&on_worker_name), atomic_load(&on_go_other), atomic_load(&on_small_alt), workers, blocking,
	       atomic_load(&calls), realtime,
	       atomic_load(&call_failures), atomic_load(&forks));
	if (atomic_load(&on_host_other) || atomic_load(&on_go_other) || atomic_load(&on_small_alt) ||
	    atomic_load(&call_failures) ||
	    atomic_load(&calls) == 0 || atomic_load(&per_signal[0]) == 0 || atomic_load(&per_signal[1]) == 0 ||
	    (realtime > 0 && (workers < 1 || blocking != (int)workers))) {
		printf("FAIL\n");
		return 1;
	}
	printf("PASS\n");
	return 0;
}
