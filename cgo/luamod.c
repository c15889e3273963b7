//go:build lua51 || lua52 || lua53 || lua54 || luajit

/*
 * luamod.c - the `ringlb` Lua module: luaopen_ringlb and the module's
 * functions (open, get, list, metrics), thin glue over the C ABI of
 * ringlb.h. Builds against Lua 5.1 (and LuaJIT), 5.2, 5.3 and 5.4 headers;
 * never links liblua (the host's symbols are used). The balancer's methods
 * are luamod_balancer.c's, the ring helper's functions luamod_ring.c's, and
 * how every function checks its arguments and returns its errors (never
 * raising into the script) is luamod.h's.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "luamod.h"

/* The options whose value may be a table { [dest] = n }. */
static const char *const per_dest_options[] = {"capacity", "wrapup", NULL};

/*
 * What this process's calls into ringlb confirmed, kept so that the same
 * question asked again is answered without entering Go: a call into ringlb
 * costs the switch tens of µs of thread wake-ups (docs/freeswitch.md, "What
 * ringlb costs the switch"), and a ring asks both of these every time.
 * Only answers are kept, never errors.
 *
 * - Opens: a balancer is never closed while the process runs (the C ABI
 *   has no close), so a name opened again with the very same options is the
 *   same handle. Kept by the name and the options sorted, the last
 *   OPEN_KEPT of them, each of at most OPEN_KEPT_OPTIONS options and
 *   OPEN_KEY_MAX bytes (a switch opens one per group or so).
 * - The metrics endpoint: the address last asked for and the one it listens
 *   on, for METRICS_RECHECK_NS; so an endpoint that stopped is started again
 *   by the first ring a second later at most.
 */
#define OPEN_KEPT 32
#define OPEN_KEPT_OPTIONS 64
#define OPEN_KEY_MAX 2048
#define METRICS_RECHECK_NS 1000000000LL

struct kept_open {
	size_t len;
	char *key;
	uint64_t handle;
};

static pthread_mutex_t kept_mu;
static pthread_once_t kept_once = PTHREAD_ONCE_INIT;
static struct kept_open opens[OPEN_KEPT]; /* kept_mu */
static int opens_next;                    /* kept_mu: the slot to replace next */
static char metrics_asked[128], metrics_bound[128];
static int64_t metrics_at; /* kept_mu: when the ask kept was made; 0: none */
static unsigned long open_hits, metrics_hits; /* kept_mu */

static void kept_init(void) { ringlb_mutex_init_pi(&kept_mu); }

/* open_key writes name and the options, sorted by key, to buf as
 * NUL-separated strings and returns the length; 0 (not kept) if they do not
 * fit or there are more than OPEN_KEPT_OPTIONS. */
static size_t open_key(char *buf, size_t len, const char *name, const struct lm_pairs *o) {
	if (o->n > OPEN_KEPT_OPTIONS)
		return 0;
	size_t need = strlen(name) + 1;
	for (int i = 0; i < o->n; i++)
		need += strlen(o->keys[i]) + strlen(o->values[i]) + 2;
	if (need > len)
		return 0;
	int order[OPEN_KEPT_OPTIONS];
	for (int i = 0; i < o->n; i++) { /* insertion sort: a few options */
		int j = i;
		for (; j > 0 && strcmp(o->keys[order[j - 1]], o->keys[i]) > 0; j--)
			order[j] = order[j - 1];
		order[j] = i;
	}
	size_t n = strlen(name) + 1;
	memcpy(buf, name, n);
	for (int i = 0; i < o->n; i++) {
		const char *kv[2] = {o->keys[order[i]], o->values[order[i]]};
		for (int k = 0; k < 2; k++) {
			size_t l = strlen(kv[k]) + 1;
			memcpy(buf + n, kv[k], l);
			n += l;
		}
	}
	return n;
}

