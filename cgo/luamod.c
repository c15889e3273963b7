//go:build lua51 || lua52 || lua53 || lua54 || luajit

/*
 * luamod.c - the `ringlb` Lua module: luaopen_ringlb and thin glue over the
 * C ABI of ringlb.h. Builds against Lua 5.1 (and LuaJIT), 5.2, 5.3 and 5.4
 * headers; never links liblua (the host's symbols are used).
 *
 * Nothing here raises a Lua error: arguments are checked by hand (no
 * luaL_check*, which would longjmp) and every failure returns
 * nil, message, code. Go code is only reached through the ringlb_* functions,
 * which keep realtime threads out of Go (dispatch.c).
 */
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringlb.h"
#include "ringlb_call.h"

#define BALANCER_MT "ringlb.balancer"
#define STACK_DESTS 64

#if LUA_VERSION_NUM < 502
#define ringlb_rawlen(L, i) lua_objlen(L, (i))
#else
#define ringlb_rawlen(L, i) lua_rawlen(L, (i))
#endif

static char *next_field(char **p);

struct balancer_ud {
	uint64_t magic; /* BALANCER_MAGIC: a foreign userdata of the same size is no balancer */
	uint64_t handle;
	char name[132];
};

#define BALANCER_MAGIC UINT64_C(0x72696e676c62ba1a)

/* fail pushes nil, message, code and returns 3. */
static int fail(lua_State *L, const char *msg, const char *code) {
	lua_pushnil(L);
	lua_pushstring(L, msg);
	lua_pushstring(L, code);
	return 3;
}

static const char *code_name(int rc) {
	switch (rc) {
	case RINGLB_ENODEST:
		return "no_destinations";
	case RINGLB_EFULL:
		return "at_capacity";
	case RINGLB_EDRAINED:
		return "drained";
	case RINGLB_EINVAL:
		return "invalid";
	case RINGLB_EMISMATCH:
		return "mismatch";
	case RINGLB_EBACKEND:
		return "backend";
	case RINGLB_ECLOSED:
		return "closed";
	case RINGLB_EHANDLE:
		return "unknown";
	}
	return "internal";
}

static int fail_rc(lua_State *L, int rc, const char *err) {
	return fail(L, err[0] != '\0' ? err : "ringlb: error", code_name(rc));
}

/* failf formats a message for an argument error and fails with it. */
__attribute__((format(printf, 2, 3))) static int failf(lua_State *L, const char *fmt, ...) {
	char msg[RINGLB_ERRLEN];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return fail(L, msg, "invalid");
}

/*
 * to_balancer_at returns the balancer at index idx, or NULL (to_balancer:
 * at index 1). The metatable alone
 * does not prove it: the debug library can give ours to any userdata, whose
 * memory would then be read past its end. So the value must also be a full
 * userdata of our size carrying our magic number.
 */
static struct balancer_ud *to_balancer_at(lua_State *L, int idx) {
	if (lua_type(L, idx) != LUA_TUSERDATA || ringlb_rawlen(L, idx) != sizeof(struct balancer_ud))
		return NULL;
	struct balancer_ud *b = (struct balancer_ud *)lua_touserdata(L, idx);
	if (b == NULL || b->magic != BALANCER_MAGIC || !lua_getmetatable(L, idx))
		return NULL;
	luaL_getmetatable(L, BALANCER_MT);
	int same = lua_rawequal(L, -1, -2);
	lua_pop(L, 2);
	return same ? b : NULL;
}

static struct balancer_ud *to_balancer(lua_State *L) { return to_balancer_at(L, 1); }

#define SELF(L, b, what)                                                                         \
	struct balancer_ud *b = to_balancer(L);                                                      \
	if (b == NULL)                                                                               \
		return fail(L, "ringlb: " what ": call it as balancer:" what "(...)", "invalid");

/* plain_string returns the string at idx if it is a Lua string with no NUL
 * byte, else NULL. Numbers are not strings here: no silent coercion. */
static const char *plain_string(lua_State *L, int idx) {
	size_t len;
	if (lua_type(L, idx) != LUA_TSTRING)
		return NULL;
	const char *s = lua_tolstring(L, idx, &len);
	return strlen(s) == len ? s : NULL;
}

static int arg_string(lua_State *L, int idx, const char *op, const char *what, const char **out) {
	*out = plain_string(L, idx);
	if (*out != NULL)
		return 0;
	char msg[RINGLB_ERRLEN];
	snprintf(msg, sizeof msg, "ringlb: %s: %s must be a string without NUL bytes, got %s", op, what,
	         lua_typename(L, lua_type(L, idx)));
	fail(L, msg, "invalid");
	return 1;
}

/*
 * dest_array reads the array of strings at idx into a C array (stack buf or
 * malloc'd *heap, which the caller frees). The strings stay owned by the Lua
 * table, which is on the stack for the whole call. On error it pushes
 * nil, msg, code and returns -1.
 */
static int dest_array(lua_State *L, int idx, const char *op, const char **buf,
                      const char ***out, const char ***heap) {
	*heap = NULL;
	if (lua_type(L, idx) != LUA_TTABLE) {
		char msg[RINGLB_ERRLEN];
		snprintf(msg, sizeof msg, "ringlb: %s: destinations must be an array of strings, got %s", op,
		         lua_typename(L, lua_type(L, idx)));
		fail(L, msg, "invalid");
		return -1;
	}
	size_t n = ringlb_rawlen(L, idx);
	if (n > RINGLB_MAX_DESTINATIONS) {
		char msg[RINGLB_ERRLEN];
		snprintf(msg, sizeof msg, "ringlb: %s: %lu destinations (at most %d)", op, (unsigned long)n,
		         RINGLB_MAX_DESTINATIONS);
		fail(L, msg, "invalid");
		return -1;
	}
	const char **arr = buf;
	if (n > STACK_DESTS) {
		arr = (const char **)malloc(n * sizeof *arr);
		if (arr == NULL) {
			fail(L, "ringlb: out of memory", "internal");
			return -1;
		}
		*heap = arr;
	}
	for (size_t i = 0; i < n; i++) {
		lua_rawgeti(L, idx, (int)i + 1);
		arr[i] = plain_string(L, -1);
		int t = lua_type(L, -1);
		lua_pop(L, 1);
		if (arr[i] == NULL) {
			char msg[RINGLB_ERRLEN];
			snprintf(msg, sizeof msg,
			         "ringlb: %s: destination %lu is %s; want a string without NUL bytes", op,
			         (unsigned long)i + 1, t == LUA_TSTRING ? "a string with a NUL byte" : lua_typename(L, t));
			free(*heap);
			*heap = NULL;
			fail(L, msg, "invalid");
			return -1;
		}
	}
	*out = arr;
	return (int)n;
}

/* push_option_value converts the option value at idx to a string on the
 * stack top and returns 1. It pushes nothing and returns 0 for a type
 * options cannot have, and -1 for a string holding a NUL byte: it is passed
 * on as a C string, which would end there. */
