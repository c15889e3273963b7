/*
 * host.c - what loading ringlb does to the host's process, and gives back:
 * the loading thread's policy and signal mask, the host's signal handlers,
 * and fork.
 *
 * The Go runtime's own threads inherit the scheduling policy and the signal
 * mask of the thread that creates them. The runtime's first thread is
 * created by Go's constructor on the thread that loads the library, so a
 * constructor that runs before Go's (ringlb_early) demotes that thread to
 * SCHED_OTHER and blocks the host's asynchronous signals, and one that runs
 * after Go's (ringlb_after_go) gives both back before dlopen returns.
 *
 * Signals belong to the host. Its handlers must never run on a Go-owned
 * stack (a goroutine stack, or a Go thread's signal stack) nor interrupt Go
 * code, so every thread that runs Go code keeps the host's asynchronous
 * signals (ringlb_async_signals) blocked while it does:
 *   - Go's own threads inherit them blocked from the loading thread;
 *   - ringlb's workers are born with them blocked (pool.c);
 *   - a host thread blocks them for the length of each call into ringlb,
 *     whether it calls Go directly or waits for a worker (dispatch.c).
 * A signal sent meanwhile is delivered to another thread, or to the same one
 * as soon as the call returns, on the host's own stack.
 *
 * The exception is go_unblocked: SIGPROF, SIGCHLD, SIGSTKFLT and signal 34
 * with Go 1.26, which the runtime unblocks on every thread as it starts
 * running Go code there. ringlb blocks them again on its workers after their
 * first entry, and makes a host thread's first direct entry a no-op after
 * which it blocks them again, but the runtime's own threads keep them
 * unblocked: a handler of these may run on a Go thread. There it runs on the
 * thread's signal stack (256 KiB, sigstack.c) if it has SA_ONSTACK, which
 * the runtime adds to the handlers installed before loading and ringlb
 * keeps; a handler installed later without it would run on a goroutine
 * stack, which ringlb reports (ringlb_unsafe_signals) but cannot prevent.
 * The runtime's SA_ONSTACK on the handlers of every other asynchronous
 * signal is taken back, since those never reach a Go thread. Synchronous
 * signals (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS), SIGABRT,
 * SIGPIPE and Go's preemption signal SIGURG stay with Go, which handles them
 * or forwards them to the host's handler as it documents.
 *
 * The child of a fork() has none of ringlb's threads nor the Go runtime's:
 * ringlb_forked_child is set there, and every call fails at once.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dispatch.h"

/* The loading thread's policy, saved by the early constructor. */
static pid_t loader_tid;
static int loader_policy = -1;
static struct sched_param loader_param;
static int loader_restored; /* accessed with __atomic builtins */

/* The host's asynchronous signals: every signal but those Go must see. */
sigset_t ringlb_async_signals;
/* Those of them the Go runtime unblocks on every thread that runs Go code,
 * measured on one of its threads once it is up (ringlb_go_started). */
static sigset_t go_unblocked;
static int go_unblocked_known; /* __atomic */
/* The loading thread's signal mask before ringlb_early blocked them. */
static sigset_t loader_mask;
/* Set on the loading thread only, until it has its mask back. */
static __thread int loader_mask_blocked;
/* The handlers before Go's constructor ran. */
static struct sigaction before_go[NSIG];

/* Set in the child of a fork(). */
volatile sig_atomic_t ringlb_forked_child;

static void init_async_signals(void) {
	static const int go_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS,
	                                 SIGABRT, SIGPIPE, SIGURG, SIGKILL, SIGSTOP};
	sigfillset(&ringlb_async_signals);
	for (size_t i = 0; i < sizeof go_signals / sizeof go_signals[0]; i++)
		sigdelset(&ringlb_async_signals, go_signals[i]);
}

static void mark_forked_child(void) { ringlb_forked_child = 1; }

/*
 * ringlb_restore_loader gives the loading thread its signal mask back, if
 * ringlb_after_go could not. It costs one TLS read on every other thread and
 * on every later call.
 */
void ringlb_restore_loader(void) {
	if (__builtin_expect(loader_mask_blocked, 0)) {
		loader_mask_blocked = 0;
		pthread_sigmask(SIG_SETMASK, &loader_mask, NULL);
	}
}

/* restore_loader_policy gives the loading thread, tid, its realtime policy
 * back, once. */
static void restore_loader_policy(pid_t tid) {
	if (loader_policy < 0 || __atomic_exchange_n(&loader_restored, 1, __ATOMIC_ACQ_REL))
		return;
	sched_setscheduler(tid, loader_policy, &loader_param);
}

/*
 * drop_go_onstack takes back the SA_ONSTACK that the Go runtime added to the
 * host's handlers of asynchronous signals when it initialised: those signals
 * never reach a thread while it runs Go code, so their handlers belong on
 * the host's stacks. Those of go_unblocked keep it, so that on the runtime's
 * threads they run on the signal stack. A handler the host changed since is
 * left alone.
 */
static void drop_go_onstack(void) {
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction now;
		if (sigismember(&ringlb_async_signals, sig) != 1 || sigismember(&go_unblocked, sig) == 1 ||
		    sigaction(sig, NULL, &now) != 0)
			continue;
		if (now.sa_handler == SIG_DFL || now.sa_handler == SIG_IGN ||
		    now.sa_handler != before_go[sig].sa_handler ||
		    !(now.sa_flags & SA_ONSTACK) || (before_go[sig].sa_flags & SA_ONSTACK))
			continue;
		now.sa_flags &= ~SA_ONSTACK;
		sigaction(sig, &now, NULL);
	}
}

