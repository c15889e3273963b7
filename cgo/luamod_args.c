//go:build lua51 || lua52 || lua53 || lua54 || luajit

/*
 * luamod_args.c - how the Lua module's functions read their arguments and
 * return their errors (luamod.h).
 */
#include <stdio.h>
#include <string.h>

#include "luamod.h"

/* raised turns the error on the stack top, raised by the body of name
 * (status rc of lua_pcall), into nil, message, code. */
static int raised(lua_State *L, int rc, const char *name) {
	if (rc == LUA_ERRMEM) {
		lua_pushnil(L);
		lua_pushliteral(L, "ringlb: not enough memory");
		lua_pushliteral(L, "internal");
		return 3;
	}
	const char *msg = lua_tostring(L, -1);
	if (msg == NULL)
		msg = "error";
	/* luaL_argerror names the function as Lua sees it, "?" inside
	 * lua_pcall: the message names it instead. */
	char text[RINGLB_ERRLEN];
	const char *to = strncmp(msg, "bad argument #", 14) == 0 ? strstr(msg, " to '") : NULL;
	const char *after = to != NULL ? strstr(to + 5, "' ") : NULL;
	if (after != NULL)
		snprintf(text, sizeof text, "ringlb: %s: %.*s%s", name, (int)(to - msg), msg, after + 1);
	else
		snprintf(text, sizeof text, "ringlb: %s: %s", name, msg);
	lua_pushnil(L);
	lua_pushstring(L, text);
	lua_pushliteral(L, "invalid");
	return 3;
}

/* protect runs the body (upvalue 2) of the function called name (upvalue
 * 1) in protected mode, with the arguments it was given. */
static int protect(lua_State *L) {
	int n = lua_gettop(L);
	lua_pushvalue(L, lua_upvalueindex(2));
	lua_insert(L, 1);
	int rc = lua_pcall(L, n, LUA_MULTRET, 0);
	if (rc != 0)
		return raised(L, rc, lua_tostring(L, lua_upvalueindex(1)));
	return lua_gettop(L);
}