static int push_option_value(lua_State *L, int idx) {
	switch (lua_type(L, idx)) {
	case LUA_TSTRING:
		if (plain_string(L, idx) == NULL)
			return -1;
		lua_pushvalue(L, idx);
		return 1;
	case LUA_TNUMBER:
		lua_pushvalue(L, idx);
		lua_tostring(L, -1); /* converts the copy only */
		return 1;
	case LUA_TBOOLEAN:
		lua_pushstring(L, lua_toboolean(L, idx) ? "true" : "false");
		return 1;
	}
	return 0;
}

static void push_balancer(lua_State *L, uint64_t h, const char *name) {
	struct balancer_ud *b = (struct balancer_ud *)lua_newuserdata(L, sizeof *b);
	b->magic = BALANCER_MAGIC;
	b->handle = h;
	strncpy(b->name, name, sizeof b->name - 1);
	b->name[sizeof b->name - 1] = '\0';
	luaL_getmetatable(L, BALANCER_MT);
	lua_setmetatable(L, -2);
}

/*
 * ringlb.open(name [, opts]) -> balancer | nil, err, code
 * Options are flattened into key/value strings kept alive in two Lua tables
 * on the stack, then passed to ringlb_open.
 */
static int l_open(lua_State *L) {
	const char *name;
	if (arg_string(L, 1, "open", "name", &name))
		return 3;
	int t = lua_type(L, 2);
	if (t != LUA_TNONE && t != LUA_TNIL && t != LUA_TTABLE)
		return failf(L, "ringlb: open: options must be a table, got %s", lua_typename(L, t));
	lua_settop(L, 2);
	lua_newtable(L); /* 3: keys */
	lua_newtable(L); /* 4: values */
	int n = 0;
	if (t == LUA_TTABLE) {
		lua_pushnil(L);
		while (lua_next(L, 2) != 0) { /* key -2, value -1 */
			const char *k = plain_string(L, -2);
			if (k == NULL)
				return failf(L, "ringlb: open: option names must be strings without NUL bytes, got %s",
				             lua_typename(L, lua_type(L, -2)));
			/* capacity and wrapup may be tables { [dest] = n }: one option
			 * "<key>:<dest>" each. */
			if ((strcmp(k, "capacity") == 0 || strcmp(k, "wrapup") == 0) && lua_type(L, -1) == LUA_TTABLE) {
				int cap = lua_gettop(L);
				lua_pushnil(L);
				while (lua_next(L, cap) != 0) {
					const char *dest = plain_string(L, -2);
					if (dest == NULL)
						return failf(L, "ringlb: open: %s keys must be destination strings, got %s", k,
						             lua_typename(L, lua_type(L, -2)));
					if (lua_type(L, -1) != LUA_TNUMBER)
						return failf(L, "ringlb: open: %s of %s must be a number", k, dest);
					if (++n > RINGLB_MAX_OPTIONS)
						return failf(L, "ringlb: open: more than %d options", RINGLB_MAX_OPTIONS);
					lua_pushfstring(L, "%s:%s", k, dest);
					lua_rawseti(L, 3, n);
					push_option_value(L, -1);
					lua_rawseti(L, 4, n);
					lua_pop(L, 1);
				}
				lua_pop(L, 1);
				continue;
			}
			if (++n > RINGLB_MAX_OPTIONS)
				return failf(L, "ringlb: open: more than %d options", RINGLB_MAX_OPTIONS);
			int pushed = push_option_value(L, -1);
			if (pushed < 0) /* the value is not shown: it may be a url's password */
				return failf(L, "ringlb: open: option %s has a NUL byte", k);
			if (pushed == 0)
				return failf(L, "ringlb: open: option %s must be a string, number or boolean", k);
			lua_rawseti(L, 4, n);
			lua_pushvalue(L, -2);
			lua_rawseti(L, 3, n);
			lua_pop(L, 1);
		}
	}
	const char **keys = NULL, **vals = NULL;
	if (n > 0) {
		keys = (const char **)malloc(2 * (size_t)n * sizeof *keys);
		if (keys == NULL)
			return fail(L, "ringlb: out of memory", "internal");
		vals = keys + n;
		for (int i = 0; i < n; i++) {
			lua_rawgeti(L, 3, i + 1);
			keys[i] = lua_tostring(L, -1);
			lua_rawgeti(L, 4, i + 1);
			vals[i] = lua_tostring(L, -1);
			lua_pop(L, 2); /* both strings stay referenced by tables 3 and 4 */
		}
	}
	char err[RINGLB_ERRLEN];
	uint64_t h = 0;
	int rc = ringlb_open(name, n, keys, vals, &h, err, sizeof err);
	free(keys);
	if (rc != RINGLB_OK)
		return fail_rc(L, rc, err);
	push_balancer(L, h, name);
	return 1;
}

/* ringlb.get(name) -> balancer already open in this process | nil, err, "unknown" */
static int l_get(lua_State *L) {
	const char *name;
	if (arg_string(L, 1, "get", "name", &name))
		return 3;
	char err[RINGLB_ERRLEN];
	uint64_t h = 0;
	int rc = ringlb_get(name, &h, err, sizeof err);
	if (rc != RINGLB_OK)
		return fail_rc(L, rc, err);
	push_balancer(L, h, name);
	return 1;
}

/* ringlb.list() -> array of the balancer names open in this process */
static int l_list(lua_State *L) {
	char err[RINGLB_ERRLEN];
	char *text = NULL;
	int rc = ringlb_list(&text, err, sizeof err);
	if (rc != RINGLB_OK)
		return fail_rc(L, rc, err);
	lua_newtable(L);
	int n = 0;
	char *p = text;
	while (*p != '\0') {
		char *name = next_field(&p);
		lua_pushstring(L, name);
		lua_rawseti(L, -2, ++n);
	}
	ringlb_free(text);
	return 1;
}

/* ringlb._noop() goes into Go and back through the same path as every call,
 * doing nothing: the floor for benchmarks. */
static int l_noop(lua_State *L) {
	(void)L;
	ringlb_noop();
	return 0;
}

/* b:order(dests) -> array */
static int l_order(lua_State *L) {
	SELF(L, b, "order");
	const char *buf[STACK_DESTS], **dests, **heap;
	int idx_buf[STACK_DESTS];
	int n = dest_array(L, 2, "order", buf, &dests, &heap);
	if (n < 0)
		return 3;
	int *idx = idx_buf;
	if (n > STACK_DESTS) {
		idx = (int *)malloc((size_t)n * sizeof *idx);
		if (idx == NULL) {
			free(heap);
			return fail(L, "ringlb: out of memory", "internal");
		}
	}
	char err[RINGLB_ERRLEN];
	int count = 0;
	int rc = ringlb_order(b->handle, n, dests, idx, &count, err, sizeof err);
	free(heap);
	if (rc != RINGLB_OK) {
		if (idx != idx_buf)
			free(idx);
		return fail_rc(L, rc, err);
	}
	lua_createtable(L, count, 0);
	for (int i = 0; i < count; i++) {
		lua_rawgeti(L, 2, idx[i] + 1);
		lua_rawseti(L, -2, i + 1);
	}
	if (idx != idx_buf)
		free(idx);
	return 1;
}

