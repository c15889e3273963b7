//go:build lua51 || lua52 || lua53 || lua54 || luajit

/*
 * luamod_kept.c - what the Lua module keeps of ringlb's answers, so that
 * the same question asked again is answered without entering Go. A call
 * into ringlb after a quiet spell costs the switch a round of thread
 * wake-ups (a worker, the Go runtime's; docs/freeswitch.md, "What ringlb
 * costs the switch"), and every ring asked these three again. Only answers
 * are kept, never errors, and only while they cannot change:
 *
 * - Opens: a balancer is never closed while the process runs (the C ABI has
 *   no close), so a name opened again with the very same options is the
 *   same handle. Kept by the name and the options sorted: OPENS_KEPT,
 *   each of at most OPEN_OPTIONS options and LM_KEY_MAX bytes.
 * - Plans: a ring's plan depends on its spec alone (ring.Spec.Check), and a
 *   dialplan's group asks for the same spec on every call. PLANS_KEPT
 *   plans, by their spec of at most LM_KEY_MAX bytes; a plan is freed once
 *   replaced and no longer being read.
 * - The metrics endpoint: the address last asked for and the one it
 *   listens on, for METRICS_RECHECK_NS from the ask; so an endpoint that
 *   stopped is started again by an ask a second later at most.
 *
 * A full table of opens or plans replaces the entry next to its hand that
 * was not answered from since the hand last passed (a second chance): what
 * every call asks stays while one-off asks come and go.
 *
 * One priority-inheriting mutex guards it all; it is never held while Lua
 * runs or may raise, nor across a call into Go.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "luamod.h"
#include "ringlb_lua.h"

#define OPENS_KEPT 32
#define OPEN_OPTIONS 64
#define PLANS_KEPT 64
#define METRICS_RECHECK_NS 1000000000LL

struct kept {
	size_t len; /* 0: empty */
	char *key;
	uint64_t handle;           /* an open's */
	struct lm_kept_plan *plan; /* a plan's */
	int used;                  /* answered since the replacing hand last passed */
};

static pthread_mutex_t mu;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct kept opens[OPENS_KEPT], plans[PLANS_KEPT]; /* mu */
static int opens_next, plans_next;                       /* mu: the replacing hands */
static char metrics_asked[128], metrics_bound[128];      /* mu */
static int64_t metrics_at;                               /* mu: when the kept ask was made; 0: none */
static unsigned long open_hits, plan_hits, metrics_hits; /* mu */

static void init(void) { ringlb_mutex_init_pi(&mu); }

/* A key: parts each tagged, S a string (NULL as "") NUL-terminated, D a
 * number as its 8 bytes. put and put_num add one to buf while it fits in
 * len, and count its bytes: with buf NULL they only count. */
struct key {
	char *buf;
	size_t len, n;
};

static void put(struct key *k, char tag, const char *s) {
	if (s == NULL)
		s = ""; /* ringlb reads NULL as "" */
	size_t l = strlen(s);
	if (k->buf != NULL && k->n + l + 2 <= k->len) {
		k->buf[k->n] = tag;
		memcpy(k->buf + k->n + 1, s, l + 1);
	}
	k->n += l + 2;
}

static void put_num(struct key *k, double v) {
	v += 0.0; /* -0 as 0 */
	if (k->buf != NULL && k->n + 1 + sizeof v <= k->len) {
		k->buf[k->n] = 'D';
		memcpy(k->buf + k->n + 1, &v, sizeof v);
	}
	k->n += 1 + sizeof v;
}

static void put_vars(struct key *k, const struct ringlb_var *v, int n) {
	put_num(k, n);
	for (int i = 0; i < n; i++) {
		put(k, 'S', v[i].key);
		put(k, 'S', v[i].value);
	}
}

/* done returns the key's length, 0 if over LM_KEY_MAX (not kept). */
static size_t done(const struct key *k) {
	return k->n <= LM_KEY_MAX && (k->buf == NULL || k->n <= k->len) ? k->n : 0;
}

/* find returns the slot of table (n slots) whose key is key, marked used,
 * or -1. */
static int find(struct kept *table, int n, const char *key, size_t len) {
	for (int i = 0; i < n; i++)
		if (table[i].len == len && memcmp(table[i].key, key, len) == 0) {
			table[i].used = 1;
			return i;
		}
	return -1;
}

/* victim returns the slot of table (n slots) to replace: the next from
 * *hand not answered from since the hand last passed it (a second chance,
 * so that what every call asks stays while one-off asks come and go). */
static struct kept *victim(struct kept *table, int n, int *hand) {
	for (;;) {
		struct kept *e = &table[*hand];
		*hand = (*hand + 1) % n;
		if (!e->used)
			return e;
		e->used = 0;
	}
}

/* ---- opens ---- */

size_t lm_open_key(char *buf, size_t len, const char *name, const struct lm_pairs *o) {
	if (o->n > OPEN_OPTIONS)
		return 0;
	int order[OPEN_OPTIONS];
	for (int i = 0; i < o->n; i++) { /* insertion sort: a few options */
		int j = i;
		for (; j > 0 && strcmp(o->keys[order[j - 1]], o->keys[i]) > 0; j--)
			order[j] = order[j - 1];
		order[j] = i;
	}
	struct key k = {.buf = buf, .len = len};
	put(&k, 'S', name);
	for (int i = 0; i < o->n && k.n <= LM_KEY_MAX; i++) {
		put(&k, 'S', o->keys[order[i]]);
		put(&k, 'S', o->values[order[i]]);
	}
	return done(&k);
}

