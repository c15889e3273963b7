/*
 * ringlb_call.h - the one request record that crosses from C into Go.
 * Internal to the library: the public API is ringlb.h. Every public function
 * fills a ringlb_call and passes it to ringlbgo_call (exports.go), either
 * directly or through a worker thread (dispatch.c).
 */
#ifndef RINGLB_CALL_H
#define RINGLB_CALL_H

#include <stddef.h>
#include <stdint.h>

#define RINGLB_VERSION "0.1.0"

enum ringlb_op {
	RINGLB_OP_NOOP = 0,
	RINGLB_OP_OPEN,
	RINGLB_OP_ORDER,
	RINGLB_OP_NEXT,
	RINGLB_OP_ACQUIRE,
	RINGLB_OP_RELEASE,
	RINGLB_OP_LOAD,
	RINGLB_OP_DRAIN,
	RINGLB_OP_RESET,
	RINGLB_OP_SNAPSHOT,
	RINGLB_OP_DIALSTRING,
	RINGLB_OP_GET,
	RINGLB_OP_LIST
};

struct ringlb_call {
	int op;
	int n;                  /* length of a (and of b) */
	int nb;                 /* length of b when it differs (dialstring vars) */
	int ival;               /* drained flag, snapshot format, separator */
	int ival2;              /* leg timeout */
	uint64_t handle;
	const char *const *a;   /* destinations, option keys, legs */
	const char *const *b;   /* option values, variable keys */
	const char *const *c;   /* variable values */
	const char *s1;         /* name or destination */
	const char *s2;         /* call id */
	int *iout;              /* order indices, chosen index, flags, counts */
	int *iout2;             /* count of order indices */
	int64_t *lout;          /* loads */
	uint64_t *hout;         /* handle from open */
	char **pout;            /* malloc'd text (snapshot, dial string) */
	char *err;
	size_t errlen;
	int rc;
};

/* ringlb_restore_loader gives the thread that loaded the library its signal
 * mask back (dispatch.c); a no-op on every other thread. */
void ringlb_restore_loader(void);

#endif