/* b:next(dests, call_id) -> dest */
static int l_next(lua_State *L) {
	SELF(L, b, "next");
	const char *call_id;
	if (arg_string(L, 3, "next", "call id", &call_id))
		return 3;
	const char *buf[STACK_DESTS], **dests, **heap;
	int n = dest_array(L, 2, "next", buf, &dests, &heap);
	if (n < 0)
		return 3;
	char err[RINGLB_ERRLEN];
	int chosen = -1;
	int rc = ringlb_next(b->handle, n, dests, call_id, &chosen, err, sizeof err);
	free(heap);
	if (rc != RINGLB_OK)
		return fail_rc(L, rc, err);
	lua_rawgeti(L, 2, chosen + 1);
	return 1;
}

typedef int (*hold_fn)(uint64_t, const char *, const char *, int *, char *, size_t);

static int hold(lua_State *L, const char *op, hold_fn fn) {
	struct balancer_ud *b = to_balancer(L);
	if (b == NULL)
		return failf(L, "ringlb: %s: call it as balancer:%s(dest, call_id)", op, op);
	const char *dest, *call_id;
	if (arg_string(L, 2, op, "destination", &dest) || arg_string(L, 3, op, "call id", &call_id))
		return 3;
	char err[RINGLB_ERRLEN];
	int flag = 0;
	int rc = fn(b->handle, dest, call_id, &flag, err, sizeof err);
	if (rc != RINGLB_OK)
		return fail_rc(L, rc, err);
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
	SELF(L, b, "load");
	const char *dest;
	if (arg_string(L, 2, "load", "destination", &dest))
		return 3;
	char err[RINGLB_ERRLEN];
	int64_t n = 0;
	int rc = ringlb_load(b->handle, 1, &dest, &n, err, sizeof err);
	if (rc != RINGLB_OK)
		return fail_rc(L, rc, err);
	lua_pushinteger(L, (lua_Integer)n);
	return 1;
}

/* b:loads(dests) -> { dest = number } */
static int l_loads(lua_State *L) {
	SELF(L, b, "loads");
	const char *buf[STACK_DESTS], **dests, **heap;
	int64_t load_buf[STACK_DESTS];
	int n = dest_array(L, 2, "loads", buf, &dests, &heap);
	if (n < 0)
		return 3;
	int64_t *loads = load_buf;
	if (n > STACK_DESTS) {
		loads = (int64_t *)malloc((size_t)n * sizeof *loads);
		if (loads == NULL) {
			free(heap);
			return fail(L, "ringlb: out of memory", "internal");
		}
	}
	char err[RINGLB_ERRLEN];
	int rc = ringlb_load(b->handle, n, dests, loads, err, sizeof err);
	free(heap);
	if (rc != RINGLB_OK) {
		if (loads != load_buf)
			free(loads);
		return fail_rc(L, rc, err);
	}
	lua_createtable(L, 0, n);
	for (int i = 0; i < n; i++) {
		lua_rawgeti(L, 2, i + 1);
		lua_pushinteger(L, (lua_Integer)loads[i]);
		lua_rawset(L, -3);
	}
	if (loads != load_buf)
		free(loads);
	return 1;
}

static int drain(lua_State *L, const char *op, int drained) {
	struct balancer_ud *b = to_balancer(L);
	if (b == NULL)
		return failf(L, "ringlb: %s: call it as balancer:%s(dest)", op, op);
	const char *dest;
	if (arg_string(L, 2, op, "destination", &dest))
		return 3;
	char err[RINGLB_ERRLEN];
	int rc = ringlb_drain(b->handle, dest, drained, err, sizeof err);
	if (rc != RINGLB_OK)
		return fail_rc(L, rc, err);
	lua_pushboolean(L, 1);
	return 1;
}

/* b:drain(dest) -> true */
static int l_drain(lua_State *L) { return drain(L, "drain", 1); }

/* b:undrain(dest) -> true */
static int l_undrain(lua_State *L) { return drain(L, "undrain", 0); }

/* b:reset(dest) -> number of holds dropped */
static int l_reset(lua_State *L) {
	SELF(L, b, "reset");
	const char *dest;
	if (arg_string(L, 2, "reset", "destination", &dest))
		return 3;
	char err[RINGLB_ERRLEN];
	int dropped = 0;
	int rc = ringlb_reset(b->handle, dest, &dropped, err, sizeof err);
	if (rc != RINGLB_OK)
		return fail_rc(L, rc, err);
	lua_pushinteger(L, dropped);
	return 1;
}

/* next_field cuts the tab- or newline-ended field at *p. */
static char *next_field(char **p) {
	char *s = *p;
	size_t n = strcspn(s, "\t\n");
	if (s[n] != '\0') {
		s[n] = '\0';
		*p = s + n + 1;
	} else {
		*p = s + n;
	}
	return s;
}

static void set_str(lua_State *L, const char *k, const char *v) {
	lua_pushstring(L, v);
	lua_setfield(L, -2, k);
}

static void set_num(lua_State *L, const char *k, const char *v) {
	lua_pushinteger(L, (lua_Integer)strtoll(v, NULL, 10));
	lua_setfield(L, -2, k);
}

/*
 * b:report("status") or b:report("holds" [, dests]) -> text: the tables
 * ringlbctl prints, for fs_cli.
 */
static int l_report(lua_State *L) {
	SELF(L, b, "report");
	const char *what = plain_string(L, 2);
	int kind;
	if (what != NULL && strcmp(what, "status") == 0)
		kind = RINGLB_REPORT_STATUS;
	else if (what != NULL && strcmp(what, "holds") == 0)
		kind = RINGLB_REPORT_HOLDS;
	else
		return failf(L, "ringlb: report: want \"status\" or \"holds\"");
	const char *buf[STACK_DESTS], **dests = buf, **heap = NULL;
	int n = 0;
	if (kind == RINGLB_REPORT_HOLDS && !lua_isnoneornil(L, 3)) {
		n = dest_array(L, 3, "report", buf, &dests, &heap);
		if (n < 0)
			return 3;
	}
	char err[RINGLB_ERRLEN];
	char *text = NULL;
	int rc = ringlb_report(b->handle, kind, n, dests, &text, err, sizeof err);
	free(heap);
	if (rc != RINGLB_OK)
		return fail_rc(L, rc, err);
	lua_pushstring(L, text);
	ringlb_free(text);
	return 1;
}

