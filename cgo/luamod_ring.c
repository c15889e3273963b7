//go:build lua51 || lua52 || lua53 || lua54 || luajit

/*
 * luamod_ring.c - the ring helper's functions (lua/ringlb/ring.lua): the
 * ring-group rules of the Go package ring and dial strings, over
 * ringlb_lua.h. See luamod.h for how each checks its arguments and returns
 * errors.
 */
#include <string.h>

#include "luamod.h"

/* sort_pairs sorts keys (and values with them) by name: Lua tables have
 * no order, and the same table must give the same dial string every time. */
static void sort_pairs(const char **keys, const char **values, int n) {
	for (int i = 1; i < n; i++) {
		const char *k = keys[i], *v = values[i];
		int j = i - 1;
		while (j >= 0 && strcmp(keys[j], k) > 0) {
			keys[j + 1] = keys[j];
			values[j + 1] = values[j];
			j--;
		}
		keys[j + 1] = k;
		values[j + 1] = v;
	}
}

/*
 * ringlb.dialstring(legs, sep [, vars [, leg_timeout [, tag]]]) -> string
 * sep is "," or "parallel" (ring at once), "|" or "sequential" (in turn).
 */
static int l_dialstring(lua_State *L) {
	static const char *const seps[] = {",", "parallel", "|", "sequential", NULL};
	struct lm_strings legs;
	lm_strings(L, 1, RINGLB_MAX_LEGS, &legs, 0);
	int sep = luaL_checkoption(L, 2, NULL, seps) / 2;
	lua_Number t = 0;
	if (!lua_isnoneornil(L, 4)) {
		luaL_checktype(L, 4, LUA_TNUMBER);
		t = lua_tonumber(L, 4);
		luaL_argcheck(L, t >= 0 && t <= RINGLB_MAX_LEG_TIMEOUT, 4, "leg_timeout out of range"); /* NaN too */
	}
	const char *tag = lm_optstring(L, 5);
	struct lm_pairs vars;
	lm_pairs(L, 3, RINGLB_MAX_VARS, "variable", NULL, &vars);
	sort_pairs(vars.keys, vars.values, vars.n);
	char err[RINGLB_ERRLEN];
	char *out = NULL;
	int rc = ringlb_dialstring(legs.n, legs.v, sep, vars.n, vars.keys, vars.values, (int)t, tag, &out, err,
	                           sizeof err);
	if (rc != RINGLB_OK)
		return lm_fail(L, rc, err);
	lua_pushstring(L, out);
	ringlb_free(out);
	return 1;
}

/*
 * ringlb.ring_check(mode, dests [, timeout [, on_backend_error [, balancer_name]]])
 *   -> members, timeout_seconds | nil, err, code
 */
static int l_ring_check(lua_State *L) {
	const char *mode = lm_string(L, 1);
	struct lm_strings d;
	lm_strings(L, 2, RINGLB_MAX_DESTINATIONS, &d, sizeof(int));
	double timeout = 0;
	if (!lua_isnoneornil(L, 3)) {
		luaL_checktype(L, 3, LUA_TNUMBER);
		timeout = (double)lua_tonumber(L, 3);
		/* 0 is the default's code at the C ABI, not a timeout */
		luaL_argcheck(L, timeout != 0, 3, "timeout 0 (leave it out for the default)");
	}
	const char *policy = lm_optstring(L, 4), *bname = lm_optstring(L, 5);
	int *idx = d.out;
	char err[RINGLB_ERRLEN];
	int count = 0, timeout_s = 0;
	int rc = ringlb_ring_check(mode, d.n, d.v, timeout, policy, bname, idx, &count, &timeout_s, err, sizeof err);
	if (rc != RINGLB_OK)
		return lm_fail(L, rc, err);
	lm_push_picked(L, 2, idx, count);
	lua_pushinteger(L, timeout_s);
	return 2;
}

