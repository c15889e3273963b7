/*
 * go_runtime.c - the shape of the Go runtime ringlb brings into its host:
 * as many Ps as GOMAXPROCS in the environment says, else one (exports.go's
 * goProcs), and every thread it starts named as ringlb's (ringlb-go, or
 * ringlb-worker for a worker), so that an operator's `top -H` tells them
 * from the host's.
 *
 *   go_runtime path/to/ringlb.so WANT_PROCS
 *
 * The host here is this program's main thread alone: after loading the
 * library, a call through a worker (RINGLB_DISPATCH=workers) and a scrape of
 * the metrics endpoint, every other thread of the process is ringlb's.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hostlib.h"
#include "loadlib.h"
#include "scrape.h"

static typeof(&ringlb_metrics) p_metrics;
static typeof(&ringlb_open) p_open;

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: %s ringlb.so WANT_PROCS\n", argv[0]);
		return 2;
	}
	int want = atoi(argv[2]);
	void *so = load_library(argv[1]);
	LOAD_SYM(so, metrics);
	LOAD_SYM(so, open);
	uint64_t h;
	char err[RINGLB_ERRLEN];
	if (p_open("go_runtime", 0, NULL, NULL, &h, err, sizeof err) != RINGLB_OK) {
		fprintf(stderr, "FAIL: open: %s\n", err);
		return 1;
	}
	double procs = scrape_metric(p_metrics, "go_sched_gomaxprocs_threads");
	pid_t self = (pid_t)syscall(SYS_gettid);
	int ours = 0, others = 0;
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	while (d != NULL && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || atoi(e->d_name) == self)
			continue;
		char comm[32] = "";
		if (task_name(e->d_name, comm, sizeof comm) != 0)
			continue;
		if (strcmp(comm, "ringlb-go") == 0 || strcmp(comm, "ringlb-worker") == 0) {
			ours++;
		} else {
			others++;
			fprintf(stderr, "FAIL: thread %s is named %s, not ringlb-go or ringlb-worker\n", e->d_name, comm);
		}
	}
	if (d != NULL)
		closedir(d);
	printf("GOMAXPROCS %g (want %d); threads besides the host's: %d named as ringlb's, %d otherwise\n", procs, want,
	       ours, others);
	if (procs != want || ours == 0 || others != 0) {
		printf("FAIL\n");
		return 1;
	}
	printf("PASS\n");
	return 0;
}