/* b:snapshot() -> { name, backend, destinations = {...}, holds = {...} } */
static int l_snapshot(lua_State *L) {
	SELF(L, b, "snapshot");
	char err[RINGLB_ERRLEN];
	char *text = NULL;
	int rc = ringlb_snapshot(b->handle, 0, &text, err, sizeof err);
	if (rc != RINGLB_OK)
		return fail_rc(L, rc, err);
	lua_newtable(L);
	int top = lua_gettop(L);
	lua_newtable(L);
	lua_setfield(L, top, "destinations");
	lua_newtable(L);
	lua_setfield(L, top, "holds");
	int nd = 0, nh = 0;
	char *p = text;
	while (*p != '\0') {
		char *kind = next_field(&p);
		if (strcmp(kind, "B") == 0) {
			lua_pushstring(L, next_field(&p));
			lua_setfield(L, top, "name");
			lua_pushstring(L, next_field(&p));
			lua_setfield(L, top, "backend");
		} else if (strcmp(kind, "D") == 0) {
			lua_getfield(L, top, "destinations");
			lua_newtable(L);
			set_str(L, "dest", next_field(&p));
			set_num(L, "active", next_field(&p));
			set_num(L, "capacity", next_field(&p));
			lua_pushboolean(L, strcmp(next_field(&p), "1") == 0);
			lua_setfield(L, -2, "drained");
			set_num(L, "started", next_field(&p));
			set_num(L, "last_hold", next_field(&p));
			set_num(L, "ringing", next_field(&p));
			set_num(L, "talking", next_field(&p));
			set_num(L, "answered", next_field(&p));
			set_num(L, "wrapup_until", next_field(&p));
			lua_rawseti(L, -2, ++nd);
			lua_pop(L, 1);
		} else if (strcmp(kind, "H") == 0) {
			lua_getfield(L, top, "holds");
			lua_newtable(L);
			set_str(L, "dest", next_field(&p));
			set_str(L, "call_id", next_field(&p));
			set_str(L, "node", next_field(&p));
			set_num(L, "start", next_field(&p));
			set_num(L, "expires", next_field(&p));
			set_str(L, "state", next_field(&p));
			lua_rawseti(L, -2, ++nh);
			lua_pop(L, 1);
		}
	}
	ringlb_free(text);
	return 1;
}

/* b:name() -> string */
static int l_name(lua_State *L) {
	SELF(L, b, "name");
	lua_pushstring(L, b->name);
	return 1;
}

static int l_tostring(lua_State *L) {
	struct balancer_ud *b = to_balancer(L);
	lua_pushfstring(L, "ringlb.balancer(%s)", b != NULL ? b->name : "?");
	return 1;
}

/*
 * Tables read into the structs of ringlb_lua.h. Their arrays come from a
 * pool freed once the call is done; strings are views of Lua strings kept
 * alive by the argument tables or, for numbers and booleans turned into
 * strings, by an anchor table on the stack. A reader fails by writing msg
 * and returning -1.
 */

struct pool {
	void **blocks;
	int n, cap;
};

static void *pool_alloc(struct pool *p, size_t n, size_t size) {
	if (n == 0)
		return NULL;
	if (p->n == p->cap) {
		int cap = p->cap ? 2 * p->cap : 16;
		void **b = (void **)realloc(p->blocks, (size_t)cap * sizeof *b);
		if (b == NULL)
			return NULL;
		p->blocks = b;
		p->cap = cap;
	}
	void *m = calloc(n, size);
	if (m != NULL)
		p->blocks[p->n++] = m;
	return m;
}

static void pool_free(struct pool *p) {
	for (int i = 0; i < p->n; i++)
		free(p->blocks[i]);
	free(p->blocks);
	p->blocks = NULL;
	p->n = p->cap = 0;
}

/* A reader's state: the pool, the anchor table's stack index and how many
 * strings it holds, and the message of the first error. */
struct reader {
	lua_State *L;
	struct pool pool;
	int anchor, nanchor;
	char msg[RINGLB_ERRLEN];
};

__attribute__((format(printf, 2, 3))) static int rfail(struct reader *r, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof r->msg, fmt, ap);
	va_end(ap);
	return -1;
}

static void *ralloc(struct reader *r, size_t n, size_t size) {
	void *m = pool_alloc(&r->pool, n, size);
	if (m == NULL && n > 0)
		rfail(r, "ringlb: out of memory");
	return m;
}

/* field_string reads t[k] (t an absolute index): a string without NUL
 * bytes, or NULL when nil and !required. */
static int field_string(struct reader *r, int t, const char *k, int required, const char **out, const char *what) {
	lua_getfield(r->L, t, k);
	int ty = lua_type(r->L, -1);
	*out = plain_string(r->L, -1);
	lua_pop(r->L, 1); /* the string stays referenced by t */
	if (*out != NULL || (ty == LUA_TNIL && !required))
		return 0;
	return rfail(r, "ringlb: ring: %s%s must be a string without NUL bytes, got %s", what, k,
	             ty == LUA_TSTRING ? "a string with a NUL byte" : lua_typename(r->L, ty));
}

/* field_number reads t[k], a number or nil (then 0). */
static int field_number(struct reader *r, int t, const char *k, double *out, const char *what) {
	lua_getfield(r->L, t, k);
	int ty = lua_type(r->L, -1);
	*out = ty == LUA_TNUMBER ? (double)lua_tonumber(r->L, -1) : 0;
	lua_pop(r->L, 1);
	if (ty == LUA_TNUMBER || ty == LUA_TNIL)
		return 0;
	return rfail(r, "ringlb: ring: %s%s must be a number, got %s", what, k, lua_typename(r->L, ty));
}

/* field_bool reads t[k], a boolean or nil (then 0). */
static int field_bool(struct reader *r, int t, const char *k, int *out, const char *what) {
	lua_getfield(r->L, t, k);
	int ty = lua_type(r->L, -1);
	*out = lua_toboolean(r->L, -1);
	lua_pop(r->L, 1);
	if (ty == LUA_TBOOLEAN || ty == LUA_TNIL)
		return 0;
	return rfail(r, "ringlb: ring: %s%s must be a boolean, got %s", what, k, lua_typename(r->L, ty));
}

static int var_cmp(const void *a, const void *b) {
	return strcmp(((const struct ringlb_var *)a)->key, ((const struct ringlb_var *)b)->key);
}

/* read_vars reads the table at t (absolute; nil: none) of variables,
 * names to strings, numbers or booleans, sorted by name: Lua tables have
 * no order, and the same table must give the same dial string every time. */
static int read_vars(struct reader *r, int t, const struct ringlb_var **out, int *n, const char *what) {
	*out = NULL;
	*n = 0;
	if (lua_type(r->L, t) == LUA_TNIL || lua_type(r->L, t) == LUA_TNONE)
		return 0;
	if (lua_type(r->L, t) != LUA_TTABLE)
		return rfail(r, "ringlb: ring: %s must be a table, got %s", what, lua_typename(r->L, lua_type(r->L, t)));
	int count = 0;
	lua_pushnil(r->L);
	while (lua_next(r->L, t) != 0) {
		count++;
		lua_pop(r->L, 1);
	}
	if (count > RINGLB_MAX_VARS)
		return rfail(r, "ringlb: ring: %s: %d variables (at most %d)", what, count, RINGLB_MAX_VARS);
	struct ringlb_var *v = (struct ringlb_var *)ralloc(r, (size_t)count, sizeof *v);
	if (count > 0 && v == NULL)
		return -1;
	int i = 0;
	lua_pushnil(r->L);
	while (lua_next(r->L, t) != 0) {
		const char *k = plain_string(r->L, -2);
		int pushed = k != NULL ? push_option_value(r->L, -1) : 0;
		if (pushed <= 0) {
			lua_pop(r->L, 2);
			if (pushed < 0)
				return rfail(r, "ringlb: ring: %s: variable %s has a NUL byte", what, k);
			return rfail(r, "ringlb: ring: %s must map names (strings without NUL bytes) to strings, numbers "
			                "or booleans", what);
		}
		v[i].key = k;
		v[i].value = lua_tostring(r->L, -1);
		lua_rawseti(r->L, r->anchor, ++r->nanchor); /* keeps the value string alive */
		lua_pop(r->L, 1);
		i++;
	}
	qsort(v, (size_t)count, sizeof *v, var_cmp);
	*out = v;
	*n = count;
	return 0;
}

