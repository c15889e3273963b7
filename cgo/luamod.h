/*
 * luamod.h - what the files of the Lua module share: luamod.c (the module,
 * open, get, list, metrics), luamod_balancer.c (the balancer's methods),
 * luamod_ring.c (the ring helper's functions), luamod_args.c (reading
 * arguments, returning errors), luamod_chunks.c (ringlb's Lua modules kept
 * compiled), luamod_kept.c (ringlb's answers kept) and luamod_events.c (the
 * switch's channel events, for the tracker).
 *
 * Every function the module registers runs inside lua_pcall (lm_register):
 * its body checks its arguments with luaL_check* and raises on bad ones,
 * before it calls into ringlb; the wrapper returns a raised error as
 * nil, message, "invalid", so no error reaches the script. Go is entered
 * only through the ringlb_* functions, which return before the body goes
 * on, so nothing raised ever crosses a Go frame. Memory a body needs for
 * a call lives on its stack or in a Lua userdata (luamod_args.c's room), and
 * a kept plan it reads is held by a reference that a userdata's __gc lets
 * go, so a raised error leaks nothing.
 */
#ifndef RINGLB_LUAMOD_H
#define RINGLB_LUAMOD_H

#include <lauxlib.h>
#include <lua.h>
#include <stdint.h>

#include "ringlb.h"
#include "ringlb_call.h"

#define LM_HIDDEN __attribute__((visibility("hidden")))

#define BALANCER_MT "ringlb.balancer"

/* LM_STACK is how many elements of an argument or result array a body
 * keeps on its C stack; more go into a userdata. */
#define LM_STACK 64

#if LUA_VERSION_NUM < 502
#define lm_rawlen(L, i) lua_objlen(L, (i))
#else
#define lm_rawlen(L, i) lua_rawlen(L, (i))
#endif

/* A balancer as Lua holds it. */
struct balancer_ud {
	uint64_t magic; /* BALANCER_MAGIC: a foreign userdata of the same size is no balancer */
	uint64_t handle;
	char name[RINGLB_MAX_NAME_LEN + 4];
};

#define BALANCER_MAGIC UINT64_C(0x72696e676c62ba1a)

/* lm_register sets the functions of l into the table on the stack top,
 * each wrapped so that its errors come back as nil, message, "invalid". */
LM_HIDDEN void lm_register(lua_State *L, const luaL_Reg *l);

/* lm_fail returns nil, err (or a default text), and rc's code name. */
LM_HIDDEN int lm_fail(lua_State *L, int rc, const char *err);

/* lm_checkself returns argument 1 if it is a full userdata of size bytes
 * with metatable mt and, as its first 8 bytes, magic; else raises "call it
 * as what:method(...)". lm_self is it for a balancer. */
LM_HIDDEN void *lm_checkself(lua_State *L, const char *mt, size_t size, uint64_t magic, const char *what,
                             const char *method);
LM_HIDDEN struct balancer_ud *lm_self(lua_State *L, const char *method);

/* lm_metatable makes the metatable called name in this state unless it is
 * there: __index a table of the functions of each array of methods
 * (NULL-terminated), each wrapped by lm_register, the metamethod meta
 * (__gc, __tostring) meta_fn, __name and a locked __metatable. Leaves the
 * stack as it was. */
LM_HIDDEN void lm_metatable(lua_State *L, const char *name, const luaL_Reg *const *methods, const char *meta,
                            lua_CFunction meta_fn);

/* lm_push_balancer pushes a new Lua value for the balancer with handle h. */
LM_HIDDEN void lm_push_balancer(lua_State *L, uint64_t h, const char *name);

/* lm_string returns argument idx, a string without NUL bytes, or raises:
 * numbers are not strings here, nothing is converted. lm_optstring
 * returns NULL for none or nil. */
LM_HIDDEN const char *lm_string(lua_State *L, int idx);
LM_HIDDEN const char *lm_optstring(lua_State *L, int idx);

/* lm_plain returns the value at idx if it is a string without NUL bytes,
 * else NULL; it never raises. */
LM_HIDDEN const char *lm_plain(lua_State *L, int idx);

/* An array argument of strings, as ringlb's functions take it, and room
 * for a result per string. */
struct lm_strings {
	const char **v; /* the n strings */
	void *out;      /* room for n results, or NULL */
	int n;
	const char *stack[LM_STACK];
	int64_t out_stack[LM_STACK];
};

