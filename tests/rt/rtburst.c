/*
 * rtburst - bursts of brand-new threads calling ringlb.so at the same instant,
 * as calls arriving together do on FreeSWITCH's realtime call threads.
 *
 *   rtburst [flags] path/to/ringlb.so
 *
 * For each burst size N (-s) and each of -b bursts: create N new pthreads
 * (scheduling inherited from the process: run under `chrt -f 10`,
 * `chrt -r 89`, or set it with -p), let them wait on a barrier, then each
 * makes its first call(s) into the library at the same instant:
 * ringlb_next over -d destinations with a unique call id, then
 * ringlb_release of the chosen one. Each call is timed with CLOCK_MONOTONIC.
 * While the burst threads are still alive (after their calls, before they
 * exit) every thread of the process is listed with its scheduling class:
 * the harness's own threads (main, watchdog, burst threads) are expected to
 * keep the process's policy, every other thread (the Go runtime's, ringlb's
 * workers) must be SCHED_OTHER. Then the threads exit together and are
 * joined, which times the thread-exit path as well.
 *
 * After each burst, a floor burst of as many new threads, at the same
 * policy, hands a no-op to one of FLOOR_SERVERS SCHED_OTHER threads and
 * waits for it, as a call does with ringlb's workers: its worst round trip
 * is what this machine, at this moment, makes a caller wait for a
 * SCHED_OTHER thread to run, ringlb or not (nothing of ringlb runs during
 * a floor burst). A call of a burst of N threads may wait for up to
 * ceil(N / FLOOR_SERVERS) turns of a worker (the calls queued before it),
 * each of which can wait for a CPU twice (the hand-over and the Go
 * runtime's own thread), so a call is over the limit when it took longer
 * than -l ms plus 2 x ceil(N / FLOOR_SERVERS) x the worst floor round trip
 * of its burst size. On a quiet machine the floor is a fraction of a ms
 * and the limit holds as given; with both CPUs saturated by other work
 * (floor 5-25 ms under realtime callers), what the floor adds is the
 * machine's, not ringlb's.
 *
 * Fails (exit 1) if any call took longer than that limit, any call
 * returned an error, any library thread was realtime, a burst thread ran Go
 * code at realtime (RINGLB_DISPATCH=direct under chrt), a caller's policy
 * was changed by the library, or a load is not back to zero at the end.
 * Exit 77 (SKIP) if realtime scheduling was asked for (-p or -x) and is
 * refused or not in effect. Exit 3 if the -T deadline passed (a stall).
 */
#include "rtcommon.h" /* first: it defines _GNU_SOURCE */

#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>

#define MAX_DESTS 64
#define MAX_SIZES 8
#define MAX_LISTED 4096

struct size_stats {
	int size;
	int bursts_done;
	int64_t *first;   /* first-call (ringlb_next) latency of every thread */
	size_t nfirst;
	int64_t *rel;     /* ringlb_release latency of every thread's first pair */
	size_t nrel;
	int64_t worst_any;  /* worst latency of any call */
	int64_t worst_calls_phase; /* barrier release -> every thread done */
	int64_t worst_exit_phase;  /* exit gate -> every thread joined */
	int64_t worst_spawn;       /* creating the N threads */
	int64_t *worst;     /* worst call of every thread */
	size_t nworst;
	int64_t floor_worst; /* worst floor round trip (see floor_burst) */
	int64_t over_limit;
	int errors;
};

struct burst_thread {
	pthread_t th;
	int idx;
	pid_t tid;
	int64_t first_lat; /* the first ringlb_next */
	int64_t rel_lat;   /* the first ringlb_release */
	int64_t worst;     /* any call of this thread */
	int64_t t_first;   /* when the first call started */
	int errors;
	char err[RINGLB_ERRLEN + 64];
};

static struct ringlb_api api;
static uint64_t handle;
static const char *dests[MAX_DESTS];
static int ndest = 10;
static int pairs = 1;
static int cur_size, cur_burst;
static pthread_barrier_t b_start, b_done, b_exit;
static int verbose;