/* read_legs reads the array at t of legs, each an endpoint or
 * {endpoint=, vars=}. */
static int read_legs(struct reader *r, int t, const struct ringlb_leg **out, int *n, const char *what) {
	*out = NULL;
	*n = 0;
	if (lua_type(r->L, t) == LUA_TNIL)
		return 0;
	if (lua_type(r->L, t) != LUA_TTABLE)
		return rfail(r, "ringlb: ring: %s must be an array, got %s", what, lua_typename(r->L, lua_type(r->L, t)));
	size_t count = ringlb_rawlen(r->L, t);
	if (count > RINGLB_MAX_LEGS)
		return rfail(r, "ringlb: ring: %s: %lu legs (at most %d)", what, (unsigned long)count, RINGLB_MAX_LEGS);
	struct ringlb_leg *legs = (struct ringlb_leg *)ralloc(r, count, sizeof *legs);
	if (count > 0 && legs == NULL)
		return -1;
	char sub[96];
	for (size_t i = 0; i < count; i++) {
		lua_rawgeti(r->L, t, (int)i + 1);
		int e = lua_gettop(r->L), rc = 0;
		snprintf(sub, sizeof sub, "%s[%lu].", what, (unsigned long)i + 1);
		if (lua_type(r->L, e) == LUA_TTABLE) {
			rc = field_string(r, e, "endpoint", 1, &legs[i].endpoint, sub);
			if (rc == 0) {
				lua_getfield(r->L, e, "vars");
				snprintf(sub, sizeof sub, "%s[%lu].vars", what, (unsigned long)i + 1);
				rc = read_vars(r, lua_gettop(r->L), &legs[i].vars, &legs[i].nvars, sub);
				lua_pop(r->L, 1);
			}
		} else if ((legs[i].endpoint = plain_string(r->L, e)) == NULL) {
			rc = rfail(r, "ringlb: ring: %s[%lu] must be an endpoint string or {endpoint=, vars=}, got %s", what,
			           (unsigned long)i + 1, lua_typename(r->L, lua_type(r->L, e)));
		}
		lua_pop(r->L, 1);
		if (rc != 0)
			return rc;
	}
	*out = legs;
	*n = (int)count;
	return 0;
}

/* read_members reads the members array at t: keys, or tables {key=,
 * timeout=, dnd=, legs=}. */
static int read_members(struct reader *r, int t, struct ringlb_ring_spec *spec) {
	if (lua_type(r->L, t) != LUA_TTABLE)
		return rfail(r, "ringlb: ring: members must be a non-empty array, got %s",
		             lua_typename(r->L, lua_type(r->L, t)));
	size_t count = ringlb_rawlen(r->L, t);
	if (count > RINGLB_MAX_MEMBERS)
		return rfail(r, "ringlb: ring: %lu members (at most %d)", (unsigned long)count, RINGLB_MAX_MEMBERS);
	struct ringlb_spec_member *ms = (struct ringlb_spec_member *)ralloc(r, count, sizeof *ms);
	if (count > 0 && ms == NULL)
		return -1;
	char what[64];
	for (size_t i = 0; i < count; i++) {
		lua_rawgeti(r->L, t, (int)i + 1);
		int e = lua_gettop(r->L), rc = 0;
		snprintf(what, sizeof what, "members[%lu].", (unsigned long)i + 1);
		if (lua_type(r->L, e) == LUA_TTABLE) {
			rc = field_string(r, e, "key", 1, &ms[i].key, what);
			if (rc == 0)
				rc = field_number(r, e, "timeout", &ms[i].timeout, what);
			if (rc == 0)
				rc = field_bool(r, e, "dnd", &ms[i].dnd, what);
			if (rc == 0) {
				lua_getfield(r->L, e, "legs");
				snprintf(what, sizeof what, "members[%lu].legs", (unsigned long)i + 1);
				rc = read_legs(r, lua_gettop(r->L), &ms[i].legs, &ms[i].nlegs, what);
				lua_pop(r->L, 1);
			}
		} else if ((ms[i].key = plain_string(r->L, e)) == NULL) {
			rc = rfail(r, "ringlb: ring: members[%lu] must be a key string or {key=, timeout=, legs=, dnd=}, got %s",
			           (unsigned long)i + 1, lua_typename(r->L, lua_type(r->L, e)));
		}
		lua_pop(r->L, 1);
		if (rc != 0)
			return rc;
	}
	spec->members = ms;
	spec->nmembers = (int)count;
	return 0;
}

/* push_vars pushes a table {key = value} of n variables. */
static void push_vars(lua_State *L, const struct ringlb_var *v, int n) {
	lua_createtable(L, 0, n);
	for (int i = 0; i < n; i++) {
		lua_pushstring(L, v[i].value);
		lua_setfield(L, -2, v[i].key);
	}
}