void lm_register(lua_State *L, const luaL_Reg *l) {
	for (; l->name != NULL; l++) {
		lua_pushstring(L, l->name);
		lua_pushcfunction(L, l->func);
		lua_pushcclosure(L, protect, 2);
		lua_setfield(L, -2, l->name);
	}
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

int lm_fail(lua_State *L, int rc, const char *err) {
	lua_pushnil(L);
	lua_pushstring(L, err[0] != '\0' ? err : "ringlb: error");
	lua_pushstring(L, code_name(rc));
	return 3;
}

/*
 * lm_checkself: the metatable alone does not prove one of our values, since the debug
 * library can give ours to any userdata, whose memory would then be read
 * past its end. So the value must also be a full userdata of our size
 * carrying our magic number.
 */
void *lm_checkself(lua_State *L, const char *mt, size_t size, uint64_t magic, const char *what, const char *method) {
	uint64_t *u = NULL;
	if (lua_type(L, 1) == LUA_TUSERDATA && lm_rawlen(L, 1) == size && lua_getmetatable(L, 1)) {
		luaL_getmetatable(L, mt);
		if (lua_rawequal(L, -1, -2))
			u = (uint64_t *)lua_touserdata(L, 1);
		lua_pop(L, 2);
	}
	if (u == NULL || *u != magic)
		luaL_error(L, "call it as %s:%s(...)", what, method);
	return u;
}

struct balancer_ud *lm_self(lua_State *L, const char *method) {
	return (struct balancer_ud *)lm_checkself(L, BALANCER_MT, sizeof(struct balancer_ud), BALANCER_MAGIC, "balancer",
	                                          method);
}

void lm_metatable(lua_State *L, const char *name, const luaL_Reg *const *methods, const char *meta,
                  lua_CFunction meta_fn) {
	if (luaL_newmetatable(L, name)) {
		lua_newtable(L);
		for (; *methods != NULL; methods++)
			lm_register(L, *methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, meta_fn);
		lua_setfield(L, -2, meta);
		lua_pushstring(L, name);
		lua_setfield(L, -2, "__name");
		lua_pushstring(L, name);
		lua_setfield(L, -2, "__metatable");
	}
	lua_pop(L, 1);
}

void lm_push_balancer(lua_State *L, uint64_t h, const char *name) {
	struct balancer_ud *b = (struct balancer_ud *)lua_newuserdata(L, sizeof *b);
	b->magic = BALANCER_MAGIC;
	b->handle = h;
	strncpy(b->name, name, sizeof b->name - 1);
	b->name[sizeof b->name - 1] = '\0';
	luaL_getmetatable(L, BALANCER_MT);
	lua_setmetatable(L, -2);
}

const char *lm_plain(lua_State *L, int idx) {
	size_t len;
	if (lua_type(L, idx) != LUA_TSTRING)
		return NULL;
	const char *s = lua_tolstring(L, idx, &len);
	return strlen(s) == len ? s : NULL;
}

const char *lm_string(lua_State *L, int idx) {
	luaL_checktype(L, idx, LUA_TSTRING);
	const char *s = lm_plain(L, idx);
	if (s == NULL)
		luaL_argerror(L, idx, "a string with a NUL byte");
	return s;
}

const char *lm_optstring(lua_State *L, int idx) { return lua_isnoneornil(L, idx) ? NULL : lm_string(L, idx); }

/* room returns room for n elements of size bytes: stack (stacksize bytes)
 * when they fit, else a userdata pushed on the Lua stack. */
static void *room(lua_State *L, void *stack, size_t stacksize, size_t n, size_t size) {
	return n * size <= stacksize ? stack : lua_newuserdata(L, n * size);
}

void lm_strings(lua_State *L, int idx, int max, struct lm_strings *s, size_t out_size) {
	luaL_checktype(L, idx, LUA_TTABLE);
	size_t n = lm_rawlen(L, idx);
	if (n > (size_t)max)
		luaL_error(L, "%d strings in argument #%d (at most %d)", (int)n, idx, max);
	s->n = (int)n;
	s->v = (const char **)room(L, s->stack, sizeof s->stack, n, sizeof *s->v);
	s->out = out_size > 0 ? room(L, s->out_stack, sizeof s->out_stack, n, out_size) : NULL;
	for (int i = 0; i < s->n; i++) {
		lua_rawgeti(L, idx, i + 1);
		s->v[i] = lm_plain(L, -1);
		if (s->v[i] == NULL)
			luaL_error(L, "item %d of argument #%d is %s; want a string without NUL bytes", i + 1, idx,
			           lua_type(L, -1) == LUA_TSTRING ? "a string with a NUL byte" : luaL_typename(L, -1));
		lua_pop(L, 1);
	}
}

void lm_push_picked(lua_State *L, int arg, const int *idx, int n) {
	lua_createtable(L, n, 0);
	for (int i = 0; i < n; i++) {
		lua_rawgeti(L, arg, idx[i] + 1);
		lua_rawseti(L, -2, i + 1);
	}
}

/* pair_value pushes the value at idx as a string, or raises for the pair
 * name, a what. */
static void pair_value(lua_State *L, int idx, const char *what, const char *name) {
	switch (lua_type(L, idx)) {
	case LUA_TSTRING:
		if (lm_plain(L, idx) == NULL) /* the value is not shown: it may be a url's password */
			luaL_error(L, "%s %s has a NUL byte", what, name);
		lua_pushvalue(L, idx);
		return;
	case LUA_TNUMBER:
		lua_pushvalue(L, idx);
		lua_tostring(L, -1); /* converts the copy only */
		return;
	case LUA_TBOOLEAN:
		lua_pushstring(L, lua_toboolean(L, idx) ? "true" : "false");
		return;
	}
	luaL_error(L, "%s %s must be a string, number or boolean, got %s", what, name, luaL_typename(L, idx));
}

static int is_per_dest(const char *const *per_dest, const char *name) {
	for (; per_dest != NULL && *per_dest != NULL; per_dest++)
		if (strcmp(*per_dest, name) == 0)
			return 1;
	return 0;
}

/* add_pair appends the key and value on the stack top (popped) to the
 * anchor table at anchor, as pair n + 1, and returns n + 1. */
static int add_pair(lua_State *L, int anchor, int n, int max, const char *what) {
	if (n >= max)
		luaL_error(L, "more than %d %ss", max, what);
	lua_rawseti(L, anchor, 2 * n + 2);
	lua_rawseti(L, anchor, 2 * n + 1);
	return n + 1;
}

void lm_pairs(lua_State *L, int idx, int max, const char *what, const char *const *per_dest, struct lm_pairs *p) {
	p->n = 0;
	p->keys = p->values = NULL;
	if (lua_isnoneornil(L, idx))
		return;
	luaL_checktype(L, idx, LUA_TTABLE);
	lua_newtable(L);
	int anchor = lua_gettop(L);
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) { /* name -2, value -1 */
		const char *name = lm_plain(L, -2);
		if (name == NULL)
			luaL_error(L, "%s names must be strings without NUL bytes, got %s", what, luaL_typename(L, -2));
		if (lua_type(L, -1) == LUA_TTABLE && is_per_dest(per_dest, name)) {
			int t = lua_gettop(L);
			lua_pushnil(L);
			while (lua_next(L, t) != 0) {
				const char *dest = lm_plain(L, -2);
				if (dest == NULL)
					luaL_error(L, "%s keys must be destination strings, got %s", name, luaL_typename(L, -2));
				if (lua_type(L, -1) != LUA_TNUMBER)
					luaL_error(L, "%s of %s must be a number", name, dest);
				lua_pushfstring(L, "%s:%s", name, dest);
				pair_value(L, -2, what, name);
				p->n = add_pair(L, anchor, p->n, max, what);
				lua_pop(L, 1);
			}
		} else {
			lua_pushvalue(L, -2);
			pair_value(L, -2, what, name);
			p->n = add_pair(L, anchor, p->n, max, what);
		}
		lua_pop(L, 1);
	}
	const char **kv = (const char **)lua_newuserdata(L, 2 * (size_t)p->n * sizeof *kv + 1);
	p->keys = kv;
	p->values = kv + p->n;
	for (int i = 0; i < p->n; i++) {
		lua_rawgeti(L, anchor, 2 * i + 1);
		p->keys[i] = lua_tostring(L, -1);
		lua_rawgeti(L, anchor, 2 * i + 2);
		p->values[i] = lua_tostring(L, -1);
		lua_pop(L, 2); /* both strings stay the anchor table's */
	}
}

void lm_push_counts(lua_State *L, int n, const char *const *names, const double *values) {
	lua_createtable(L, 0, n);
	for (int i = 0; i < n; i++) {
		lua_pushnumber(L, (lua_Number)values[i]);
		lua_setfield(L, -2, names[i]);
	}
}