uint64_t lm_open_kept(const char *key, size_t len) {
	pthread_once(&once, init);
	pthread_mutex_lock(&mu);
	int i = find(opens, OPENS_KEPT, key, len);
	uint64_t h = i >= 0 ? opens[i].handle : 0;
	open_hits += h != 0;
	pthread_mutex_unlock(&mu);
	return h;
}

void lm_open_keep(const char *key, size_t len, uint64_t handle) {
	char *copy = malloc(len);
	if (copy == NULL)
		return;
	memcpy(copy, key, len);
	char *old = copy;
	pthread_once(&once, init);
	pthread_mutex_lock(&mu);
	if (find(opens, OPENS_KEPT, key, len) < 0) { /* another thread may have kept it meanwhile */
		struct kept *e = victim(opens, OPENS_KEPT, &opens_next);
		old = e->key;
		*e = (struct kept){.len = len, .key = copy, .handle = handle};
	}
	pthread_mutex_unlock(&mu);
	free(old);
}

/* ---- plans ---- */

size_t lm_plan_key(char *buf, size_t len, const struct ringlb_ring_spec *s) {
	struct key k = {.buf = buf, .len = len};
	put(&k, 'S', s->mode);
	put(&k, 'S', s->balancer);
	put(&k, 'S', s->on_backend_error);
	put_num(&k, s->no_holds);
	put_num(&k, s->timeout);
	put_num(&k, s->deadline);
	put_vars(&k, s->vars, s->nvars);
	put_num(&k, s->nmembers);
	for (int i = 0; i < s->nmembers && k.n <= LM_KEY_MAX; i++) {
		const struct ringlb_spec_member *m = &s->members[i];
		put(&k, 'S', m->key);
		put_num(&k, m->timeout);
		put_num(&k, m->dnd);
		put_num(&k, m->nlegs);
		for (int j = 0; j < m->nlegs; j++) {
			put(&k, 'S', m->legs[j].endpoint);
			put_vars(&k, m->legs[j].vars, m->legs[j].nvars);
		}
	}
	return done(&k);
}

/* unref drops a reference to p, with mu held; it returns p's plan when
 * that was the last, for the caller to free after unlocking. */
static struct ringlb_plan *unref(struct lm_kept_plan *p) {
	if (--p->refs > 0)
		return NULL;
	struct ringlb_plan *plan = p->plan;
	free(p);
	return plan;
}

struct lm_kept_plan *lm_plan_kept(const char *key, size_t len) {
	pthread_once(&once, init);
	pthread_mutex_lock(&mu);
	int i = find(plans, PLANS_KEPT, key, len);
	struct lm_kept_plan *p = i >= 0 ? plans[i].plan : NULL;
	if (p != NULL) {
		p->refs++;
		plan_hits++;
	}
	pthread_mutex_unlock(&mu);
	return p;
}

void lm_plan_release(struct lm_kept_plan *p) {
	pthread_mutex_lock(&mu);
	struct ringlb_plan *plan = unref(p);
	pthread_mutex_unlock(&mu);
	ringlb_free(plan);
}

void lm_plan_keep(const char *key, size_t len, struct ringlb_plan *plan) {
	char *copy = malloc(len);
	struct lm_kept_plan *p = malloc(sizeof *p);
	if (copy == NULL || p == NULL) {
		free(copy);
		free(p);
		ringlb_free(plan);
		return;
	}
	memcpy(copy, key, len);
	*p = (struct lm_kept_plan){.plan = plan, .refs = 1};
	char *old_key = copy;
	struct ringlb_plan *old_plan = plan;
	pthread_once(&once, init);
	pthread_mutex_lock(&mu);
	if (find(plans, PLANS_KEPT, key, len) < 0) {
		struct kept *e = victim(plans, PLANS_KEPT, &plans_next);
		old_key = e->key;
		old_plan = e->plan != NULL ? unref(e->plan) : NULL;
		*e = (struct kept){.len = len, .key = copy, .plan = p};
		p = NULL;
	}
	pthread_mutex_unlock(&mu);
	free(p);
	free(old_key);
	ringlb_free(old_plan);
}

/* ---- the metrics endpoint ---- */

int lm_metrics_kept(const char *addr, char *bound, size_t len) {
	int hit = 0;
	pthread_once(&once, init);
	pthread_mutex_lock(&mu);
	if (metrics_at != 0 && ringlb_mono_ns() - metrics_at < METRICS_RECHECK_NS && strcmp(addr, metrics_asked) == 0) {
		snprintf(bound, len, "%s", metrics_bound);
		hit = 1;
		metrics_hits++;
	}
	pthread_mutex_unlock(&mu);
	return hit;
}

void lm_metrics_keep(const char *addr, const char *bound, int64_t asked_at) {
	if (strlen(addr) >= sizeof metrics_asked)
		return;
	pthread_once(&once, init);
	pthread_mutex_lock(&mu);
	if (asked_at >= metrics_at) { /* not over the answer to a later ask */
		snprintf(metrics_asked, sizeof metrics_asked, "%s", addr);
		snprintf(metrics_bound, sizeof metrics_bound, "%s", bound);
		metrics_at = asked_at;
	}
	pthread_mutex_unlock(&mu);
}

/* ---- ringlb._kept() ---- */

int lm_kept_stats(lua_State *L) {
	pthread_once(&once, init);
	pthread_mutex_lock(&mu);
	unsigned long o = open_hits, p = plan_hits, m = metrics_hits;
	pthread_mutex_unlock(&mu);
	static const char *const names[] = {"opens", "plans", "metrics"};
	lm_push_counts(L, 3, names, (const double[]){(double)o, (double)p, (double)m});
	return 1;
}
