//go:build lua51 || lua52 || lua53 || lua54 || luajit

/*
 * luamod_ring.c - the ring helper's functions (lua/ringlb/ring.lua): the
 * ring-group rules of the Go package ring (a ring's plan, its turns, its
 * result) and dial strings, over ringlb_lua.h. See luamod.h for how each checks its arguments and returns
 * errors.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "luamod.h"

/* Reading tables into the structs of ringlb_lua.h. Arrays live in
 * userdata and strings are the tables' (converted values an anchor
 * table's, which lm_pairs leaves on the stack), so a raised error leaks
 * nothing. */

static int var_cmp(const void *a, const void *b) {
	return strcmp(((const struct ringlb_var *)a)->key, ((const struct ringlb_var *)b)->key);
}

/* read_vars reads the table at idx (nil: none) of variables, names to
 * strings, numbers or booleans, sorted by name: Lua tables have no order,
 * and the same table must give the same dial string every time. */
static const struct ringlb_var *read_vars(lua_State *L, int idx, int *n) {
	struct lm_pairs p;
	lm_pairs(L, idx, RINGLB_MAX_VARS, "variable", NULL, &p);
	*n = p.n;
	if (p.n == 0)
		return NULL;
	struct ringlb_var *v = (struct ringlb_var *)lua_newuserdata(L, (size_t)p.n * sizeof *v);
	for (int i = 0; i < p.n; i++) {
		v[i].key = p.keys[i];
		v[i].value = p.values[i];
	}
	qsort(v, (size_t)p.n, sizeof *v, var_cmp);
	return v;
}

/* field pushes t[k] (t absolute), which must be of type want, or nil when
 * optional; it returns whether it is not nil. */
static int field(lua_State *L, int t, const char *k, int want, int optional, const char *what) {
	lua_getfield(L, t, k);
	int ty = lua_type(L, -1);
	if (ty != want && !(optional && ty == LUA_TNIL))
		luaL_error(L, "%s%s must be a %s, got %s", what, k, lua_typename(L, want), luaL_typename(L, -1));
	return ty != LUA_TNIL;
}

/* field_string returns t[k], a string without NUL bytes (NULL for nil when
 * optional); the string stays t's. */
static const char *field_string(lua_State *L, int t, const char *k, int optional, const char *what) {
	const char *s = NULL;
	if (field(L, t, k, LUA_TSTRING, optional, what) && (s = lm_plain(L, -1)) == NULL)
		luaL_error(L, "%s%s has a NUL byte", what, k);
	lua_pop(L, 1);
	return s;
}

static double field_number(lua_State *L, int t, const char *k, const char *what) {
	double v = field(L, t, k, LUA_TNUMBER, 1, what) ? (double)lua_tonumber(L, -1) : 0;
	lua_pop(L, 1);
	return v;
}

static int field_bool(lua_State *L, int t, const char *k, const char *what) {
	field(L, t, k, LUA_TBOOLEAN, 1, what);
	int v = lua_toboolean(L, -1);
	lua_pop(L, 1);
	return v;
}

/* read_legs reads the array at idx (nil: none) of legs, each an endpoint
 * or {endpoint=, vars=}; what it reads stays on the stack. */
