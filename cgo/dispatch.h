/*
 * dispatch.h - what dispatch.c, pool.c and host.c share: the calling
 * discipline's pieces, and the priority-inheriting mutex the module's
 * bytecode cache (luamod_chunks.c) takes too. Internal (hidden symbols).
 */
#ifndef RINGLB_DISPATCH_H
#define RINGLB_DISPATCH_H

#include <pthread.h>
#include <signal.h>

#include "ringlb.h"
#include "ringlb_call.h"

#define RINGLB_HIDDEN __attribute__((visibility("hidden")))

/* The host's asynchronous signals: every signal but those Go must see
 * (host.c). */
RINGLB_HIDDEN extern sigset_t ringlb_async_signals;

/* Set in the child of a fork() (host.c). */
RINGLB_HIDDEN extern volatile sig_atomic_t ringlb_forked_child;

/* ringlb_loader_here tells whether this is the thread that loaded the
 * library from a realtime policy; ringlb_loader_demoted_here, whether it
 * still runs demoted, before it has its policy back (host.c). */
RINGLB_HIDDEN int ringlb_loader_here(void);
RINGLB_HIDDEN int ringlb_loader_demoted_here(void);

/* ringlb_dispatch_configure reads RINGLB_DISPATCH (dispatch.c) and
 * ringlb_pool_configure RINGLB_MAX_WORKERS (pool.c), from the first
 * constructor. */
RINGLB_HIDDEN void ringlb_dispatch_configure(void);
RINGLB_HIDDEN void ringlb_pool_configure(void);

/* ringlb_set_err fails st with rc and msg (dispatch.c). */
RINGLB_HIDDEN void ringlb_set_err(struct ringlb_status *st, int rc, const char *msg);

/* ringlb_hand_off queues fn(st) for a worker and sleeps until it is
 * served, or until st's deadline, if no worker has taken it by then
 * (pool.c). */
RINGLB_HIDDEN void ringlb_hand_off(void (*fn)(void *), struct ringlb_status *st);

/* ringlb_mutex_init_pi initialises mu with priority inheritance: a
 * realtime caller blocked on it lends its priority to the holder, so a
 * preempted SCHED_OTHER holder cannot hold it up (pool.c). */
RINGLB_HIDDEN void ringlb_mutex_init_pi(pthread_mutex_t *mu);

#endif