/* For the watchdog. */
static pid_t watchdog_tid;
static volatile int64_t burst_started_ns;
static volatile int wd_size, wd_burst, wd_bursts_total;
static volatile int64_t wd_worst_so_far;
static struct burst_thread *volatile wd_threads; /* the current burst's threads */
static int64_t deadline_ns;

static void die_setup(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "rtburst: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(RT_EXIT_SETUP);
}

static void *burst_main(void *arg) {
	struct burst_thread *t = arg;
	t->tid = rt_gettid();
	pthread_barrier_wait(&b_start);
	for (int k = 0; k < pairs; k++) {
		char id[64], err[RINGLB_ERRLEN];
		int chosen = -1, removed = 0;
		snprintf(id, sizeof id, "s%d-b%d-t%d-k%d", cur_size, cur_burst, t->idx, k);
		int64_t t0 = rt_now_ns();
		int rc = api.next(handle, ndest, dests, id, &chosen, err, sizeof err);
		int64_t t1 = rt_now_ns();
		if (k == 0) {
			t->t_first = t0;
			__atomic_store_n(&t->first_lat, t1 - t0, __ATOMIC_RELAXED); /* the watchdog reads it */
		}
		if (t1 - t0 > t->worst)
			t->worst = t1 - t0;
		if (rc != RINGLB_OK || chosen < 0 || chosen >= ndest) {
			if (t->errors++ == 0)
				snprintf(t->err, sizeof t->err, "next rc=%d chosen=%d: %s", rc, chosen, err);
			continue;
		}
		t0 = rt_now_ns();
		rc = api.release(handle, dests[chosen], id, &removed, err, sizeof err);
		t1 = rt_now_ns();
		if (k == 0)
			t->rel_lat = t1 - t0;
		if (t1 - t0 > t->worst)
			t->worst = t1 - t0;
		if (rc != RINGLB_OK || removed != 1) {
			if (t->errors++ == 0)
				snprintf(t->err, sizeof t->err, "release rc=%d removed=%d: %s", rc, removed, err);
		}
	}
	pthread_barrier_wait(&b_done); /* main lists the threads now */
	pthread_barrier_wait(&b_exit);
	return NULL;
}

/*
 * The floor: FLOOR_SERVERS SCHED_OTHER threads, as many as ringlb's default
 * cap of workers, serve no-op requests handed over through a queue; a
 * caller waits for its own to be served.
 */
#define FLOOR_SERVERS 32
struct floor_req {
	struct floor_req *next;
	sem_t done;
};
static pthread_mutex_t floor_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t floor_cv = PTHREAD_COND_INITIALIZER;
static struct floor_req *floor_queue;
static pid_t floor_tids[FLOOR_SERVERS];

static void *floor_server(void *arg) {
	__atomic_store_n((pid_t *)arg, rt_gettid(), __ATOMIC_RELEASE);
	for (;;) {
		pthread_mutex_lock(&floor_mu);
		while (floor_queue == NULL)
			pthread_cond_wait(&floor_cv, &floor_mu);
		struct floor_req *r = floor_queue;
		floor_queue = r->next;
		pthread_mutex_unlock(&floor_mu);
		sem_post(&r->done);
	}
	return NULL;
}

/* start_floor starts the floor's servers, SCHED_OTHER whatever the
 * process runs. */