/* open_kept finds the handle kept for key; 0 if none. */
static uint64_t open_kept(const char *key, size_t len) {
	uint64_t h = 0;
	pthread_mutex_lock(&kept_mu);
	for (int i = 0; i < OPEN_KEPT && h == 0; i++)
		if (opens[i].len == len && memcmp(opens[i].key, key, len) == 0)
			h = opens[i].handle;
	open_hits += h != 0;
	pthread_mutex_unlock(&kept_mu);
	return h;
}

/* open_keep keeps handle for key (a copy), in place of the oldest kept,
 * unless another thread kept it meanwhile; without memory it keeps nothing. */
static void open_keep(const char *key, size_t len, uint64_t handle) {
	char *copy = malloc(len);
	if (copy == NULL)
		return;
	memcpy(copy, key, len);
	char *old = copy;
	pthread_mutex_lock(&kept_mu);
	int known = 0;
	for (int i = 0; i < OPEN_KEPT && !known; i++)
		known = opens[i].len == len && memcmp(opens[i].key, key, len) == 0;
	if (!known) {
		struct kept_open *e = &opens[opens_next];
		opens_next = (opens_next + 1) % OPEN_KEPT;
		old = e->key;
		*e = (struct kept_open){.len = len, .key = copy, .handle = handle};
	}
	pthread_mutex_unlock(&kept_mu);
	free(old);
}

/* ringlb.open(name [, opts]) -> balancer | nil, err, code */
static int l_open(lua_State *L) {
	const char *name = lm_string(L, 1);
	struct lm_pairs o;
	lm_pairs(L, 2, RINGLB_MAX_OPTIONS, "option", per_dest_options, &o);
	pthread_once(&kept_once, kept_init);
	char key[OPEN_KEY_MAX];
	size_t klen = open_key(key, sizeof key, name, &o);
	uint64_t h = klen > 0 ? open_kept(key, klen) : 0;
	if (h == 0) {
		char err[RINGLB_ERRLEN];
		int rc = ringlb_open(name, o.n, o.keys, o.values, &h, err, sizeof err);
		if (rc != RINGLB_OK)
			return lm_fail(L, rc, err);
		if (klen > 0)
			open_keep(key, klen, h);
	}
	lm_push_balancer(L, h, name);
	return 1;
}

/* ringlb.get(name) -> balancer already open in this process | nil, err, "unknown" */
static int l_get(lua_State *L) {
	const char *name = lm_string(L, 1);
	char err[RINGLB_ERRLEN];
	uint64_t h = 0;
	int rc = ringlb_get(name, &h, err, sizeof err);
	if (rc != RINGLB_OK)
		return lm_fail(L, rc, err);
	lm_push_balancer(L, h, name);
	return 1;
}

/* ringlb.list() -> array of the balancer names open in this process */
static int l_list(lua_State *L) {
	char err[RINGLB_ERRLEN];
	char *text = NULL;
	int rc = ringlb_list(&text, err, sizeof err);
	if (rc != RINGLB_OK)
		return lm_fail(L, rc, err);
	lua_newtable(L);
	int n = 0;
	for (char *p = text, *nl; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		lua_pushlstring(L, p, (size_t)(nl - p));
		lua_rawseti(L, -2, ++n);
	}
	ringlb_free(text);
	return 1;
}

/* metrics_recent copies to bound the address the endpoint listens on if it
 * was started at addr less than METRICS_RECHECK_NS ago, and returns 1. */
static int metrics_recent(const char *addr, char *bound, size_t len) {
	int hit = 0;
	pthread_once(&kept_once, kept_init);
	pthread_mutex_lock(&kept_mu);
	if (metrics_at != 0 && ringlb_mono_ns() - metrics_at < METRICS_RECHECK_NS &&
	    strcmp(addr, metrics_asked) == 0) {
		snprintf(bound, len, "%s", metrics_bound);
		hit = 1;
		metrics_hits++;
	}
	pthread_mutex_unlock(&kept_mu);
	return hit;
}