/*
 * ringlb_early runs before the Go runtime's own constructor (constructors with
 * a priority run before those without), on the thread that loads the library.
 */
__attribute__((constructor(101))) static void ringlb_early(void) {
	init_async_signals();
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, NULL, &before_go[sig]);
	pthread_atfork(NULL, NULL, mark_forked_child);
	ringlb_sigstack_init();
	/* The runtime's first thread, created by Go's constructor on this
	 * thread, inherits this mask and hands it to every thread Go makes. */
	if (pthread_sigmask(SIG_BLOCK, &ringlb_async_signals, &loader_mask) == 0)
		loader_mask_blocked = 1;
	ringlb_dispatch_configure();
	ringlb_pool_configure();
	int pol = sched_getscheduler(0) & ~SCHED_RESET_ON_FORK;
	if (pol == SCHED_FIFO || pol == SCHED_RR) {
		struct sched_param zero = {0};
		if (sched_getparam(0, &loader_param) == 0 &&
		    sched_setscheduler(0, SCHED_OTHER, &zero) == 0) {
			loader_tid = (pid_t)syscall(SYS_gettid);
			loader_policy = pol;
		}
	}
}

/*
 * ringlb_after_go runs after the Go runtime's constructor: constructors
 * without a priority run in link order, and the Go linker puts the runtime's
 * object (go.o) before the C objects of cgo packages; tests/c/run.sh checks
 * the order in the built library. Go's constructor installs the runtime's
 * signal handlers (so SIGSEGV's has changed once it has run) and creates the
 * runtime's first thread, which has taken this thread's policy and mask.
 * The loading thread gets both back before dlopen returns, so that neither
 * the host nor the children it forks and execs meanwhile see them changed.
 * Were the order ever different, the first call into ringlb and Go's init
 * would give them back instead.
 */
__attribute__((constructor)) static void ringlb_after_go(void) {
	struct sigaction segv;
	if (sigaction(SIGSEGV, NULL, &segv) != 0 || segv.sa_handler == before_go[SIGSEGV].sa_handler)
		return;
	ringlb_restore_loader();
	restore_loader_policy(0);
}

/*
 * ringlb_go_started is called by the Go runtime's first goroutine, on one of
 * the runtime's threads, once the runtime is up.
 */
void ringlb_go_started(void) {
	/* This thread's mask is the one Go gives all its threads: the
	 * asynchronous signals it does not block are those Go unblocked. */
	sigset_t cur;
	if (pthread_sigmask(SIG_BLOCK, NULL, &cur) == 0) {
		sigemptyset(&go_unblocked);
		for (int sig = 1; sig < NSIG; sig++)
			if (sigismember(&ringlb_async_signals, sig) == 1 && sigismember(&cur, sig) == 0)
				sigaddset(&go_unblocked, sig);
		__atomic_store_n(&go_unblocked_known, 1, __ATOMIC_RELEASE);
	}
	/* Go's signal set-up ran in its constructor, before this thread. */
	drop_go_onstack();
	/* Normally done by ringlb_after_go. If the loader already exited, its
	 * thread id must not be reused for someone else's thread. */
	if (loader_policy >= 0 && syscall(SYS_tgkill, getpid(), loader_tid, 0) == 0)
		restore_loader_policy(loader_tid);
}

/*
 * ringlb_unsafe_signals writes the names of the signals of go_unblocked
 * whose handler is one of the host's functions without SA_ONSTACK to
 * buf[0..len), separated by spaces, and returns how many there are. Such a
 * handler runs on whatever stack a Go thread was on, often a goroutine's
 * few KiB.
 */
int ringlb_unsafe_signals(char *buf, size_t len) {
	int n = 0;
	size_t used = 0;
	if (len > 0)
		buf[0] = '\0';
	if (!__atomic_load_n(&go_unblocked_known, __ATOMIC_ACQUIRE))
		return 0;
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction now;
		if (sigismember(&go_unblocked, sig) != 1 || sigaction(sig, NULL, &now) != 0)
			continue;
		if (now.sa_handler == SIG_DFL || now.sa_handler == SIG_IGN || (now.sa_flags & SA_ONSTACK))
			continue;
		n++;
		const char *abbrev = sigabbrev_np(sig);
		char name[24];
		if (abbrev != NULL)
			snprintf(name, sizeof name, "SIG%s", abbrev);
		else if (sig >= SIGRTMIN)
			snprintf(name, sizeof name, "SIGRTMIN+%d", sig - SIGRTMIN);
		else
			snprintf(name, sizeof name, "signal %d", sig);
		if (len > 0 && used < len - 1)
			used += (size_t)snprintf(buf + used, len - used, "%s%s", n > 1 ? " " : "", name);
	}
	return n;
}


int ringlb_loader_here(void) { return loader_policy >= 0 && (pid_t)syscall(SYS_gettid) == loader_tid; }

int ringlb_loader_demoted_here(void) {
	return loader_policy >= 0 && !__atomic_load_n(&loader_restored, __ATOMIC_ACQUIRE) &&
	       (pid_t)syscall(SYS_gettid) == loader_tid;
}
