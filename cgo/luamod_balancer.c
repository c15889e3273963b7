//go:build lua51 || lua52 || lua53 || lua54 || luajit

/*
 * luamod_balancer.c - the methods of a balancer (ringlb.open's result),
 * over the C ABI of ringlb.h. See luamod.h for how each checks its
 * arguments and returns errors.
 */
#include <string.h>

#include "luamod.h"

/* b:order(dests) -> array, least loaded first */
static int l_order(lua_State *L) {
	struct balancer_ud *b = lm_self(L, "order");
	struct lm_strings d;
	lm_strings(L, 2, RINGLB_MAX_DESTINATIONS, &d);
	int stack[LM_STACK], *idx = lm_room(L, stack, sizeof stack, (size_t)d.n, sizeof *idx);
	char err[RINGLB_ERRLEN];
	int count = 0;
	int rc = ringlb_order(b->handle, d.n, d.v, idx, &count, err, sizeof err);
	if (rc != RINGLB_OK)
		return lm_fail(L, rc, err);
	lua_createtable(L, count, 0);
	for (int i = 0; i < count; i++) {
		lua_rawgeti(L, 2, idx[i] + 1);
		lua_rawseti(L, -2, i + 1);
	}
	return 1;
}

/* b:next(dests, call_id) -> dest, chosen and held */
static int l_next(lua_State *L) {
	struct balancer_ud *b = lm_self(L, "next");
	struct lm_strings d;
	lm_strings(L, 2, RINGLB_MAX_DESTINATIONS, &d);
	const char *call_id = lm_string(L, 3);
	char err[RINGLB_ERRLEN];
	int chosen = -1;
	int rc = ringlb_next(b->handle, d.n, d.v, call_id, &chosen, err, sizeof err);
	if (rc != RINGLB_OK)
		return lm_fail(L, rc, err);
	lua_rawgeti(L, 2, chosen + 1);
	return 1;
}

typedef int (*hold_fn)(uint64_t, const char *, const char *, int *, char *, size_t);

/* hold runs fn, an operation on one destination and one call, for method. */
static int hold(lua_State *L, const char *method, hold_fn fn) {
	struct balancer_ud *b = lm_self(L, method);
	const char *dest = lm_string(L, 2), *call_id = lm_string(L, 3);
	char err[RINGLB_ERRLEN];
	int flag = 0;
	int rc = fn(b->handle, dest, call_id, &flag, err, sizeof err);
	if (rc != RINGLB_OK)
		return lm_fail(L, rc, err);
	lua_pushboolean(L, flag);
	return 1;
}

/* b:acquire(dest, call_id) -> true (new) | false (held already) */
static int l_acquire(lua_State *L) { return hold(L, "acquire", ringlb_acquire); }

/* b:count(dest, call_id) -> true (new) | false (held already); drain and capacity do not stop it */
static int l_count(lua_State *L) { return hold(L, "count", ringlb_count); }

/* b:release(dest, call_id) -> true (released) | false (not held) */
static int l_release(lua_State *L) { return hold(L, "release", ringlb_release); }

/* b:answered(dest, call_id) -> true (ringing -> talking) | false (not held, or talking) */
static int l_answered(lua_State *L) { return hold(L, "answered", ringlb_answered); }

/* b:load(dest) -> number */
static int l_load(lua_State *L) {
	struct balancer_ud *b = lm_self(L, "load");
	const char *dest = lm_string(L, 2);
	char err[RINGLB_ERRLEN];
	int64_t n = 0;
	int rc = ringlb_load(b->handle, 1, &dest, &n, err, sizeof err);
	if (rc != RINGLB_OK)
		return lm_fail(L, rc, err);
	lua_pushinteger(L, (lua_Integer)n);
	return 1;
}

/* b:loads(dests) -> { dest = number } */
static int l_loads(lua_State *L) {
	struct balancer_ud *b = lm_self(L, "loads");
	struct lm_strings d;
	lm_strings(L, 2, RINGLB_MAX_DESTINATIONS, &d);
	int64_t stack[LM_STACK], *loads = lm_room(L, stack, sizeof stack, (size_t)d.n, sizeof *loads);
	char err[RINGLB_ERRLEN];
	int rc = ringlb_load(b->handle, d.n, d.v, loads, err, sizeof err);
	if (rc != RINGLB_OK)
		return lm_fail(L, rc, err);
	lua_createtable(L, 0, d.n);
	for (int i = 0; i < d.n; i++) {
		lua_rawgeti(L, 2, i + 1);
		lua_pushinteger(L, (lua_Integer)loads[i]);
		lua_rawset(L, -3);
	}
	return 1;
}

/* drain drains (drained 1) or undrains dest for method. */
static int drain(lua_State *L, const char *method, int drained) {
	struct balancer_ud *b = lm_self(L, method);
	const char *dest = lm_string(L, 2);
	char err[RINGLB_ERRLEN];
	int rc = ringlb_drain(b->handle, dest, drained, err, sizeof err);
	if (rc != RINGLB_OK)
		return lm_fail(L, rc, err);
	lua_pushboolean(L, 1);
	return 1;
}

/* b:drain(dest) -> true */
static int l_drain(lua_State *L) { return drain(L, "drain", 1); }

/* b:undrain(dest) -> true */
static int l_undrain(lua_State *L) { return drain(L, "undrain", 0); }

