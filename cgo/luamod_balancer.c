//go:build lua51 || lua52 || lua53 || lua54 || luajit

/*
 * luamod_balancer.c - the methods of a balancer (ringlb.open's result),
 * over the C ABI of ringlb.h. See luamod.h for how each checks its
 * arguments and returns errors.
 */
#include <stddef.h>
#include <string.h>

#include "luamod.h"

/* b:order(dests) -> array, least loaded first */
static int l_order(lua_State *L) {
	struct balancer_ud *b = lm_self(L, "order");
	struct lm_strings d;
	lm_strings(L, 2, RINGLB_MAX_DESTINATIONS, &d, sizeof(int));
	int *idx = d.out;
	char err[RINGLB_ERRLEN];
	int count = 0;
	int rc = ringlb_order(b->handle, d.n, d.v, idx, &count, err, sizeof err);
	if (rc != RINGLB_OK)
		return lm_fail(L, rc, err);
	lm_push_picked(L, 2, idx, count);
	return 1;
}

/* b:next(dests, call_id) -> dest, chosen and held */
static int l_next(lua_State *L) {
	struct balancer_ud *b = lm_self(L, "next");
	struct lm_strings d;
	lm_strings(L, 2, RINGLB_MAX_DESTINATIONS, &d, 0);
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

/* b:unanswered(dest, call_id) -> true (released; a ringing one backs off) | false (not held) */
static int l_unanswered(lua_State *L) { return hold(L, "unanswered", ringlb_unanswered); }

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
	lm_strings(L, 2, RINGLB_MAX_DESTINATIONS, &d, sizeof(int64_t));
	char err[RINGLB_ERRLEN];
	int rc = ringlb_load(b->handle, d.n, d.v, d.out, err, sizeof err);
	if (rc != RINGLB_OK)
		return lm_fail(L, rc, err);
	const int64_t *loads = d.out;
	lua_createtable(L, 0, d.n);
	for (int i = 0; i < d.n; i++) {
		lua_rawgeti(L, 2, i + 1);
		lua_pushinteger(L, (lua_Integer)loads[i]);
		lua_rawset(L, -3);
	}
	return 1;
}

typedef int (*dest_fn)(uint64_t, const char *, char *, size_t);

/* mark runs fn, an operation on one destination, for method. */
static int mark(lua_State *L, const char *method, dest_fn fn) {
	struct balancer_ud *b = lm_self(L, method);
	const char *dest = lm_string(L, 2);
	char err[RINGLB_ERRLEN];
	int rc = fn(b->handle, dest, err, sizeof err);
	if (rc != RINGLB_OK)
		return lm_fail(L, rc, err);
	lua_pushboolean(L, 1);
	return 1;
}

/* drain1 and undrain1 are ringlb_drain as dest_fns. */
static int drain1(uint64_t h, const char *dest, char *err, size_t errlen) {
	return ringlb_drain(h, dest, 1, err, errlen);
}
static int undrain1(uint64_t h, const char *dest, char *err, size_t errlen) {
	return ringlb_drain(h, dest, 0, err, errlen);
}

/* b:drain(dest) -> true */
static int l_drain(lua_State *L) { return mark(L, "drain", drain1); }

/* b:undrain(dest) -> true */
static int l_undrain(lua_State *L) { return mark(L, "undrain", undrain1); }

/* b:away(dest) -> true: absent until its next call shows it back */
static int l_away(lua_State *L) { return mark(L, "away", ringlb_away); }

/* b:rejoin(dest) -> true: back, lifted to its list-mates' mean at its next ranking */
static int l_rejoin(lua_State *L) { return mark(L, "rejoin", ringlb_rejoin); }

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
		lm_strings(L, 3, RINGLB_MAX_DESTINATIONS, &d, 0);
	char err[RINGLB_ERRLEN];
	char *text = NULL;
	int rc = ringlb_report(b->handle, kind, d.n, d.v, &text, err, sizeof err);
	if (rc != RINGLB_OK)
		return lm_fail(L, rc, err);
	lua_pushstring(L, text);
	ringlb_free(text);
	return 1;
}

/* A field of a row of ringlb_snapshot_rows, as a Lua table has it. */
struct field {
	const char *name;
	size_t offset;
	enum { STRING, INTEGER, BOOLEAN } type; /* const char *, int64_t, int */
};

