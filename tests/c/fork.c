/*
 * fork.c SO_PATH - loading ringlb leaves the loading thread's signal mask as
 * it was, and the child of a fork() gets an error from ringlb, not a hang.
 *
 * Loading: the Go runtime's threads take their mask from the thread that
 * loads the library, so ringlb blocks the host's signals on that thread
 * while the runtime starts, and must give the thread its own mask back
 * before dlopen returns: a host that receives SIGTERM, or forks and execs a
 * child, between loading ringlb and its first call would find SIGTERM
 * blocked. Checked: the mask right after dlopen equals the one before; a
 * SIGTERM raised then runs the host's handler at once; a child forked and
 * exec'd then dies of the SIGTERM it sends itself.
 *
 * Forking: a child has none of ringlb's worker threads nor the Go runtime's,
 * so a call there can never be served; it must fail at once with
 * RINGLB_EINTERNAL and the message saying why, leaving the child's mask as
 * it was. Checked for a child forked from a SCHED_OTHER thread (calls Go
 * directly) and from a SCHED_FIFO one (hands off to workers; skipped when
 * realtime is refused), each after the parent made calls the same way.
 * A child that does not finish within CHILD_WAIT_S is killed: a hang.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hostlib.h"
#include "loadlib.h"

#define CHILD_WAIT_S 10

static typeof(&ringlb_open) p_open;
static typeof(&ringlb_next) p_next;
static typeof(&ringlb_noop) p_noop;
static uint64_t handle;
static volatile sig_atomic_t terms;
static int failed;

static void on_term(int sig) {
	(void)sig;
	terms++;
}

static int same_mask(const sigset_t *a, const sigset_t *b) {
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(a, sig) != sigismember(b, sig))
			return 0;
	return 1;
}

/* wait_child waits for pid at most CHILD_WAIT_S seconds, then kills it;
 * it returns the wait status, or -1 after a kill. */
static int wait_child(pid_t pid) {
	for (int i = 0; i < CHILD_WAIT_S * 100; i++) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return st;
		if (r < 0 && errno != EINTR)
			return -2;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

/* call_next makes one ringlb_next; it returns the result code and leaves
 * the message in err. */
static int call_next(const char *call, char *err, size_t errlen) {
	const char *dests[] = {"user/1001", "user/1002"};
	int chosen = -1;
	return p_next(handle, 2, dests, call, &chosen, err, errlen);
}

/* fork_and_call forks; the child calls ringlb and reports by its exit
 * status. It returns 0 when the child got the error it should. */
static int fork_and_call(const char *from) {
	char err[RINGLB_ERRLEN];
	for (int i = 0; i < 3; i++) {
		/* The parent's path works: the child inherits its state. */
		if (call_next("parent", err, sizeof err) != RINGLB_OK) {
			fprintf(stderr, "FAIL %s: the parent's call: %s\n", from, err);
			return 1;
		}
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		sigset_t before, after;
		pthread_sigmask(SIG_SETMASK, NULL, &before);
		int rc = call_next("child", err, sizeof err);
		int rc2 = p_noop();
		pthread_sigmask(SIG_SETMASK, NULL, &after);
		int ok = rc == RINGLB_EINTERNAL && rc2 == RINGLB_EINTERNAL && strstr(err, "forked child") != NULL &&
		         same_mask(&before, &after);
		printf("  child forked from a %s thread: next rc %d (%s), noop rc %d, mask %s\n", from, rc, err, rc2,
		       same_mask(&before, &after) ? "unchanged" : "CHANGED");
		fflush(stdout);
		_exit(ok ? 0 : 1);
	}
	int st = wait_child(pid);
	if (st == -1) {
		fprintf(stderr, "FAIL: a child forked from a %s thread hung in ringlb (killed after %d s)\n", from,
		        CHILD_WAIT_S);
		return 1;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "FAIL: a child forked from a %s thread: status %#x\n", from, st);
		return 1;
	}
	return 0;
}

static void *rt_thread(void *arg) {
	*(int *)arg = fork_and_call("SCHED_FIFO");
	return NULL;
}

int main(int argc, char **argv) {
	if (argc == 2 && strcmp(argv[1], "--sigterm-self") == 0) {
		/* The exec'd child: SIGTERM's default action ends it, unless the
		 * mask it inherited blocks SIGTERM. */
		kill(getpid(), SIGTERM);
		sleep(2);
		return 3;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: %s ringlb.so\n", argv[0]);
		return 2;
	}
	on_signal(SIGTERM, on_term, 0);
	sigset_t before, after;
	pthread_sigmask(SIG_SETMASK, NULL, &before);
	void *so = load_library(argv[1]);
	pthread_sigmask(SIG_SETMASK, NULL, &after);
	/* Before any call into ringlb. */
	raise(SIGTERM);
	int handled = terms;
	if (!same_mask(&before, &after)) {
		fprintf(stderr, "FAIL: dlopen returned with the loading thread's signal mask changed\n");
		failed++;
	}
	if (handled != 1) {
		fprintf(stderr, "FAIL: a SIGTERM between dlopen and the first call was not handled (blocked)\n");
		failed++;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		execl("/proc/self/exe", argv[0], "--sigterm-self", (char *)NULL);
		_exit(127);
	}
	int st = wait_child(pid);
	if (st < 0 || !WIFSIGNALED(st) || WTERMSIG(st) != SIGTERM) {
		fprintf(stderr, "FAIL: a child exec'd between dlopen and the first call ignored SIGTERM (status %#x)\n", st);
		failed++;
	}
	printf("  after dlopen: mask %s, SIGTERM handled %d time(s), an exec'd child %s\n",
	       same_mask(&before, &after) ? "unchanged" : "CHANGED", handled,
	       st >= 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM ? "died of SIGTERM" : "survived SIGTERM");

	LOAD_SYM(so, open);
	LOAD_SYM(so, next);
	LOAD_SYM(so, noop);
	char err[RINGLB_ERRLEN];
	if (p_open("fork", 0, NULL, NULL, &handle, err, sizeof err) != RINGLB_OK) {
		fprintf(stderr, "FAIL open: %s\n", err);
		return 1;
	}
	failed += fork_and_call("SCHED_OTHER");
	pthread_attr_t attr;
	fifo_attr(&attr);
	pthread_t t;
	int rt_failed = 0, e = pthread_create(&t, &attr, rt_thread, &rt_failed);
	if (e == 0) {
		pthread_join(t, NULL);
		failed += rt_failed;
	} else {
		printf("  SKIPPED: realtime refused (%s): no child forked from a realtime thread\n", strerror(e));
	}
	printf("c fork: %d failed\n", failed);
	return failed ? 1 : 0;
}