static const struct ringlb_leg *read_legs(lua_State *L, int idx, int *n, const char *what) {
	*n = 0;
	if (lua_isnoneornil(L, idx))
		return NULL;
	if (lua_type(L, idx) != LUA_TTABLE)
		luaL_error(L, "%s must be an array of legs, got %s", what, luaL_typename(L, idx));
	size_t count = lm_rawlen(L, idx);
	if (count > RINGLB_MAX_LEGS)
		luaL_error(L, "%s: %d legs (at most %d)", what, (int)count, RINGLB_MAX_LEGS);
	struct ringlb_leg *legs = (struct ringlb_leg *)lua_newuserdata(L, count * sizeof *legs + 1);
	char sub[80];
	for (size_t i = 0; i < count; i++) {
		luaL_checkstack(L, 8, "legs");
		lua_rawgeti(L, idx, (int)i + 1);
		int e = lua_gettop(L);
		legs[i].vars = NULL;
		legs[i].nvars = 0;
		if (lua_type(L, e) == LUA_TTABLE) {
			snprintf(sub, sizeof sub, "%s[%d].", what, (int)i + 1);
			legs[i].endpoint = field_string(L, e, "endpoint", 0, sub);
			lua_getfield(L, e, "vars");
			legs[i].vars = read_vars(L, lua_gettop(L), &legs[i].nvars);
		} else if ((legs[i].endpoint = lm_plain(L, e)) == NULL) {
			luaL_error(L, "%s[%d] must be an endpoint string or {endpoint=, vars=}, got %s", what, (int)i + 1,
			           luaL_typename(L, e));
		}
	}
	*n = (int)count;
	return legs;
}

/*
 * ringlb.dialstring(legs, sep [, vars [, leg_timeout [, tag]]]) -> string
 * sep is "," or "parallel" (ring at once), "|" or "sequential" (in turn); a
 * leg is an endpoint or {endpoint=, vars=}.
 */
static int l_dialstring(lua_State *L) {
	static const char *const seps[] = {",", "parallel", "|", "sequential", NULL};
	luaL_checktype(L, 1, LUA_TTABLE);
	struct ringlb_dial d = {.sep = luaL_checkoption(L, 2, NULL, seps) / 2};
	if (!lua_isnoneornil(L, 4)) {
		luaL_checktype(L, 4, LUA_TNUMBER);
		lua_Number t = lua_tonumber(L, 4);
		luaL_argcheck(L, t >= 0 && t <= RINGLB_MAX_LEG_TIMEOUT, 4, "leg_timeout out of range"); /* NaN too */
		d.leg_timeout = (int)t;
	}
	d.tag = lm_optstring(L, 5);
	lua_settop(L, 5);
	d.vars = read_vars(L, 3, &d.nvars);
	d.legs = read_legs(L, 1, &d.nlegs, "legs");
	char err[RINGLB_ERRLEN];
	char *out = NULL;
	int rc = ringlb_dialstring(&d, &out, err, sizeof err);
	if (rc != RINGLB_OK)
		return lm_fail(L, rc, err);
	lua_pushstring(L, out);
	ringlb_free(out);
	return 1;
}

/* read_members reads the members array at idx: keys, or tables {key=,
 * timeout=, dnd=, legs=}. */
static void read_members(lua_State *L, int idx, struct ringlb_ring_spec *spec) {
	if (lua_type(L, idx) != LUA_TTABLE)
		luaL_error(L, "members must be a non-empty array, got %s", luaL_typename(L, idx));
	size_t count = lm_rawlen(L, idx);
	if (count > RINGLB_MAX_MEMBERS)
		luaL_error(L, "%d members (at most %d)", (int)count, RINGLB_MAX_MEMBERS);
	struct ringlb_spec_member *ms = (struct ringlb_spec_member *)lua_newuserdata(L, count * sizeof *ms + 1);
	char what[64];
	for (size_t i = 0; i < count; i++) {
		luaL_checkstack(L, 8, "members");
		lua_rawgeti(L, idx, (int)i + 1);
		int e = lua_gettop(L);
		memset(&ms[i], 0, sizeof ms[i]);
		if (lua_type(L, e) == LUA_TTABLE) {
			snprintf(what, sizeof what, "members[%d].", (int)i + 1);
			ms[i].key = field_string(L, e, "key", 0, what);
			ms[i].timeout = field_number(L, e, "timeout", what);
			ms[i].dnd = field_bool(L, e, "dnd", what);
			lua_getfield(L, e, "legs");
			snprintf(what, sizeof what, "members[%d].legs", (int)i + 1);
			ms[i].legs = read_legs(L, lua_gettop(L), &ms[i].nlegs, what);
		} else if ((ms[i].key = lm_plain(L, e)) == NULL) {
			luaL_error(L, "members[%d] must be a key string or {key=, timeout=, legs=, dnd=}, got %s", (int)i + 1,
			           luaL_typename(L, e));
		}
	}
	spec->members = ms;
	spec->nmembers = (int)count;
}

