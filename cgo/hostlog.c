/*
 * hostlog.c - ringlb's log lines into the host's log (internal/hostlog).
 *
 * Inside FreeSWITCH, switch_log_printf is in the process (libfreeswitch is
 * loaded with global symbols before any module), so lines go to the switch's
 * own log and fs_cli, tagged "ringlb". In any other host they go to standard
 * error; never to standard output, which belongs to the host.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "ringlb_internal.h"

/* switch_log_printf(channel, file, func, line, userdata, level, fmt, ...):
 * its enums are ints; channel 0 is SWITCH_CHANNEL_ID_LOG. */
typedef void (*switch_log_printf_fn)(int, const char *, const char *, int, const char *, int,
                                     const char *, ...);

static switch_log_printf_fn switch_log;
static pthread_once_t resolve_once = PTHREAD_ONCE_INIT;

static void resolve(void) { switch_log = (switch_log_printf_fn)dlsym(RTLD_DEFAULT, "switch_log_printf"); }

void ringlb_host_log(int level, const char *line) {
	pthread_once(&resolve_once, resolve);
	if (switch_log != NULL) {
		switch_log(0, "ringlb", "ringlb", 0, NULL, level, "ringlb: %s\n", line);
		return;
	}
	static const char *const names[] = {"CONSOLE", "ALERT", "CRIT", "ERR", "WARNING", "NOTICE", "INFO", "DEBUG"};
	fprintf(stderr, "ringlb: %s: %s\n", level >= 0 && level <= 7 ? names[level] : "LOG", line);
}