static void start_floor(void) {
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	struct sched_param sp = {.sched_priority = 0};
	pthread_attr_setinheritsched(&a, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(&a, SCHED_OTHER);
	pthread_attr_setschedparam(&a, &sp);
	for (int i = 0; i < FLOOR_SERVERS; i++) {
		pthread_t t;
		int e = pthread_create(&t, &a, floor_server, &floor_tids[i]);
		if (e != 0) {
			fprintf(stderr, "rtburst: floor server: %s\n", strerror(e));
			exit(RT_EXIT_SETUP);
		}
	}
	pthread_attr_destroy(&a);
	for (int i = 0; i < FLOOR_SERVERS; i++)
		while (__atomic_load_n(&floor_tids[i], __ATOMIC_ACQUIRE) == 0)
			usleep(100);
}

static int is_floor_server(pid_t tid) {
	for (int i = 0; i < FLOOR_SERVERS; i++)
		if (floor_tids[i] == tid)
			return 1;
	return 0;
}

static pthread_barrier_t f_start;

static void *floor_main(void *arg) {
	int64_t *lat = arg;
	struct floor_req r = {.next = NULL};
	sem_init(&r.done, 0, 0);
	pthread_barrier_wait(&f_start);
	int64_t t0 = rt_now_ns();
	pthread_mutex_lock(&floor_mu);
	r.next = floor_queue;
	floor_queue = &r;
	pthread_cond_signal(&floor_cv);
	pthread_mutex_unlock(&floor_mu);
	while (sem_wait(&r.done) != 0) {
	}
	*lat = rt_now_ns() - t0;
	sem_destroy(&r.done);
	return NULL;
}

/* floor_burst makes n new threads with attributes a hand a request to the
 * floor's servers at once, and returns the slowest round trip. */
static int64_t floor_burst(int n, pthread_attr_t *a) {
	pthread_t *th = calloc((size_t)n, sizeof *th);
	int64_t *lat = calloc((size_t)n, sizeof *lat);
	if (th == NULL || lat == NULL) {
		fprintf(stderr, "rtburst: out of memory\n");
		exit(RT_EXIT_SETUP);
	}
	pthread_barrier_init(&f_start, NULL, (unsigned)n);
	for (int i = 0; i < n; i++) {
		int e = pthread_create(&th[i], a, floor_main, &lat[i]);
		if (e != 0) {
			fprintf(stderr, "rtburst: pthread_create: %s\n", strerror(e));
			exit(RT_EXIT_SETUP);
		}
	}
	int64_t worst = 0;
	for (int i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		if (lat[i] > worst)
			worst = lat[i];
	}
	pthread_barrier_destroy(&f_start);
	free(th);
	free(lat);
	return worst;
}

/*
 * check_threads lists every thread and checks its class. own[0..nown) are the
 * harness's burst threads. want_rt says whether the process runs realtime.
 * Returns the number of violations; prints the list when show is set.
 */
static int check_threads(const char *when, const struct burst_thread *own, int nown, pid_t main_tid,
                         int want_pol, int want_prio, int direct, int show) {
	static struct rt_thread list[MAX_LISTED];
	int n = rt_list_threads(list, MAX_LISTED);
	if (n < 0) {
		fprintf(stderr, "rtburst: cannot read /proc/self/task\n");
		return 1;
	}
	if (n > MAX_LISTED)
		n = MAX_LISTED;
	int bad = 0, lib = 0, lib_rt = 0, own_ok = 0, own_other = 0;
	if (show)
		printf("threads %s: %d\n", when, n);
	for (int i = 0; i < n; i++) {
		const struct rt_thread *t = &list[i];
		const char *role = NULL;
		if (t->tid == main_tid)
			role = "harness main (loaded the library)";
		else if (t->tid == watchdog_tid)
			role = "harness watchdog";
		else if (is_floor_server(t->tid))
			continue; /* the floor's own SCHED_OTHER threads (see start_floor) */
		else
			for (int j = 0; j < nown; j++)
				if (own[j].tid == t->tid) {
					role = "harness burst thread";
					break;
				}
		if (role == NULL) {
			lib++;
			int rt = rt_is_realtime(t->policy);
			if (rt) {
				lib_rt++;
				bad++;
			}
			if ((show && (verbose || nown == 0)) || rt)
				printf("  tid %-7d %-11s prio %-2d %-16s library thread (Go runtime / ringlb worker)%s\n",
				       (int)t->tid, rt_policy_name(t->policy), t->prio, t->comm,
				       rt ? "  <-- REALTIME: FAIL" : "");
			continue;
		}
		int is_burst = strcmp(role, "harness burst thread") == 0;
		int keeps = t->policy == want_pol && t->prio == want_prio;
		if (t->tid == watchdog_tid)
			keeps = 1; /* the watchdog has its own, higher, priority */
		if (!keeps) {
			/* The library must never leave a caller's policy changed. */
			printf("  tid %-7d %-11s prio %-2d %-16s %s  <-- policy changed (want %s/%d): FAIL\n",
			       (int)t->tid, rt_policy_name(t->policy), t->prio, t->comm, role,
			       rt_policy_name(want_pol), want_prio);
			bad++;
			own_other++;
			continue;
		}
		if (is_burst) {
			own_ok++;
			continue; /* summarised below */
		}
		if (show)
			printf("  tid %-7d %-11s prio %-2d %-16s %s\n", (int)t->tid, rt_policy_name(t->policy),
			       t->prio, t->comm, role);
	}
	if (show && nown > 0)
		printf("  + %d harness burst threads at %s/%d\n", own_ok, rt_policy_name(want_pol), want_prio);
	if (direct && rt_is_realtime(want_pol) && nown > 0) {
		/* RINGLB_DISPATCH=direct: the burst threads run Go code themselves. */
		if (show)
			printf("  burst threads run Go code at realtime (RINGLB_DISPATCH=direct): FAIL\n");
		bad++;
	}
	if (show)
		printf("  library threads: %d, realtime among them: %d%s\n", lib, lib_rt,
		       lib_rt ? "  FAIL" : " (ok)");
	(void)own_other;
	return bad;
}

static int64_t dump_after_ns; /* -D: dump thread states when a burst runs this long */

/* dump_threads prints every thread's state, class, wchan and kernel stack. */
static void dump_threads(int64_t running) {
	static struct rt_thread list[MAX_LISTED];
	int n = rt_list_threads(list, MAX_LISTED);
	if (n > MAX_LISTED)
		n = MAX_LISTED;
	fprintf(stderr, "--- burst of %d running for %.1f ms: %d threads ---\n", wd_size, running / 1e6, n);
	for (int i = 0; i < n; i++) {
		char path[96], stat[512] = "", wchan[64] = "", sys[128] = "";
		FILE *f;
		snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)list[i].tid);
		if ((f = fopen(path, "r")) != NULL) {
			if (fgets(stat, sizeof stat, f) == NULL)
				stat[0] = 0;
			fclose(f);
		}
		char *p = strrchr(stat, ')');
		char state = p && p[1] ? p[2] : '?';
		snprintf(path, sizeof path, "/proc/self/task/%d/wchan", (int)list[i].tid);
		if ((f = fopen(path, "r")) != NULL) {
			if (fgets(wchan, sizeof wchan, f) == NULL)
				wchan[0] = 0;
			fclose(f);
		}
		snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)list[i].tid);
		if ((f = fopen(path, "r")) != NULL) {
			if (fgets(sys, sizeof sys, f) == NULL)
				sys[0] = 0;
			sys[strcspn(sys, " \n")] = 0;
			fclose(f);
		}
		fprintf(stderr, "  tid %-7d %c %-11s/%-2d wchan=%-24s syscall=%s\n", (int)list[i].tid, state,
		        rt_policy_name(list[i].policy), list[i].prio, wchan, sys);
	}
}