static void set_string(lua_State *L, const char *k, const char *v) {
	lua_pushstring(L, v);
	lua_setfield(L, -2, k);
}

static void set_int(lua_State *L, const char *k, lua_Integer v) {
	lua_pushinteger(L, v);
	lua_setfield(L, -2, k);
}

/* push_vars pushes a table {key = value} of n variables. */
static void push_vars(lua_State *L, const struct ringlb_var *v, int n) {
	lua_createtable(L, 0, n);
	for (int i = 0; i < n; i++)
		set_string(L, v[i].key, v[i].value);
}

/* push_plan pushes the plan as the table ring.lua dispatches on. */
static void push_plan(lua_State *L, const struct ringlb_plan *p) {
	lua_createtable(L, 0, 8);
	set_string(L, "mode", p->mode);
	set_string(L, "on_backend_error", p->on_backend_error);
	if (p->balancer != NULL)
		set_string(L, "balancer", p->balancer);
	set_int(L, "timeout", p->timeout);
	lua_pushnumber(L, (lua_Number)p->deadline);
	lua_setfield(L, -2, "deadline");
	push_vars(L, p->vars, p->nvars);
	lua_setfield(L, -2, "vars");
	lua_createtable(L, p->nmembers, 0);
	for (int i = 0; i < p->nmembers; i++) {
		const struct ringlb_plan_member *m = &p->members[i];
		lua_createtable(L, 0, 4);
		set_string(L, "key", m->key);
		set_int(L, "timeout", m->timeout);
		set_int(L, "index", m->index + 1);
		if (m->dial != NULL)
			set_string(L, "dial", m->dial);
		lua_createtable(L, m->nlegs, 0);
		for (int j = 0; j < m->nlegs; j++) {
			lua_createtable(L, 0, 2);
			set_string(L, "endpoint", m->legs[j].endpoint);
			push_vars(L, m->legs[j].vars, m->legs[j].nvars);
			lua_setfield(L, -2, "vars");
			lua_rawseti(L, -2, j + 1);
		}
		lua_setfield(L, -2, "legs");
		lua_rawseti(L, -2, i + 1);
	}
	lua_setfield(L, -2, "members");
	lua_createtable(L, p->ndnd, 0);
	for (int i = 0; i < p->ndnd; i++) {
		lua_pushstring(L, p->dnd[i]);
		lua_rawseti(L, -2, i + 1);
	}
	lua_setfield(L, -2, "dnd");
}

/* plan_gc frees the plan its userdata holds, if any: when building the
 * plan's table raises (memory), the plan goes with the userdata. */
static int plan_gc(lua_State *L) {
	struct ringlb_plan **p = (struct ringlb_plan **)lua_touserdata(L, 1);
	if (p != NULL && *p != NULL) {
		ringlb_free(*p);
		*p = NULL;
	}
	return 0;
}

/* kept_gc lets go of the kept plan its userdata reads, if any: when
 * building the plan's table raises (memory), the reference goes with it. */
static int kept_gc(lua_State *L) {
	struct lm_kept_plan **p = (struct lm_kept_plan **)lua_touserdata(L, 1);
	if (p != NULL && *p != NULL) {
		lm_plan_release(*p);
		*p = NULL;
	}
	return 0;
}

/* with_gc sets the metatable called name, whose __gc is gc, on the
 * userdata on the stack top; the state makes it once and keeps it in its
 * registry, rather than a table per call. */
