/*
 * sigstack.c - signal stacks of SIGSTACK_SIZE for the threads that run Go
 * code.
 *
 * The Go runtime gives a thread it runs on a 32 KiB signal stack of its own,
 * unless the thread has one already, which it then uses
 * (runtime.minitSignalStack: the path for C threads that call Go). The
 * host's handlers of the signals the runtime never blocks on its threads
 * (dispatch.c's go_unblocked: SIGPROF, SIGCHLD...) run on that stack when
 * they land on a Go thread, nested ones on top of each other, and Go's own
 * handler may run on top of them: four 12 KiB handlers crashed the process
 * there. So every thread that runs Go code gets a larger one first, with an
 * inaccessible guard page below it, so that a handler too deep even for it
 * faults instead of writing over someone else's memory:
 *   - the threads the library creates: the Go runtime's (runtime/cgo calls
 *     pthread_create) and ringlb's workers. The library is linked with
 *     --wrap=pthread_create (shim.go), so those calls come here; the stack
 *     is set up on the new thread before its start routine runs, and freed
 *     if that routine returns (Go's threads return when they exit);
 *   - a host thread that calls Go directly, on its first call
 *     (ringlb_own_sigstack), unless it has a signal stack of its own; freed
 *     when the thread exits.
 * Pages never touched cost address space only.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ringlb_internal.h"

#define SIGSTACK_SIZE (256 * 1024)

/* A mapped signal stack: its guard page, then the stack. */
struct altstack {
	char *map;
	size_t len;
};

/* install maps a signal stack and makes it this thread's; it returns 0, or
 * -1 leaving the thread as it was. */
static int install(struct altstack *s) {
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	s->len = page + SIGSTACK_SIZE;
	s->map = mmap(NULL, s->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
	              -1, 0);
	if (s->map == MAP_FAILED) {
		s->map = NULL;
		return -1;
	}
	stack_t ss = {.ss_sp = s->map + page, .ss_size = SIGSTACK_SIZE, .ss_flags = 0};
	if (mprotect(s->map, page, PROT_NONE) != 0 || sigaltstack(&ss, NULL) != 0) {
		munmap(s->map, s->len);
		s->map = NULL;
		return -1;
	}
	return 0;
}

/* uninstall disables this thread's signal stack if it is still s, and
 * unmaps s. Signals must not use it meanwhile: the caller has them blocked,
 * or the stack is no longer the thread's. */
static void uninstall(struct altstack *s) {
	if (s->map == NULL)
		return;
	stack_t cur;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE) && (char *)cur.ss_sp == s->map + page) {
		stack_t off = {.ss_flags = SS_DISABLE};
		sigaltstack(&off, NULL);
	}
	munmap(s->map, s->len);
	s->map = NULL;
}

/* ---- threads the library creates ---- */

int __real_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);

struct start {
	void *(*fn)(void *);
	void *arg;
};

static void *start_with_sigstack(void *p) {
	struct start st = *(struct start *)p;
	free(p);
	/* Named, so that `top -H`, perf and the tests tell ringlb's threads
	 * from the host's: ringlb-go for the Go runtime's (a worker renames
	 * itself ringlb-worker, pool.c). Without a name the thread would carry
	 * the name of whichever thread made it, often one of the host's. */
	pthread_setname_np(pthread_self(), "ringlb-go");
	struct altstack s;
	/* The thread starts with every signal blocked (runtime/cgo and
	 * dispatch.c create threads so), and the runtime sets its mask once it
	 * has found this stack. */
	if (install(&s) != 0)
		s.map = NULL; /* the runtime gives it its own 32 KiB one */
	void *ret = st.fn(st.arg);
	/* A Go thread returns here when it exits, all signals blocked but the
	 * C library's own (sigsetAllExiting), which do not use it. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	uninstall(&s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret;
}

/* __wrap_pthread_create is pthread_create for the library's own code (the
 * Go runtime's C part and dispatch.c): the new thread gets its signal stack
 * before it runs anything. */
__attribute__((visibility("hidden"))) int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr,
                                                             void *(*fn)(void *), void *arg) {
	struct start *st = malloc(sizeof *st);
	if (st == NULL)
		return __real_pthread_create(t, attr, fn, arg);
	st->fn = fn;
	st->arg = arg;
	int rc = __real_pthread_create(t, attr, start_with_sigstack, st);
	if (rc != 0)
		free(st);
	return rc;
}

/* ---- host threads that call Go directly ---- */

static pthread_key_t host_key;
static pthread_once_t host_once = PTHREAD_ONCE_INIT;
static int host_key_ok;

/* free_host_sigstack runs at the exit of a host thread that got a stack.
 * Its key is made before Go's own (at the first call into Go), so it runs
 * before the runtime gives the thread's M back; the runtime's signal
 * handling copes with a thread without a signal stack there (it uses the
 * thread's own stack) and never touches this one again. */
static void free_host_sigstack(void *p) {
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	uninstall(p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	free(p);
}

static void make_host_key(void) { host_key_ok = pthread_key_create(&host_key, free_host_sigstack) == 0; }

void ringlb_sigstack_init(void) { pthread_once(&host_once, make_host_key); }

void ringlb_own_sigstack(void) {
	stack_t cur;
	if (sigaltstack(NULL, &cur) != 0 || !(cur.ss_flags & SS_DISABLE))
		return; /* the thread has its own: the runtime uses that */
	pthread_once(&host_once, make_host_key);
	if (!host_key_ok)
		return;
	struct altstack *s = malloc(sizeof *s);
	if (s == NULL)
		return;
	if (install(s) != 0 || pthread_setspecific(host_key, s) != 0) {
		uninstall(s);
		free(s);
	}
}
