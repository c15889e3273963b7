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
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "luamod.h"

/* The options whose value may be a table { [dest] = n }. */
static const char *const per_dest_options[] = {"capacity", "wrapup", NULL};

/* ringlb.open(name [, opts]) -> balancer | nil, err, code
 * The same name and options again are answered from what the module kept
 * (luamod_kept.c). */
static int l_open(lua_State *L) {
	const char *name = lm_string(L, 1);
	struct lm_pairs o;
	lm_pairs(L, 2, RINGLB_MAX_OPTIONS, "option", per_dest_options, &o);
	char *key = NULL;
	size_t klen = lm_open_key(NULL, 0, name, &o);
	uint64_t h = 0;
	if (klen > 0) {
		key = (char *)lua_newuserdata(L, klen);
		lm_open_key(key, klen, name, &o);
		h = lm_open_kept(key, klen);
	}
	if (h == 0) {
		char err[RINGLB_ERRLEN];
		int rc = ringlb_open(name, o.n, o.keys, o.values, &h, err, sizeof err);
		if (rc != RINGLB_OK)
			return lm_fail(L, rc, err);
		if (key != NULL)
			lm_open_keep(key, klen, h);
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

/*
 * ringlb.metrics([addr]) -> the address it listens on | nil, err, code
 * Starts the process-wide Prometheus endpoint (default 127.0.0.1:9361). An
 * address ringlb confirmed within the last second is answered again from
 * what the module kept (luamod_kept.c).
 */
static int l_metrics(lua_State *L) {
	const char *addr = lm_optstring(L, 1);
	char err[RINGLB_ERRLEN], bound[128];
	if (lm_metrics_kept(addr != NULL ? addr : "", bound, sizeof bound)) {
		lua_pushstring(L, bound);
		return 1;
	}
	int64_t asked_at = ringlb_mono_ns();
	int rc = ringlb_metrics(addr, bound, sizeof bound, err, sizeof err);
	if (rc != RINGLB_OK)
		return lm_fail(L, rc, err);
	lm_metrics_keep(addr != NULL ? addr : "", bound, asked_at);
	lua_pushstring(L, bound);
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
    {"_chunks", lm_chunk_stats}, {"_kept", lm_kept_stats}, {NULL, NULL}};

/* luaopen_ringlb runs once per lua_State, so once per FreeSWITCH call: it
 * only builds tables, puts the searcher of ringlb's own Lua modules into
 * package.searchers (luamod_chunks.c), and never enters Go. */
int luaopen_ringlb(lua_State *L) {
	ringlb_restore_loader(); /* mod_lua opens the module right after loading it */
	static const luaL_Reg *const balancer_methods[] = {lm_balancer_methods, lm_ring_methods, NULL};
	lm_metatable(L, BALANCER_MT, balancer_methods, "__tostring", lm_tostring);
	lm_install_searcher(L);
	lua_newtable(L);
	lm_register(L, module_functions);
	lm_register(L, lm_ring_functions);
	lm_register(L, lm_events_functions);
	lua_pushstring(L, "ringlb");
	lua_setfield(L, -2, "_NAME");
	lua_pushstring(L, RINGLB_VERSION);
	lua_setfield(L, -2, "_VERSION");
	return 1;
}