static void with_gc(lua_State *L, const char *name, lua_CFunction gc) {
	if (luaL_newmetatable(L, name)) {
		lua_pushcfunction(L, gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_setmetatable(L, -2);
}

/*
 * ringlb.ring_plan(spec) -> plan | nil, err, code
 * spec: {mode=, balancer=, no_holds=, timeout=, deadline=, on_backend_error=,
 * vars=, members=}; the plan (docs/lua-api.md) is ringlb's: the Go package
 * ring holds every rule of a valid ring. A spec asked before is answered
 * from the plan the module kept (luamod_kept.c).
 */
static int l_ring_plan(lua_State *L) {
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	struct ringlb_ring_spec spec = {0};
	spec.mode = field_string(L, 1, "mode", 1, "");
	spec.balancer = field_string(L, 1, "balancer", 1, "");
	spec.on_backend_error = field_string(L, 1, "on_backend_error", 1, "");
	spec.no_holds = field_bool(L, 1, "no_holds", "");
	spec.deadline = field_number(L, 1, "deadline", "");
	spec.timeout = field_number(L, 1, "timeout", "");
	if (spec.timeout == 0) {
		/* 0 is the default's code in the spec, not a timeout */
		lua_getfield(L, 1, "timeout");
		luaL_argcheck(L, lua_isnil(L, -1), 1, "timeout 0 (leave it out for the default)");
		lua_pop(L, 1);
	}
	lua_getfield(L, 1, "vars");
	spec.vars = read_vars(L, lua_gettop(L), &spec.nvars);
	lua_getfield(L, 1, "members");
	read_members(L, lua_gettop(L), &spec);
	char *key = NULL;
	size_t klen = lm_plan_key(NULL, 0, &spec);
	if (klen > 0) {
		key = (char *)lua_newuserdata(L, klen);
		lm_plan_key(key, klen, &spec);
		struct lm_kept_plan **kept = (struct lm_kept_plan **)lua_newuserdata(L, sizeof *kept);
		*kept = NULL;
		with_gc(L, "ringlb.kept_plan_ref", kept_gc);
		if ((*kept = lm_plan_kept(key, klen)) != NULL) {
			push_plan(L, (*kept)->plan);
			lm_plan_release(*kept);
			*kept = NULL;
			return 1;
		}
	}
	struct ringlb_plan **plan = (struct ringlb_plan **)lua_newuserdata(L, sizeof *plan);
	*plan = NULL;
	with_gc(L, "ringlb.plan_ref", plan_gc);
	char err[RINGLB_ERRLEN];
	int rc = ringlb_ring_plan(&spec, plan, err, sizeof err);
	if (rc != RINGLB_OK)
		return lm_fail(L, rc, err);
	push_plan(L, *plan);
	struct ringlb_plan *p = *plan;
	*plan = NULL;
	if (key != NULL)
		lm_plan_keep(key, klen, p);
	else
		ringlb_free(p);
	return 1;
}

/* push_members pushes the array of the members remaining[i] (remaining at
 * stack index idx) for which flags[i] is set. */
static void push_members(lua_State *L, int idx, const int *flags, int n) {
	lua_newtable(L);
	for (int i = 0, k = 0; i < n; i++) {
		if (flags[i]) {
			lua_rawgeti(L, idx, i + 1);
			lua_rawseti(L, -2, ++k);
		}
	}
}

/*
 * ringlb.ring_turn(mode, remaining, call_id [, left [, b]])
 *   -> member, seconds, skipped, full | false, stop, skipped | nil, err, code, skipped
 * remaining are plan members ({key=, timeout=}) not tried yet; left the
 * seconds before the ring's deadline (nil: none); b the balancer that holds
 * them (nil: list order). skipped are the members passed over as full; full
 * is true when the turn rings the member's whole timeout (a leg of it that
 * ends unanswered rang out), false when the deadline cut it short.
 */
static int l_ring_turn(lua_State *L) {
	uint64_t handle = 0;
	if (!lua_isnoneornil(L, 5)) {
		/* lm_self reads argument 1: the balancer goes there for a moment */
		lua_pushvalue(L, 1);
		lua_pushvalue(L, 5);
		lua_replace(L, 1);
		handle = lm_self(L, "ring_turn")->handle;
		lua_replace(L, 1);
	}
	const char *mode = lm_string(L, 1);
	luaL_checktype(L, 2, LUA_TTABLE);
	const char *call_id = lm_string(L, 3);
	double left = HUGE_VAL;
	if (!lua_isnoneornil(L, 4)) {
		luaL_checktype(L, 4, LUA_TNUMBER);
		left = (double)lua_tonumber(L, 4);
	}
	lua_settop(L, 5);
	size_t n = lm_rawlen(L, 2);
	if (n > RINGLB_MAX_MEMBERS)
		luaL_error(L, "%d members (at most %d)", (int)n, RINGLB_MAX_MEMBERS);
	const char *keys[RINGLB_MAX_MEMBERS];
	int timeouts[RINGLB_MAX_MEMBERS], skipped[RINGLB_MAX_MEMBERS];
	char what[48];
	for (size_t i = 0; i < n; i++) {
		lua_rawgeti(L, 2, (int)i + 1);
		int e = lua_gettop(L);
		if (lua_type(L, e) != LUA_TTABLE)
			luaL_error(L, "remaining[%d] is not a plan member {key=, timeout=}", (int)i + 1);
		snprintf(what, sizeof what, "remaining[%d].", (int)i + 1);
		keys[i] = field_string(L, e, "key", 0, what); /* the member table keeps it */
		field(L, e, "timeout", LUA_TNUMBER, 0, what);
		timeouts[i] = (int)lua_tonumber(L, -1);
		lua_pop(L, 2);
	}
	char err[RINGLB_ERRLEN], stop[16];
	int chosen = -1, seconds = 0, full = 0;
	int rc = ringlb_ring_turn(handle, mode, (int)n, keys, timeouts, call_id, left, &chosen, &seconds, &full, skipped,
	                          stop, sizeof stop, err, sizeof err);
	if (rc != RINGLB_OK) {
		lm_fail(L, rc, err);
		push_members(L, 2, skipped, (int)n);
		return 4;
	}
	if (chosen >= 0) {
		lua_rawgeti(L, 2, chosen + 1);
		lua_pushinteger(L, seconds);
	} else {
		lua_pushboolean(L, 0);
		lua_pushstring(L, stop);
	}
	push_members(L, 2, skipped, (int)n);
	if (chosen >= 0) {
		lua_pushboolean(L, full);
		return 4;
	}
	return 3;
}

/*
 * ringlb.ring_result{causes=, full=, dnd=, stop=} -> result, detail, summary
 * How a ring that got no answer ended: ringlb names it from the hangup
 * causes of its attempts, the members passed over as full and for
 * do-not-disturb, and why it stopped.
 */
static int l_ring_result(lua_State *L) {
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	double full = field_number(L, 1, "full", ""), dnd = field_number(L, 1, "dnd", "");
	const char *stop = field_string(L, 1, "stop", 0, "");
	lua_getfield(L, 1, "causes"); /* 2 */
	struct lm_strings c;
	lm_strings(L, 2, RINGLB_MAX_MEMBERS, &c, 0);
	char err[RINGLB_ERRLEN], result[16];
	char *detail = NULL, *summary = NULL;
	int rc = ringlb_ring_result(c.n, c.v, (int)full, (int)dnd, stop, result, sizeof result, &detail, &summary, err,
	                            sizeof err);
	if (rc == RINGLB_OK) {
		lua_pushstring(L, result);
		lua_pushstring(L, detail);
		lua_pushstring(L, summary);
	}
	ringlb_free(detail);
	ringlb_free(summary);
	return rc == RINGLB_OK ? 3 : lm_fail(L, rc, err);
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
    {"dialstring", l_dialstring}, {"ring_check", l_ring_check}, {"ring_reason", l_ring_reason},
    {"ring_plan", l_ring_plan},   {"ring_turn", l_ring_turn},   {"ring_result", l_ring_result}, {NULL, NULL}};

const luaL_Reg lm_ring_methods[] = {
    {"pick", l_pick}, {"hold_all", l_hold_all}, {"fallback", l_fallback}, {NULL, NULL}};