#define FIELD(row, name, type) {#name, offsetof(struct row, name), type}

static const struct field dest_fields[] = {
    FIELD(ringlb_dest_row, dest, STRING),         FIELD(ringlb_dest_row, active, INTEGER),
    FIELD(ringlb_dest_row, capacity, INTEGER),    FIELD(ringlb_dest_row, drained, BOOLEAN),
    FIELD(ringlb_dest_row, started, INTEGER),     FIELD(ringlb_dest_row, last_hold, INTEGER),
    FIELD(ringlb_dest_row, ringing, INTEGER),     FIELD(ringlb_dest_row, talking, INTEGER),
    FIELD(ringlb_dest_row, answered, INTEGER),    FIELD(ringlb_dest_row, wrapup_until, INTEGER),
    {NULL, 0, 0}};

static const struct field hold_fields[] = {
    FIELD(ringlb_hold_row, dest, STRING),  FIELD(ringlb_hold_row, call_id, STRING),
    FIELD(ringlb_hold_row, node, STRING),  FIELD(ringlb_hold_row, start, INTEGER),
    FIELD(ringlb_hold_row, expires, INTEGER), FIELD(ringlb_hold_row, state, STRING),
    {NULL, 0, 0}};

/* push_rows pushes an array of n tables, one per row of size bytes at
 * rows, each with the fields f. */
static void push_rows(lua_State *L, const void *rows, size_t n, size_t size, const struct field *f) {
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		const char *row = (const char *)rows + i * size;
		lua_newtable(L);
		for (const struct field *x = f; x->name != NULL; x++) {
			const void *v = row + x->offset;
			if (x->type == STRING)
				lua_pushstring(L, *(const char *const *)v);
			else if (x->type == INTEGER)
				lua_pushinteger(L, (lua_Integer) * (const int64_t *)v);
			else
				lua_pushboolean(L, *(const int *)v);
			lua_setfield(L, -2, x->name);
		}
		lua_rawseti(L, -2, (int)i + 1);
	}
}

/* push_snapshot pushes the table of the rows at argument 1 (a light
 * userdata). */
static int push_snapshot(lua_State *L) {
	const struct ringlb_rows *r = lua_touserdata(L, 1);
	lua_createtable(L, 0, 4);
	lua_pushstring(L, r->name);
	lua_setfield(L, -2, "name");
	lua_pushstring(L, r->backend);
	lua_setfield(L, -2, "backend");
	push_rows(L, r->dests, r->ndests, sizeof *r->dests, dest_fields);
	lua_setfield(L, -2, "destinations");
	push_rows(L, r->holds, r->nholds, sizeof *r->holds, hold_fields);
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
	lua_pushcfunction(L, push_snapshot);
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

/*
 * b:act(action, dests) -> lines | nil, err, code, lines
 * drain, undrain, away, rejoin or reset each of dests, and the lines ringlbctl prints
 * about each (after an error, of those done before it).
 */
static int l_act(lua_State *L) {
	struct balancer_ud *b = lm_self(L, "act");
	const char *action = lm_string(L, 2);
	struct lm_strings d;
	lm_strings(L, 3, RINGLB_MAX_DESTINATIONS, &d, 0);
	char err[RINGLB_ERRLEN];
	char *text = NULL;
	int rc = ringlb_act(b->handle, action, d.n, d.v, &text, err, sizeof err);
	int ret = 1;
	if (rc != RINGLB_OK)
		ret = lm_fail(L, rc, err) + 1;
	lua_newtable(L);
	int k = 0;
	for (const char *p = text; p != NULL && *p != '\0';) {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		lua_pushlstring(L, p, len);
		lua_rawseti(L, -2, ++k);
		p += len + (nl != NULL);
	}
	ringlb_free(text);
	return ret;
}

const luaL_Reg lm_balancer_methods[] = {
    {"order", l_order},       {"next", l_next},   {"acquire", l_acquire},   {"release", l_release},
    {"answered", l_answered}, {"count", l_count}, {"load", l_load},         {"loads", l_loads},
    {"drain", l_drain},       {"undrain", l_undrain}, {"reset", l_reset},   {"snapshot", l_snapshot},
    {"report", l_report},     {"name", l_name},   {"act", l_act},           {"unanswered", l_unanswered},
    {"away", l_away},         {"rejoin", l_rejoin}, {NULL, NULL}};