/* b:reset(dest) -> number of holds dropped */
static int l_reset(lua_State *L) {
	struct balancer_ud *b = lm_self(L, "reset");
	const char *dest = lm_string(L, 2);
	char err[RINGLB_ERRLEN];
	int dropped = 0;
	int rc = ringlb_reset(b->handle, dest, &dropped, err, sizeof err);
	if (rc != RINGLB_OK)
		return lm_fail(L, rc, err);
	lua_pushinteger(L, dropped);
	return 1;
}

/*
 * b:report("status") or b:report("holds" [, dests]) -> text: the tables
 * ringlbctl prints, for fs_cli.
 */
static int l_report(lua_State *L) {
	static const char *const kinds[] = {"status", "holds", NULL};
	struct balancer_ud *b = lm_self(L, "report");
	int kind = luaL_checkoption(L, 2, NULL, kinds) == 0 ? RINGLB_REPORT_STATUS : RINGLB_REPORT_HOLDS;
	struct lm_strings d = {.n = 0};
	if (kind == RINGLB_REPORT_HOLDS && !lua_isnoneornil(L, 3))
		lm_strings(L, 3, RINGLB_MAX_DESTINATIONS, &d);
	char err[RINGLB_ERRLEN];
	char *text = NULL;
	int rc = ringlb_report(b->handle, kind, d.n, d.v, &text, err, sizeof err);
	if (rc != RINGLB_OK)
		return lm_fail(L, rc, err);
	lua_pushstring(L, text);
	ringlb_free(text);
	return 1;
}

static void set_int(lua_State *L, const char *k, int64_t v) {
	lua_pushinteger(L, (lua_Integer)v);
	lua_setfield(L, -2, k);
}

static void set_str(lua_State *L, const char *k, const char *v) {
	lua_pushstring(L, v);
	lua_setfield(L, -2, k);
}

/* push_rows pushes the table of the rows at argument 1 (a light userdata). */
static int push_rows(lua_State *L) {
	const struct ringlb_rows *r = lua_touserdata(L, 1);
	lua_createtable(L, 0, 4);
	set_str(L, "name", r->name);
	set_str(L, "backend", r->backend);
	lua_createtable(L, (int)r->ndests, 0);
	for (size_t i = 0; i < r->ndests; i++) {
		const struct ringlb_dest_row *d = &r->dests[i];
		lua_createtable(L, 0, 10);
		set_str(L, "dest", d->dest);
		set_int(L, "active", d->active);
		set_int(L, "capacity", d->capacity);
		lua_pushboolean(L, d->drained);
		lua_setfield(L, -2, "drained");
		set_int(L, "started", d->started);
		set_int(L, "last_hold", d->last_hold);
		set_int(L, "ringing", d->ringing);
		set_int(L, "talking", d->talking);
		set_int(L, "answered", d->answered);
		set_int(L, "wrapup_until", d->wrapup_until);
		lua_rawseti(L, -2, (int)i + 1);
	}
	lua_setfield(L, -2, "destinations");
	lua_createtable(L, (int)r->nholds, 0);
	for (size_t i = 0; i < r->nholds; i++) {
		const struct ringlb_hold_row *h = &r->holds[i];
		lua_createtable(L, 0, 6);
		set_str(L, "dest", h->dest);
		set_str(L, "call_id", h->call_id);
		set_str(L, "node", h->node);
		set_int(L, "start", h->start);
		set_int(L, "expires", h->expires);
		set_str(L, "state", h->state);
		lua_rawseti(L, -2, (int)i + 1);
	}
	lua_setfield(L, -2, "holds");
	return 1;
}

/*
 * b:snapshot() -> { name, backend, destinations = {...}, holds = {...} }
 * The rows are ringlb's memory until they are tables: they are built in a
 * protected call, so that a memory error on the way frees them too.
 */
static int l_snapshot(lua_State *L) {
	struct balancer_ud *b = lm_self(L, "snapshot");
	lua_pushcfunction(L, push_rows);
	char err[RINGLB_ERRLEN];
	struct ringlb_rows *rows = NULL;
	int rc = ringlb_snapshot_rows(b->handle, &rows, err, sizeof err);
	if (rc != RINGLB_OK)
		return lm_fail(L, rc, err);
	lua_pushlightuserdata(L, rows);
	rc = lua_pcall(L, 1, 1, 0);
	ringlb_free(rows);
	if (rc != 0)
		lua_error(L);
	return 1;
}

/* b:name() -> string */
static int l_name(lua_State *L) {
	lua_pushstring(L, lm_self(L, "name")->name);
	return 1;
}

int lm_tostring(lua_State *L) {
	struct balancer_ud *b = lua_touserdata(L, 1);
	int ok = b != NULL && lm_rawlen(L, 1) == sizeof *b && b->magic == BALANCER_MAGIC;
	lua_pushfstring(L, "ringlb.balancer(%s)", ok ? b->name : "?");
	return 1;
}

const luaL_Reg lm_balancer_methods[] = {
    {"order", l_order},       {"next", l_next},   {"acquire", l_acquire},   {"release", l_release},
    {"answered", l_answered}, {"count", l_count}, {"load", l_load},         {"loads", l_loads},
    {"drain", l_drain},       {"undrain", l_undrain}, {"reset", l_reset},   {"snapshot", l_snapshot},
    {"report", l_report},     {"name", l_name},   {NULL, NULL}};