/* The watchdog ends a stalled run with what it knows (write(2) only). */
static void *watchdog_main(void *arg) {
	(void)arg;
	watchdog_tid = rt_gettid();
	struct timespec ts = {.tv_sec = deadline_ns / 1000000000, .tv_nsec = deadline_ns % 1000000000};
	int64_t dumped_for = 0;
	while (dump_after_ns > 0 && rt_now_ns() < deadline_ns) {
		int64_t started = burst_started_ns;
		if (started && started != dumped_for && rt_now_ns() - started > dump_after_ns) {
			dump_threads(rt_now_ns() - started);
			dumped_for = started;
		}
		usleep(2000);
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
	}
	char buf[512];
	int64_t now = rt_now_ns();
	int64_t stuck = burst_started_ns ? now - burst_started_ns : 0;
	int n = snprintf(buf, sizeof buf,
	                 "\nrtburst: DEADLINE reached: size %d, burst %d of %d has been running %.1f ms "
	                 "(worst completed call so far %.3f ms). A stall: FAIL\n",
	                 wd_size, wd_burst + 1, wd_bursts_total, stuck / 1e6, wd_worst_so_far / 1e6);
	if (write(2, buf, (size_t)n) < 0) {
	}
	/* How far the stalled burst got: threads whose first call returned. */
	int done = 0;
	int64_t slowest = 0;
	struct burst_thread *th = wd_threads;
	for (int i = 0; th != NULL && i < wd_size; i++) {
		int64_t l = __atomic_load_n(&th[i].first_lat, __ATOMIC_RELAXED);
		if (l > 0) {
			done++;
			if (l > slowest)
				slowest = l;
		}
	}
	n = snprintf(buf, sizeof buf,
	             "rtburst: in that burst %d of %d threads had their first call answered (slowest %.3f ms); "
	             "the other %d waited > %.1f s\n",
	             done, wd_size, slowest / 1e6, wd_size - done, stuck / 1e9);
	if (write(2, buf, (size_t)n) < 0) {
	}
	n = snprintf(buf, sizeof buf,
	             "RESULT size=%d bursts=%d p99_ms=%s%.1f worst_ms=>%.1f answered=%d/%d stalled=1\n", wd_size,
	             wd_burst, done * 100 >= wd_size * 99 ? "" : ">", done * 100 >= wd_size * 99 ? slowest / 1e6 : stuck / 1e6,
	             stuck / 1e6, done, wd_size);
	if (write(1, buf, (size_t)n) < 0) {
	}
	_exit(RT_EXIT_DEADLINE);
	return NULL;
}