/* ringlb.ring_reason(causes) -> reason, last cause ("NONE" without any) */
static int l_ring_reason(lua_State *L) {
	struct lm_strings c;
	lm_strings(L, 1, RINGLB_MAX_DESTINATIONS, &c, 0);
	char err[RINGLB_ERRLEN], reason[RINGLB_ERRLEN];
	int last = -1;
	int rc = ringlb_ring_reason(c.n, c.v, reason, sizeof reason, &last, err, sizeof err);
	if (rc != RINGLB_OK)
		return lm_fail(L, rc, err);
	lua_pushstring(L, reason);
	lua_pushstring(L, last >= 0 ? c.v[last] : "NONE");
	return 2;
}

/*
 * b:pick(mode, remaining, call_id) -> dest or false, skipped | nil, err, code
 * dest is false when no member has room; skipped lists the members passed
 * over as full or drained.
 */
static int l_pick(lua_State *L) {
	struct balancer_ud *b = lm_self(L, "pick");
	const char *mode = lm_string(L, 2);
	struct lm_strings d;
	lm_strings(L, 3, RINGLB_MAX_DESTINATIONS, &d, sizeof(int));
	const char *call_id = lm_string(L, 4);
	int *skipped = d.out;
	char err[RINGLB_ERRLEN];
	int chosen = -1;
	int rc = ringlb_ring_pick(b->handle, mode, d.n, d.v, call_id, &chosen, skipped, err, sizeof err);
	if (rc != RINGLB_OK)
		return lm_fail(L, rc, err);
	if (chosen >= 0)
		lua_pushstring(L, d.v[chosen]);
	else
		lua_pushboolean(L, 0);
	lua_newtable(L);
	for (int i = 0, k = 0; i < d.n; i++) {
		if (skipped[i]) {
			lua_pushstring(L, d.v[i]);
			lua_rawseti(L, -2, ++k);
		}
	}
	return 2;
}

/* b:fallback() -> true: counts a ring that went on without the balancer. */
static int l_fallback(lua_State *L) {
	struct balancer_ud *b = lm_self(L, "fallback");
	char err[RINGLB_ERRLEN];
	int rc = ringlb_fallback(b->handle, err, sizeof err);
	if (rc != RINGLB_OK)
		return lm_fail(L, rc, err);
	lua_pushboolean(L, 1);
	return 1;
}

/*
 * b:hold_all(members, call_id) -> states [, err, "backend"] | nil, err, code
 * states[i] is "held", "skipped" (full or drained) or "unheld" (ring it
 * without a hold: the backend failed, and then err and "backend" follow).
 */
static int l_hold_all(lua_State *L) {
	static const char *const names[] = {[RINGLB_MEMBER_HELD] = "held", [RINGLB_MEMBER_SKIPPED] = "skipped",
	                                    [RINGLB_MEMBER_UNHELD] = "unheld"};
	struct balancer_ud *b = lm_self(L, "hold_all");
	struct lm_strings d;
	lm_strings(L, 2, RINGLB_MAX_DESTINATIONS, &d, sizeof(int));
	const char *call_id = lm_string(L, 3);
	int *states = d.out;
	char err[RINGLB_ERRLEN];
	int rc = ringlb_ring_hold_all(b->handle, d.n, d.v, call_id, states, err, sizeof err);
	if (rc != RINGLB_OK && rc != RINGLB_EBACKEND)
		return lm_fail(L, rc, err);
	lua_createtable(L, d.n, 0);
	for (int i = 0; i < d.n; i++) {
		int s = states[i] >= 0 && states[i] <= RINGLB_MEMBER_UNHELD ? states[i] : RINGLB_MEMBER_UNHELD;
		lua_pushstring(L, names[s]);
		lua_rawseti(L, -2, i + 1);
	}
	if (rc == RINGLB_OK)
		return 1;
	lua_pushstring(L, err);
	lua_pushliteral(L, "backend");
	return 3;
}

const luaL_Reg lm_ring_functions[] = {
    {"dialstring", l_dialstring}, {"ring_check", l_ring_check}, {"ring_reason", l_ring_reason}, {NULL, NULL}};

const luaL_Reg lm_ring_methods[] = {
    {"pick", l_pick}, {"hold_all", l_hold_all}, {"fallback", l_fallback}, {NULL, NULL}};