/* metrics_started keeps what ringlb answered to an ask for addr made at
 * asked_at, unless an answer to a later ask is kept already. */
static void metrics_started(const char *addr, const char *bound, int64_t asked_at) {
	if (strlen(addr) >= sizeof metrics_asked)
		return;
	pthread_mutex_lock(&kept_mu);
	if (asked_at >= metrics_at) {
		snprintf(metrics_asked, sizeof metrics_asked, "%s", addr);
		snprintf(metrics_bound, sizeof metrics_bound, "%s", bound);
		metrics_at = asked_at;
	}
	pthread_mutex_unlock(&kept_mu);
}

/*
 * ringlb.metrics([addr]) -> the address it listens on | nil, err, code
 * Starts the process-wide Prometheus endpoint (default 127.0.0.1:9361).
 */
static int l_metrics(lua_State *L) {
	const char *addr = lm_optstring(L, 1);
	char err[RINGLB_ERRLEN], bound[128];
	if (metrics_recent(addr != NULL ? addr : "", bound, sizeof bound)) {
		lua_pushstring(L, bound);
		return 1;
	}
	int64_t asked_at = ringlb_mono_ns();
	int rc = ringlb_metrics(addr, bound, sizeof bound, err, sizeof err);
	if (rc != RINGLB_OK)
		return lm_fail(L, rc, err);
	metrics_started(addr != NULL ? addr : "", bound, asked_at);
	lua_pushstring(L, bound);
	return 1;
}

/* ringlb._kept() -> { opens =, metrics = }: how many opens and metrics
 * requests were answered from what ringlb kept, without entering Go. */
static int l_kept(lua_State *L) {
	pthread_once(&kept_once, kept_init);
	pthread_mutex_lock(&kept_mu);
	unsigned long o = open_hits, m = metrics_hits;
	pthread_mutex_unlock(&kept_mu);
	lua_createtable(L, 0, 2);
	lua_pushnumber(L, (lua_Number)o);
	lua_setfield(L, -2, "opens");
	lua_pushnumber(L, (lua_Number)m);
	lua_setfield(L, -2, "metrics");
	return 1;
}

/* ringlb._noop() goes into Go and back through the same path as every call,
 * doing nothing: the floor for benchmarks. */
static int l_noop(lua_State *L) {
	(void)L;
	ringlb_noop();
	return 0;
}

static const luaL_Reg module_functions[] = {
    {"open", l_open},   {"get", l_get}, {"list", l_list}, {"metrics", l_metrics}, {"_noop", l_noop},
    {"_chunks", lm_chunk_stats}, {"_kept", l_kept}, {NULL, NULL}};

/* luaopen_ringlb runs once per lua_State, so once per FreeSWITCH call: it
 * only builds tables, puts the searcher of ringlb's own Lua modules into
 * package.searchers (luamod_chunks.c), and never enters Go. */
int luaopen_ringlb(lua_State *L) {
	ringlb_restore_loader(); /* mod_lua opens the module right after loading it */
	if (luaL_newmetatable(L, BALANCER_MT)) {
		lua_newtable(L);
		lm_register(L, lm_balancer_methods);
		lm_register(L, lm_ring_methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, lm_tostring);
		lua_setfield(L, -2, "__tostring");
		lua_pushstring(L, BALANCER_MT);
		lua_setfield(L, -2, "__name");
		lua_pushstring(L, BALANCER_MT);
		lua_setfield(L, -2, "__metatable");
	}
	lua_pop(L, 1);
	lm_install_searcher(L);
	lua_newtable(L);
	lm_register(L, module_functions);
	lm_register(L, lm_ring_functions);
	lua_pushstring(L, "ringlb");
	lua_setfield(L, -2, "_NAME");
	lua_pushstring(L, RINGLB_VERSION);
	lua_setfield(L, -2, "_VERSION");
	return 1;
}