static void usage(void) {
	fprintf(stderr,
	        "usage: rtburst [flags] path/to/ringlb.so\n"
	        "  -s 20,64,200  burst sizes (threads per burst)\n"
	        "  -b 100        bursts per size\n"
	        "  -d 10         destinations per ringlb_next\n"
	        "  -k 1          next+release pairs per thread\n"
	        "  -l 100        fail if any call takes longer (ms)\n"
	        "  -p POLICY     set the process policy first: fifo:PRIO, rr:PRIO, other, inherit (default)\n"
	        "  -x POLICY     expect this policy (e.g. under chrt); SKIP if realtime is not in effect\n"
	        "  -L LIB        Lua library to load RTLD_GLOBAL first (default liblua5.3.so.0; none)\n"
	        "  -T SECONDS    deadline for the whole run; a stall past it fails with exit 3 (default 0: none)\n"
	        "  -D MS         (with -T) dump every thread's state and wchan when a burst runs longer\n"
	        "  -v            list every thread at every burst\n");
	exit(RT_EXIT_SETUP);
}

int main(int argc, char **argv) {
	int sizes[MAX_SIZES] = {20, 64, 200}, nsizes = 3, bursts = 100;
	double limit_ms = 100;
	const char *lualib = "liblua5.3.so.0", *setpol = "inherit", *expect = NULL;
	double deadline_s = 0;
	int opt;
	while ((opt = getopt(argc, argv, "s:b:d:k:l:p:x:L:T:D:v")) != -1) {
		switch (opt) {
		case 's': {
			nsizes = 0;
			char *s = strdup(optarg), *save = NULL;
			for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				if (nsizes == MAX_SIZES || atoi(tok) < 1 || atoi(tok) > 2000)
					usage();
				sizes[nsizes++] = atoi(tok);
			}
			free(s);
			if (nsizes == 0)
				usage();
			break;
		}
		case 'b': bursts = atoi(optarg); break;
		case 'd': ndest = atoi(optarg); break;
		case 'k': pairs = atoi(optarg); break;
		case 'l': limit_ms = atof(optarg); break;
		case 'p': setpol = optarg; break;
		case 'x': expect = optarg; break;
		case 'L': lualib = optarg; break;
		case 'T': deadline_s = atof(optarg); break;
		case 'v': verbose = 1; break;
		case 'D': dump_after_ns = (int64_t)(atof(optarg) * 1e6); break;
		default: usage();
		}
	}
	if (optind != argc - 1 || bursts < 1 || ndest < 1 || ndest > MAX_DESTS || pairs < 1)
		usage();
	const char *so = argv[optind];
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* Scheduling: set it (-p) or check what chrt gave us (-x). */
	int pol, prio;
	if (rt_parse_policy(setpol, &pol, &prio) != 0)
		usage();
	if (pol >= 0 && rt_set_policy(pol, prio) != 0) {
		int e = errno;
		if (rt_is_realtime(pol) && (e == EPERM || e == EINVAL)) {
			printf("SKIP: realtime scheduling refused: sched_setscheduler(%s, %d): %s.\n"
			       "SKIP: this machine cannot run the realtime test; it was NOT passed.\n",
			       rt_policy_name(pol), prio, strerror(e));
			return RT_EXIT_SKIP;
		}
		die_setup("sched_setscheduler: %s", strerror(e));
	}
	int want_pol = sched_getscheduler(0);
	struct sched_param sp;
	sched_getparam(0, &sp);
	int want_prio = sp.sched_priority;
	if (expect != NULL) {
		int epol, eprio;
		if (rt_parse_policy(expect, &epol, &eprio) != 0)
			usage();
		if (epol >= 0 && (epol != want_pol || (rt_is_realtime(epol) && eprio != want_prio))) {
			if (rt_is_realtime(epol)) {
				printf("SKIP: expected %s/%d but the process runs %s/%d: realtime scheduling is not "
				       "in effect (chrt refused?).\nSKIP: the realtime test was NOT passed.\n",
				       rt_policy_name(epol), eprio, rt_policy_name(want_pol), want_prio);
				return RT_EXIT_SKIP;
			}
			die_setup("expected %s but running %s", rt_policy_name(epol), rt_policy_name(want_pol));
		}
	}
	const char *mode = getenv("RINGLB_DISPATCH");
	int direct = mode != NULL && strcmp(mode, "direct") == 0;
	printf("rtburst: %s, policy %s/%d, RINGLB_DISPATCH=%s, sizes", so, rt_policy_name(want_pol),
	       want_prio, mode ? mode : "(unset: auto)");
	for (int i = 0; i < nsizes; i++)
		printf(" %d", sizes[i]);
	printf(", %d bursts each, %d destinations, %d pair(s) per thread, limit %.0f ms\n", bursts, ndest,
	       pairs, limit_ms);

	if (deadline_s > 0) {
		pthread_attr_t a;
		pthread_t wd;
		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		if (rt_is_realtime(want_pol)) {
			/* Above the burst threads, so it runs even if they spin. */
			struct sched_param wsp = {.sched_priority = sched_get_priority_max(want_pol)};
			pthread_attr_setinheritsched(&a, PTHREAD_EXPLICIT_SCHED);
			pthread_attr_setschedpolicy(&a, want_pol);
			pthread_attr_setschedparam(&a, &wsp);
		}
		deadline_ns = rt_now_ns() + (int64_t)(deadline_s * 1e9);
		if (pthread_create(&wd, &a, watchdog_main, NULL) != 0)
			die_setup("cannot start the watchdog");
		pthread_attr_destroy(&a);
		while (__atomic_load_n(&watchdog_tid, __ATOMIC_ACQUIRE) == 0)
			usleep(100);
	}

	/* Load the library on this (possibly realtime) thread, as mod_lua does. */
	pid_t main_tid = rt_gettid();
	int64_t t0 = rt_now_ns();
	if (rt_load(lualib, so, &api) != 0)
		return RT_EXIT_SETUP;
	int64_t t_load = rt_now_ns() - t0;
	static char names[MAX_DESTS][16];
	for (int i = 0; i < ndest; i++) {
		snprintf(names[i], sizeof names[i], "dest%02d", i);
		dests[i] = names[i];
	}
	char err[RINGLB_ERRLEN];
	t0 = rt_now_ns();
	int rc = api.open("rtburst", 0, NULL, NULL, &handle, err, sizeof err);
	int64_t t_open = rt_now_ns() - t0;
	if (rc != RINGLB_OK) {
		printf("FAIL: ringlb_open: rc=%d %s\n", rc, err);
		return RT_EXIT_FAIL;
	}
	printf("loaded ringlb %s in %.3f ms; first call (ringlb_open) %.3f ms\n", api.version(), t_load / 1e6,
	       t_open / 1e6);
	start_floor();
	int violations = 0;
	int errors = 0;
	violations += check_threads("after loading", NULL, 0, main_tid, want_pol, want_prio, 0, 1);

	struct size_stats stats[MAX_SIZES];
	memset(stats, 0, sizeof stats);
	int64_t limit_ns = (int64_t)(limit_ms * 1e6);
	wd_bursts_total = bursts;
	for (int si = 0; si < nsizes; si++) {
		int n = sizes[si];
		struct size_stats *st = &stats[si];
		st->size = n;
		st->first = calloc((size_t)n * bursts, sizeof(int64_t));
		st->rel = calloc((size_t)n * bursts, sizeof(int64_t));
		st->worst = calloc((size_t)n * bursts, sizeof(int64_t));
		struct burst_thread *th = calloc((size_t)n, sizeof *th);
		if (st->first == NULL || st->rel == NULL || st->worst == NULL || th == NULL)
			die_setup("out of memory");
		pthread_attr_t a;
		pthread_attr_init(&a);
		pthread_attr_setstacksize(&a, 256 * 1024); /* scheduling: inherited */
		cur_size = n;
		wd_size = n;
		wd_threads = th;
		for (int b = 0; b < bursts; b++) {
			cur_burst = b;
			wd_burst = b;
			memset(th, 0, (size_t)n * sizeof *th);
			pthread_barrier_init(&b_start, NULL, (unsigned)n + 1);
			pthread_barrier_init(&b_done, NULL, (unsigned)n + 1);
			pthread_barrier_init(&b_exit, NULL, (unsigned)n + 1);
			int64_t ts = rt_now_ns();
			for (int i = 0; i < n; i++) {
				th[i].idx = i;
				int e = pthread_create(&th[i].th, &a, burst_main, &th[i]);
				if (e != 0)
					die_setup("pthread_create: %s", strerror(e));
			}
			int64_t tr = rt_now_ns();
			if (tr - ts > st->worst_spawn)
				st->worst_spawn = tr - ts;
			burst_started_ns = tr;
			pthread_barrier_wait(&b_start);
			pthread_barrier_wait(&b_done);
			int64_t td = rt_now_ns();
			int64_t first_start = td;
			for (int i = 0; i < n; i++)
				if (th[i].t_first && th[i].t_first < first_start)
					first_start = th[i].t_first;
			if (td - first_start > st->worst_calls_phase)
				st->worst_calls_phase = td - first_start;
			int show = verbose || b == 0;
			char when[64];
			snprintf(when, sizeof when, "during burst %d of %d threads", b + 1, n);
			violations += check_threads(when, th, n, main_tid, want_pol, want_prio, direct, show);
			int64_t tx = rt_now_ns();
			pthread_barrier_wait(&b_exit);
			for (int i = 0; i < n; i++)
				pthread_join(th[i].th, NULL);
			int64_t tj = rt_now_ns();
			if (tj - tx > st->worst_exit_phase)
				st->worst_exit_phase = tj - tx;
			burst_started_ns = 0;
			pthread_barrier_destroy(&b_start);
			pthread_barrier_destroy(&b_done);
			pthread_barrier_destroy(&b_exit);
			for (int i = 0; i < n; i++) {
				st->first[st->nfirst++] = th[i].first_lat;
				st->rel[st->nrel++] = th[i].rel_lat;
				st->worst[st->nworst++] = th[i].worst;
				if (th[i].worst > st->worst_any)
					st->worst_any = th[i].worst;
				if (th[i].errors) {
					if (st->errors == 0)
						printf("FAIL: size %d burst %d thread %d: %d error(s), first: %s\n", n, b + 1, i,
						       th[i].errors, th[i].err);
					st->errors += th[i].errors;
				}
			}
			st->bursts_done++;
			int64_t fw = floor_burst(n, &a);
			if (fw > st->floor_worst)
				st->floor_worst = fw;
			if (verbose) {
				int64_t bw = 0;
				for (int i = 0; i < n; i++)
					if (th[i].worst > bw)
						bw = th[i].worst;
				printf("burst %d/%d of %d: worst call %.3f ms, calls phase %.3f ms, exit %.3f ms\n", b + 1,
				       bursts, n, bw / 1e6, (td - first_start) / 1e6, (tj - tx) / 1e6);
			}
			if (st->worst_any > wd_worst_so_far)
				wd_worst_so_far = st->worst_any;
		}
		pthread_attr_destroy(&a);
		free(th);
		errors += st->errors;
	}

	/* Every hold released: loads back to zero. */
	int64_t loads[MAX_DESTS];
	int load_bad = 0;
	rc = api.load(handle, ndest, dests, loads, err, sizeof err);
	if (rc != RINGLB_OK) {
		printf("FAIL: ringlb_load: rc=%d %s\n", rc, err);
		load_bad = 1;
	} else {
		for (int i = 0; i < ndest; i++)
			if (loads[i] != 0) {
				printf("FAIL: %s has load %lld at the end (want 0)\n", dests[i], (long long)loads[i]);
				load_bad = 1;
			}
	}
	violations += check_threads("at the end", NULL, 0, main_tid, want_pol, want_prio, 0, 1);

	printf("\n%-6s %-7s %-12s %-12s %-12s %-12s %-12s %-12s %-12s %-12s %s\n", "size", "bursts", "first p50",
	       "first p99", "first worst", "release p99", "worst call", "worst exit", "floor worst", "limit",
	       "over limit");
	int64_t over = 0;
	for (int si = 0; si < nsizes; si++) {
		struct size_stats *st = &stats[si];
		int64_t turns = (st->size + FLOOR_SERVERS - 1) / FLOOR_SERVERS;
		int64_t lim = limit_ns + 2 * turns * st->floor_worst;
		for (size_t i = 0; i < st->nworst; i++)
			st->over_limit += st->worst[i] > lim;
		qsort(st->first, st->nfirst, sizeof(int64_t), rt_cmp_i64);
		qsort(st->rel, st->nrel, sizeof(int64_t), rt_cmp_i64);
		printf("%-6d %-7d %9.3f ms %9.3f ms %9.3f ms %9.3f ms %9.3f ms %9.3f ms %9.3f ms %9.3f ms %lld\n",
		       st->size, st->bursts_done, rt_percentile(st->first, st->nfirst, 50) / 1e6,
		       rt_percentile(st->first, st->nfirst, 99) / 1e6, st->first[st->nfirst - 1] / 1e6,
		       rt_percentile(st->rel, st->nrel, 99) / 1e6, st->worst_any / 1e6,
		       st->worst_exit_phase / 1e6, st->floor_worst / 1e6, lim / 1e6, (long long)st->over_limit);
		over += st->over_limit;
	}
	for (int si = 0; si < nsizes; si++) {
		struct size_stats *st = &stats[si];
		printf("RESULT size=%d bursts=%d p99_ms=%.3f worst_ms=%.3f worst_any_ms=%.3f exit_ms=%.3f "
		       "floor_ms=%.3f errors=%d\n",
		       st->size, st->bursts_done, rt_percentile(st->first, st->nfirst, 99) / 1e6,
		       st->first[st->nfirst - 1] / 1e6, st->worst_any / 1e6, st->worst_exit_phase / 1e6,
		       st->floor_worst / 1e6, st->errors);
	}
	int fail = 0;
	if (over) {
		printf("FAIL: %lld thread(s) had a call over the limit (%.0f ms plus 2 x ceil(size / 32) x the floor's worst round trip)\n",
		       (long long)over, limit_ms);
		fail = 1;
	}
	if (errors) {
		printf("FAIL: %d call(s) returned an error\n", errors);
		fail = 1;
	}
	if (violations) {
		printf("FAIL: %d scheduling violation(s) (realtime library thread, caller's policy changed, "
		       "or Go run at realtime)\n",
		       violations);
		fail = 1;
	}
	if (load_bad)
		fail = 1;
	printf("%s: %s/%d, RINGLB_DISPATCH=%s\n", fail ? "FAIL" : "PASS", rt_policy_name(want_pol),
	       want_prio, mode ? mode : "auto");
	return fail ? RT_EXIT_FAIL : RT_EXIT_PASS;
}