/* push_plan pushes the plan as the Lua table ring.lua dispatches on. */
static void push_plan(lua_State *L, const struct ringlb_plan *p) {
	lua_createtable(L, 0, 8);
	set_str(L, "mode", p->mode);
	set_str(L, "on_backend_error", p->on_backend_error);
	if (p->balancer != NULL)
		set_str(L, "balancer", p->balancer);
	lua_pushinteger(L, p->timeout);
	lua_setfield(L, -2, "timeout");
	lua_pushnumber(L, (lua_Number)p->deadline);
	lua_setfield(L, -2, "deadline");
	push_vars(L, p->vars, p->nvars);
	lua_setfield(L, -2, "vars");
	lua_createtable(L, p->nmembers, 0);
	for (int i = 0; i < p->nmembers; i++) {
		const struct ringlb_plan_member *m = &p->members[i];
		lua_createtable(L, 0, 4);
		set_str(L, "key", m->key);
		lua_pushinteger(L, m->timeout);
		lua_setfield(L, -2, "timeout");
		lua_pushinteger(L, m->index + 1);
		lua_setfield(L, -2, "index");
		lua_createtable(L, m->nlegs, 0);
		for (int j = 0; j < m->nlegs; j++) {
			lua_createtable(L, 0, 2);
			set_str(L, "endpoint", m->legs[j].endpoint);
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

/*
 * ringlb.ring_plan(spec) -> plan | nil, err, code
 * spec: {mode=, balancer=, no_holds=, timeout=, deadline=, on_backend_error=,
 * vars=, members=}; the plan (docs/lua-api.md) is ringlb's: the Go package
 * ring holds every rule of a valid ring.
 */
static int l_ring_plan(lua_State *L) {
	if (lua_type(L, 1) != LUA_TTABLE)
		return failf(L, "ringlb: ring: the spec must be a table, got %s", lua_typename(L, lua_type(L, 1)));
	lua_settop(L, 1);
	lua_newtable(L); /* 2: anchor */
	struct reader r = {.L = L, .anchor = 2};
	struct ringlb_ring_spec spec = {0};
	int rc = 0;
	if (field_string(&r, 1, "mode", 0, &spec.mode, "") || field_string(&r, 1, "balancer", 0, &spec.balancer, "") ||
	    field_string(&r, 1, "on_backend_error", 0, &spec.on_backend_error, "") ||
	    field_bool(&r, 1, "no_holds", &spec.no_holds, "") || field_number(&r, 1, "timeout", &spec.timeout, "") ||
	    field_number(&r, 1, "deadline", &spec.deadline, ""))
		rc = -1;
	if (rc == 0 && spec.timeout == 0) {
		/* 0 is the default's code in the spec, not a timeout */
		lua_getfield(L, 1, "timeout");
		if (!lua_isnil(L, -1))
			rc = rfail(&r, "ringlb: ring: timeout must be a number of seconds from 1 to 3600");
		lua_pop(L, 1);
	}
	if (rc == 0) {
		lua_getfield(L, 1, "vars");
		rc = read_vars(&r, lua_gettop(L), &spec.vars, &spec.nvars, "vars");
		lua_pop(L, 1);
	}
	if (rc == 0) {
		lua_getfield(L, 1, "members");
		rc = read_members(&r, lua_gettop(L), &spec);
		lua_pop(L, 1);
	}
	if (rc != 0) {
		pool_free(&r.pool);
		return fail(L, r.msg, "invalid");
	}
	char err[RINGLB_ERRLEN];
	struct ringlb_plan *plan = NULL;
	int code = ringlb_ring_plan(&spec, &plan, err, sizeof err);
	pool_free(&r.pool);
	if (code != RINGLB_OK)
		return fail_rc(L, code, err);
	push_plan(L, plan);
	ringlb_free(plan);
	return 1;
}

/*
 * ringlb.dialstring(legs, sep [, vars [, leg_timeout [, tag]]]) -> string
 * sep is "," or "parallel" (ring at once), "|" or "sequential" (in turn); a
 * leg is an endpoint or {endpoint=, vars=}.
 */
static int l_dialstring(lua_State *L) {
	const char *sep_s;
	if (arg_string(L, 2, "dialstring", "separator", &sep_s))
		return 3;
	struct ringlb_dial d = {0};
	if (strcmp(sep_s, ",") == 0 || strcmp(sep_s, "parallel") == 0)
		d.sep = 0;
	else if (strcmp(sep_s, "|") == 0 || strcmp(sep_s, "sequential") == 0)
		d.sep = 1;
	else
		return failf(L, "ringlb: dialstring: separator %s (want \",\" or \"|\")", sep_s);
	if (!lua_isnoneornil(L, 4)) {
		if (lua_type(L, 4) != LUA_TNUMBER)
			return failf(L, "ringlb: dialstring: leg_timeout must be a number, got %s",
			             lua_typename(L, lua_type(L, 4)));
		lua_Number tn = lua_tonumber(L, 4);
		if (!(tn >= 0 && tn <= RINGLB_MAX_LEG_TIMEOUT)) /* NaN too */
			return failf(L, "ringlb: dialstring: leg_timeout %g out of range 0..%d", (double)tn,
			             RINGLB_MAX_LEG_TIMEOUT);
		d.leg_timeout = (int)tn;
	}
	if (!lua_isnoneornil(L, 5) && arg_string(L, 5, "dialstring", "tag", &d.tag))
		return 3;
	lua_settop(L, 5);
	lua_newtable(L); /* 6: anchor */
	struct reader r = {.L = L, .anchor = 6};
	if (lua_type(L, 1) != LUA_TTABLE) {
		rfail(&r, "ringlb: dialstring: legs must be an array of endpoints, got %s", lua_typename(L, lua_type(L, 1)));
	} else if (read_legs(&r, 1, &d.legs, &d.nlegs, "legs") == 0) {
		read_vars(&r, 3, &d.vars, &d.nvars, "vars");
	}
	if (r.msg[0] != '\0') {
		pool_free(&r.pool);
		return fail(L, r.msg, "invalid");
	}
	char err[RINGLB_ERRLEN];
	char *out = NULL;
	int rc = ringlb_dialstring(&d, &out, err, sizeof err);
	pool_free(&r.pool);
	if (rc != RINGLB_OK)
		return fail_rc(L, rc, err);
	lua_pushstring(L, out);
	ringlb_free(out);
	return 1;
}

/*
 * ringlb.metrics([addr]) -> the address it listens on | nil, err, code
 * Starts the process-wide Prometheus endpoint (default 127.0.0.1:9361).
 */
static int l_metrics(lua_State *L) {
	const char *addr = NULL;
	if (!lua_isnoneornil(L, 1) && arg_string(L, 1, "metrics", "address", &addr))
		return 3;
	char err[RINGLB_ERRLEN], bound[128];
	int rc = ringlb_metrics(addr, bound, sizeof bound, err, sizeof err);
	if (rc != RINGLB_OK)
		return fail_rc(L, rc, err);
	lua_pushstring(L, bound);
	return 1;
}

/*
 * The ring-group rules of the Go package ring, for lua/ringlb/ring.lua.
 */

/* push_picked pushes the array of dests[idx[0..n)]. */
static void push_picked(lua_State *L, const char **dests, const int *idx, int n) {
	lua_newtable(L);
	for (int i = 0; i < n; i++) {
		lua_pushstring(L, dests[idx[i]]);
		lua_rawseti(L, -2, i + 1);
	}
}

/*
 * ringlb.ring_check(mode, dests [, timeout [, on_backend_error [, balancer_name]]])
 *   -> members, timeout_seconds | nil, err, code
 */
static int l_ring_check(lua_State *L) {
	const char *mode, *policy = NULL, *bname = NULL;
	if (arg_string(L, 1, "ring", "mode", &mode))
		return 3;
	double timeout = 0;
	if (!lua_isnoneornil(L, 3)) {
		if (lua_type(L, 3) != LUA_TNUMBER)
			return failf(L, "ringlb: ring: timeout must be a number of seconds, got %s",
			             lua_typename(L, lua_type(L, 3)));
		timeout = (double)lua_tonumber(L, 3);
		if (timeout == 0) /* 0 is the default's code at the C ABI, not a timeout */
			return failf(L, "ringlb: ring: timeout must be a number of seconds from 1 to 3600");
	}
	if (!lua_isnoneornil(L, 4) && arg_string(L, 4, "ring", "on_backend_error", &policy))
		return 3;
	if (!lua_isnoneornil(L, 5) && arg_string(L, 5, "ring", "balancer name", &bname))
		return 3;
	lua_settop(L, 5);
	const char *buf[STACK_DESTS], **dests, **heap;
	int n = dest_array(L, 2, "ring", buf, &dests, &heap);
	if (n < 0)
		return 3;
	int ibuf[STACK_DESTS], *idx = ibuf;
	if (n > STACK_DESTS && (idx = (int *)malloc((size_t)n * sizeof *idx)) == NULL) {
		free(heap);
		return fail(L, "ringlb: out of memory", "internal");
	}
	char err[RINGLB_ERRLEN];
	int count = 0, timeout_s = 0;
	int rc = ringlb_ring_check(mode, n, dests, timeout, policy, bname, idx, &count, &timeout_s, err,
	                           sizeof err);
	if (rc == RINGLB_OK) {
		push_picked(L, dests, idx, count);
		lua_pushinteger(L, timeout_s);
	}
	free(heap);
	if (idx != ibuf)
		free(idx);
	return rc == RINGLB_OK ? 2 : fail_rc(L, rc, err);
}

/* ringlb.ring_reason(causes) -> reason, last cause ("NONE" without any) */
static int l_ring_reason(lua_State *L) {
	const char *buf[STACK_DESTS], **causes, **heap;
	lua_settop(L, 1);
	int n = dest_array(L, 1, "ring_reason", buf, &causes, &heap);
	if (n < 0)
		return 3;
	char err[RINGLB_ERRLEN], reason[16];
	int last = -1;
	int rc = ringlb_ring_reason(n, causes, reason, sizeof reason, &last, err, sizeof err);
	if (rc == RINGLB_OK) {
		lua_pushstring(L, reason);
		lua_pushstring(L, last >= 0 ? causes[last] : "NONE");
	}
	free(heap);
	return rc == RINGLB_OK ? 2 : fail_rc(L, rc, err);
}

/*
 * b:pick(mode, remaining, call_id) -> dest or false, skipped | nil, err, code
 * dest is false when no member has room; skipped lists the members passed
 * over as full or drained.
 */
static int l_pick(lua_State *L) {
	SELF(L, b, "pick");
	const char *mode, *call_id;
	if (arg_string(L, 2, "pick", "mode", &mode) || arg_string(L, 4, "pick", "call id", &call_id))
		return 3;
	lua_settop(L, 4);
	const char *buf[STACK_DESTS], **dests, **heap;
	int n = dest_array(L, 3, "pick", buf, &dests, &heap);
	if (n < 0)
		return 3;
	int fbuf[STACK_DESTS], *skipped = fbuf;
	if (n > STACK_DESTS && (skipped = (int *)malloc((size_t)n * sizeof *skipped)) == NULL) {
		free(heap);
		return fail(L, "ringlb: out of memory", "internal");
	}
	char err[RINGLB_ERRLEN];
	int chosen = -1;
	int rc = ringlb_ring_pick(b->handle, mode, n, dests, call_id, &chosen, skipped, err, sizeof err);
	if (rc == RINGLB_OK) {
		if (chosen >= 0)
			lua_pushstring(L, dests[chosen]);
		else
			lua_pushboolean(L, 0);
		lua_newtable(L);
		for (int i = 0, k = 0; i < n; i++) {
			if (skipped[i]) {
				lua_pushstring(L, dests[i]);
				lua_rawseti(L, -2, ++k);
			}
		}
	}
	free(heap);
	if (skipped != fbuf)
		free(skipped);
	return rc == RINGLB_OK ? 2 : fail_rc(L, rc, err);
}

/* push_members pushes the array of the members remaining[i] (the table at
 * stack index remaining) for which flags[i] is set. */
static void push_members(lua_State *L, int remaining, const int *flags, int n) {
	lua_newtable(L);
	for (int i = 0, k = 0; i < n; i++) {
		if (flags[i]) {
			lua_rawgeti(L, remaining, i + 1);
			lua_rawseti(L, -2, ++k);
		}
	}
}

/*
 * ringlb.ring_turn(mode, remaining, call_id [, left [, b]])
 *   -> member, seconds, skipped | false, stop, skipped | nil, err, code, skipped
 * remaining are plan members ({key=, timeout=}) not tried yet; left the
 * seconds before the ring's deadline (nil: none); b the balancer that holds
 * them (nil: list order). skipped are the members passed over as full.
 */
static int l_ring_turn(lua_State *L) {
	const char *mode, *call_id;
	if (arg_string(L, 1, "ring_turn", "mode", &mode) || arg_string(L, 3, "ring_turn", "call id", &call_id))
		return 3;
	double left = HUGE_VAL;
	if (!lua_isnoneornil(L, 4)) {
		if (lua_type(L, 4) != LUA_TNUMBER)
			return failf(L, "ringlb: ring_turn: left must be a number of seconds, got %s",
			             lua_typename(L, lua_type(L, 4)));
		left = (double)lua_tonumber(L, 4);
	}
	uint64_t handle = 0;
	if (!lua_isnoneornil(L, 5)) {
		struct balancer_ud *b = to_balancer_at(L, 5);
		if (b == NULL)
			return failf(L, "ringlb: ring_turn: b must be a ringlb balancer");
		handle = b->handle;
	}
	if (lua_type(L, 2) != LUA_TTABLE)
		return failf(L, "ringlb: ring_turn: remaining must be an array of members, got %s",
		             lua_typename(L, lua_type(L, 2)));
	lua_settop(L, 5);
	size_t n = ringlb_rawlen(L, 2);
	if (n > RINGLB_MAX_MEMBERS)
		return failf(L, "ringlb: ring_turn: %lu members (at most %d)", (unsigned long)n, RINGLB_MAX_MEMBERS);
	const char *keys[RINGLB_MAX_MEMBERS];
	int timeouts[RINGLB_MAX_MEMBERS], skipped[RINGLB_MAX_MEMBERS];
	for (size_t i = 0; i < n; i++) {
		lua_rawgeti(L, 2, (int)i + 1);
		int ok = lua_type(L, -1) == LUA_TTABLE;
		if (ok) {
			lua_getfield(L, -1, "key");
			keys[i] = plain_string(L, -1); /* referenced by the member table */
			lua_getfield(L, -2, "timeout");
			ok = keys[i] != NULL && lua_type(L, -1) == LUA_TNUMBER;
			timeouts[i] = ok ? (int)lua_tonumber(L, -1) : 0;
			lua_pop(L, 2);
		}
		lua_pop(L, 1);
		if (!ok)
			return failf(L, "ringlb: ring_turn: remaining[%lu] is not a plan member {key=, timeout=}",
			             (unsigned long)i + 1);
	}
	char err[RINGLB_ERRLEN], stop[16];
	int chosen = -1, seconds = 0;
	int rc = ringlb_ring_turn(handle, mode, (int)n, keys, timeouts, call_id, left, &chosen, &seconds, skipped, stop,
	                          sizeof stop, err, sizeof err);
	if (rc != RINGLB_OK) {
		fail_rc(L, rc, err);
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
	return 3;
}

/*
 * ringlb.ring_result{causes=, full=, dnd=, stop=} -> result, detail, summary
 * How a ring that got no answer ended: ringlb names it from the hangup
 * causes of its attempts, the members passed over as full and for
 * do-not-disturb, and why it stopped.
 */
static int l_ring_result(lua_State *L) {
	if (lua_type(L, 1) != LUA_TTABLE)
		return failf(L, "ringlb: ring_result: want a table {causes=, full=, dnd=, stop=}, got %s",
		             lua_typename(L, lua_type(L, 1)));
	lua_settop(L, 1);
	struct reader r = {.L = L};
	double full = 0, dnd = 0;
	const char *stop = NULL;
	if (field_number(&r, 1, "full", &full, "") || field_number(&r, 1, "dnd", &dnd, "") ||
	    field_string(&r, 1, "stop", 1, &stop, ""))
		return fail(L, r.msg, "invalid");
	lua_getfield(L, 1, "causes"); /* 2 */
	const char *buf[STACK_DESTS], **causes, **heap;
	int n = dest_array(L, 2, "ring_result", buf, &causes, &heap);
	if (n < 0)
		return 3;
	char err[RINGLB_ERRLEN], result[16];
	char *detail = NULL, *summary = NULL;
	int rc = ringlb_ring_result(n, causes, (int)full, (int)dnd, stop, result, sizeof result, &detail, &summary, err,
	                            sizeof err);
	free(heap);
	if (rc != RINGLB_OK) {
		ringlb_free(detail);
		ringlb_free(summary);
		return fail_rc(L, rc, err);
	}
	lua_pushstring(L, result);
	lua_pushstring(L, detail);
	lua_pushstring(L, summary);
	ringlb_free(detail);
	ringlb_free(summary);
	return 3;
}

/*
 * b:act(action, dests) -> lines | nil, err, code, lines
 * drain, undrain or reset each of dests, and the lines ringlbctl prints
 * about each (of those done before an error, after it).
 */
static int l_act(lua_State *L) {
	SELF(L, b, "act");
	const char *action;
	if (arg_string(L, 2, "act", "action", &action))
		return 3;
	lua_settop(L, 3);
	const char *buf[STACK_DESTS], **dests, **heap;
	int n = dest_array(L, 3, "act", buf, &dests, &heap);
	if (n < 0)
		return 3;
	char err[RINGLB_ERRLEN];
	char *text = NULL;
	int rc = ringlb_act(b->handle, action, n, dests, &text, err, sizeof err);
	free(heap);
	int ret = 1;
	if (rc != RINGLB_OK)
		ret = fail_rc(L, rc, err) + 1;
	lua_newtable(L);
	int k = 0;
	for (char *p = text; p != NULL && *p != '\0';) {
		lua_pushstring(L, next_field(&p));
		lua_rawseti(L, -2, ++k);
	}
	ringlb_free(text);
	return ret;
}

/* b:fallback() -> true: counts a ring that went on without the balancer. */
static int l_fallback(lua_State *L) {
	SELF(L, b, "fallback");
	char err[RINGLB_ERRLEN];
	int rc = ringlb_fallback(b->handle, err, sizeof err);
	if (rc != RINGLB_OK)
		return fail_rc(L, rc, err);
	lua_pushboolean(L, 1);
	return 1;
}

/*
 * b:hold_all(members, call_id) -> states [, err, "backend"] | nil, err, code
 * states[i] is "held", "skipped" (full or drained) or "unheld" (ring it
 * without a hold: the backend failed, and then err and "backend" follow).
 */
static int l_hold_all(lua_State *L) {
	SELF(L, b, "hold_all");
	const char *call_id;
	if (arg_string(L, 3, "hold_all", "call id", &call_id))
		return 3;
	lua_settop(L, 3);
	const char *buf[STACK_DESTS], **dests, **heap;
	int n = dest_array(L, 2, "hold_all", buf, &dests, &heap);
	if (n < 0)
		return 3;
	int sbuf[STACK_DESTS], *states = sbuf;
	if (n > STACK_DESTS && (states = (int *)malloc((size_t)n * sizeof *states)) == NULL) {
		free(heap);
		return fail(L, "ringlb: out of memory", "internal");
	}
	char err[RINGLB_ERRLEN];
	int rc = ringlb_ring_hold_all(b->handle, n, dests, call_id, states, err, sizeof err);
	free(heap);
	int ret;
	if (rc == RINGLB_OK || rc == RINGLB_EBACKEND) {
		static const char *const names[] = {"held", "skipped", "unheld"};
		lua_newtable(L);
		for (int i = 0; i < n; i++) {
			int st = states[i] >= 0 && states[i] <= 2 ? states[i] : 2;
			lua_pushstring(L, names[st]);
			lua_rawseti(L, -2, i + 1);
		}
		ret = 1;
		if (rc == RINGLB_EBACKEND) {
			lua_pushstring(L, err);
			lua_pushstring(L, "backend");
			ret = 3;
		}
	} else {
		ret = fail_rc(L, rc, err);
	}
	if (states != sbuf)
		free(states);
	return ret;
}

static const luaL_Reg balancer_methods[] = {
    {"order", l_order},     {"next", l_next},       {"acquire", l_acquire}, {"release", l_release},
    {"answered", l_answered}, {"count", l_count},
    {"load", l_load},       {"loads", l_loads},     {"drain", l_drain},     {"undrain", l_undrain},
    {"reset", l_reset},     {"snapshot", l_snapshot}, {"report", l_report},
    {"pick", l_pick},       {"hold_all", l_hold_all}, {"fallback", l_fallback}, {"name", l_name},
    {"act", l_act},         {NULL, NULL}};

static const luaL_Reg module_functions[] = {
    {"open", l_open}, {"get", l_get}, {"list", l_list}, {"dialstring", l_dialstring},
    {"ring_check", l_ring_check}, {"ring_reason", l_ring_reason}, {"ring_plan", l_ring_plan},
    {"ring_turn", l_ring_turn}, {"ring_result", l_ring_result}, {"metrics", l_metrics},
    {"_noop", l_noop}, {NULL, NULL}};

static void set_funcs(lua_State *L, const luaL_Reg *l) {
#if LUA_VERSION_NUM < 502
	luaL_register(L, NULL, l);
#else
	luaL_setfuncs(L, l, 0);
#endif
}

/* luaopen_ringlb runs once per lua_State, so once per FreeSWITCH call: it
 * only builds tables, and never enters Go. */
int luaopen_ringlb(lua_State *L) {
	ringlb_restore_loader(); /* mod_lua opens the module right after loading it */
	if (luaL_newmetatable(L, BALANCER_MT)) {
		lua_newtable(L);
		set_funcs(L, balancer_methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, l_tostring);
		lua_setfield(L, -2, "__tostring");
		lua_pushstring(L, "ringlb.balancer");
		lua_setfield(L, -2, "__name");
		lua_pushstring(L, "ringlb.balancer");
		lua_setfield(L, -2, "__metatable");
	}
	lua_pop(L, 1);
	lua_newtable(L);
	set_funcs(L, module_functions);
	lua_pushstring(L, "ringlb");
	lua_setfield(L, -2, "_NAME");
	lua_pushstring(L, RINGLB_VERSION);
	lua_setfield(L, -2, "_VERSION");
	return 1;
}