/* lm_strings reads argument idx, an array of at most max strings without
 * NUL bytes, into s, with room for a result of out_size bytes (at most 8)
 * per string unless out_size is 0; or raises. The strings stay the
 * table's, which stays on the stack for the whole call. Arrays longer than
 * LM_STACK go into userdata, so a raised error leaks nothing. */
LM_HIDDEN void lm_strings(lua_State *L, int idx, int max, struct lm_strings *s, size_t out_size);

/* lm_push_picked pushes the array of the items idx[0..n) (0-based) of the
 * array argument arg. */
LM_HIDDEN void lm_push_picked(lua_State *L, int arg, const int *idx, int n);

/* Name/value pairs, as ringlb_open's options and a dial string's variables. */
struct lm_pairs {
	const char **keys, **values;
	int n;
};

/* lm_pairs reads argument idx, nil or a table { name = value }, into p:
 * at most max pairs, each value a string without NUL bytes, a number or a
 * boolean (converted), or raises naming what a pair is ("option",
 * "variable"). Under a name in per_dest ("capacity"...; NULL-terminated,
 * may be NULL) a value may also be a table { [dest] = number }: one pair
 * "<name>:<dest>" each. The strings are held by a table the function
 * leaves on the stack. */
LM_HIDDEN void lm_pairs(lua_State *L, int idx, int max, const char *what, const char *const *per_dest,
                        struct lm_pairs *p);

/* lm_push_counts pushes a table { names[i] = values[i] } of n numbers:
 * the counters ringlb._chunks() and ringlb._kept() report. */
LM_HIDDEN void lm_push_counts(lua_State *L, int n, const char *const *names, const double *values);

/* The functions of luamod_balancer.c, luamod_ring.c and luamod_events.c. */
LM_HIDDEN extern const luaL_Reg lm_balancer_methods[];
LM_HIDDEN extern const luaL_Reg lm_events_methods[];
LM_HIDDEN extern const luaL_Reg lm_events_functions[];
LM_HIDDEN extern const luaL_Reg lm_ring_methods[];
LM_HIDDEN extern const luaL_Reg lm_ring_functions[];

/* lm_install_searcher puts the searcher that keeps ringlb's own Lua modules
 * compiled (luamod_chunks.c) into this state's package searchers;
 * lm_chunk_stats is ringlb._chunks(). */
LM_HIDDEN void lm_install_searcher(lua_State *L);
LM_HIDDEN int lm_chunk_stats(lua_State *L);

/*
 * What the module keeps of ringlb's answers (luamod_kept.c says which and
 * why). lm_open_key and lm_plan_key write a key to buf (len bytes; NULL:
 * nowhere) and return its length, or 0 when it is not to be kept (over
 * LM_KEY_MAX, or too many options): call them with NULL first for the
 * size. lm_*_kept find an answer, lm_*_keep keep one. A kept plan is read
 * between lm_plan_kept and lm_plan_release; lm_plan_keep takes the plan
 * (freeing it if it cannot keep it). lm_kept_stats is ringlb._kept().
 */
#define LM_KEY_MAX 8192
struct ringlb_ring_spec;
struct ringlb_plan;
struct lm_kept_plan {
	struct ringlb_plan *plan;
	int refs; /* the table's and each reader's */
};
LM_HIDDEN size_t lm_open_key(char *buf, size_t len, const char *name, const struct lm_pairs *o);
LM_HIDDEN uint64_t lm_open_kept(const char *key, size_t len);
LM_HIDDEN void lm_open_keep(const char *key, size_t len, uint64_t handle);
LM_HIDDEN size_t lm_plan_key(char *buf, size_t len, const struct ringlb_ring_spec *spec);
LM_HIDDEN struct lm_kept_plan *lm_plan_kept(const char *key, size_t len);
LM_HIDDEN void lm_plan_release(struct lm_kept_plan *p);
LM_HIDDEN void lm_plan_keep(const char *key, size_t len, struct ringlb_plan *plan);
LM_HIDDEN int lm_metrics_kept(const char *addr, char *bound, size_t len);
LM_HIDDEN void lm_metrics_keep(const char *addr, const char *bound, int64_t asked_at);
LM_HIDDEN int lm_kept_stats(lua_State *L);

/* lm_tostring is the balancer's __tostring. */
LM_HIDDEN int lm_tostring(lua_State *L);

#endif
