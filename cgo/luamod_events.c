//go:build lua51 || lua52 || lua53 || lua54 || luajit

/*
 * luamod_events.c - ringlb.switch_events: channel events taken straight from
 * the switch's event core, for the tracker's consumer (lua/ringlb_track.lua).
 *
 * mod_lua's freeswitch.EventConsumer has the switch copy every event bound
 * (all the channel's variables, often 150 headers) into its queue, and wakes
 * the consumer's thread for each, whether the script wants it or not: for a
 * direct call, six events of which the tracker counts three. The switch's
 * event core is in the process (libfreeswitch, loaded with global symbols
 * before any module, as hostlog.c's switch_log_printf), so a source binds
 * to it itself: its callback, on the switch's event dispatch thread, keeps
 * only an event that carries one of the headers named as `any`, copies only
 * the headers named, into a queue bounded in events, and wakes the consumer;
 * the consumer pops a table of them.
 *
 * The callback runs on a dispatch thread that the switch runs at realtime
 * priority: it never enters Go, never waits for anything but a
 * priority-inheriting mutex held for a queue operation (and the allocator,
 * as the switch's own code there does), and keeps no pointer into the event
 * after it returns. The switch calls callbacks under
 * its event read lock and switch_event_unbind takes it for writing, so once
 * a source is unbound no callback of it runs or will run: only then is it
 * freed. A callback finds its source by slot (one callback function per
 * slot), so nothing depends on the layout of the switch's event struct.
 *
 * Binding and unbinding take the switch's event lock for writing, so a
 * source is refused in a state that mod_lua made for an event hook (the
 * global `event`): that hook runs on the dispatch thread, under the same
 * lock held for reading, and would wait for itself. Both run with the
 * thread's cancellation off, so that a cancelled host thread never leaves
 * the switch's lock held; in the child of a fork, where the lock's holder
 * may be gone, a source does nothing.
 *
 * ringlb.fire_event fires a CUSTOM event through the same core, in one call
 * from Lua where mod_lua's freeswitch.Event takes one per header (the ring
 * helper's ringlb::info events, four per group call).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dispatch.h"
#include "luamod.h"

#define EVENTS_MT "ringlb.switch_events"
#define SE_MAGIC UINT64_C(0x72696e676c62e7e5)

/* The limits: sources open at once, and of one source the names of events
 * bound, headers copied, the length of a name, the bytes of one event's
 * copied values (an event over it is dropped and counted), the queue's
 * length, and pop's longest wait. */
#define SE_SLOTS 8
#define SE_MAX_EVENTS 8
#define SE_MAX_HEADERS 32
#define SE_NAME_MAX 128
#define SE_RECORD_MAX 16384
#define SE_QUEUE_DEFAULT 5000
#define SE_QUEUE_MAX 100000
#define SE_WAIT_MAX_MS 60000

/*
 * The switch's event API (switch_event.h), by symbol: its enums are ints,
 * SWITCH_STATUS_SUCCESS is 0, and an event and a binding are opaque here.
 */
typedef void (*se_callback_fn)(void *event);
typedef int (*se_bind_fn)(const char *id, int event, const char *subclass, se_callback_fn cb, void *user_data,
                          void **node);
typedef int (*se_unbind_fn)(void **node);
typedef char *(*se_header_fn)(void *event, const char *name, int idx);
typedef int (*se_name_fn)(const char *name, int *type);
typedef int (*se_create_fn)(const char *file, const char *func, int line, void **event, int type,
                            const char *subclass);
typedef int (*se_add_fn)(void *event, int stack, const char *name, const char *value);
typedef int (*se_fire_fn)(const char *file, const char *func, int line, void **event, void *user_data);
typedef void (*se_destroy_fn)(void **event);

/* SWITCH_STACK_BOTTOM: a header added goes after those already there. */
#define SE_STACK_BOTTOM 1

static se_bind_fn sw_bind;
static se_unbind_fn sw_unbind;
static se_header_fn sw_header;
static se_name_fn sw_name;
static se_create_fn sw_create;
static se_add_fn sw_add;
static se_fire_fn sw_fire;
static se_destroy_fn sw_destroy;
/* The switch's numbers for CUSTOM and ALL events; -1: none. */
static int sw_custom = -1, sw_all = -1;
static pthread_once_t resolve_once = PTHREAD_ONCE_INIT;

static void resolve(void) {
	sw_bind = (se_bind_fn)dlsym(RTLD_DEFAULT, "switch_event_bind_removable");
	sw_unbind = (se_unbind_fn)dlsym(RTLD_DEFAULT, "switch_event_unbind");
	sw_header = (se_header_fn)dlsym(RTLD_DEFAULT, "switch_event_get_header_idx");
	sw_name = (se_name_fn)dlsym(RTLD_DEFAULT, "switch_name_event");
	sw_create = (se_create_fn)dlsym(RTLD_DEFAULT, "switch_event_create_subclass_detailed");
	sw_add = (se_add_fn)dlsym(RTLD_DEFAULT, "switch_event_add_header_string");
	sw_fire = (se_fire_fn)dlsym(RTLD_DEFAULT, "switch_event_fire_detailed");
	sw_destroy = (se_destroy_fn)dlsym(RTLD_DEFAULT, "switch_event_destroy");
	int type;
	if (sw_name != NULL && sw_name("CUSTOM", &type) == 0)
		sw_custom = type;
	if (sw_name != NULL && sw_name("ALL", &type) == 0)
		sw_all = type;
}

/* fail returns nil, the message fmt makes, code: an expected failure. */
static int fail(lua_State *L, const char *code, const char *fmt, ...) {
	va_list ap;
	lua_pushnil(L);
	va_start(ap, fmt);
	lua_pushvfstring(L, fmt, ap);
	va_end(ap);
	lua_pushstring(L, code);
	return 3;
}

/* One event as queued: the length of each header's value (-1: absent),
 * then the values one after another. */
struct se_record {
	struct se_record *next;
	size_t size; /* of data */
	int len[SE_MAX_HEADERS];
	char data[];
};

struct se_source {
	int slot;
	int nheaders;
	char names[SE_MAX_HEADERS][SE_NAME_MAX + 1];
	int any[SE_MAX_HEADERS]; /* any[i]: an event is kept only if header i or another marked one is set */
	int nnodes;
	void *nodes[SE_MAX_EVENTS];
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct se_record *head, *tail;
	int len, cap;
	uint64_t dropped;
};

/* slots[i] is the source whose bindings call se_cb<i>; set before it binds,
 * cleared after it unbinds. */
static struct se_source *slots[SE_SLOTS];
static pthread_mutex_t slots_mu = PTHREAD_MUTEX_INITIALIZER;

/* deliver keeps what source slot wants of event: on the switch's dispatch
 * thread, as the switch delivers it. */
static void deliver(int slot, void *event) {
	struct se_source *s = __atomic_load_n(&slots[slot], __ATOMIC_ACQUIRE);
	if (s == NULL)
		return;
	const char *v[SE_MAX_HEADERS];
	int len[SE_MAX_HEADERS];
	int wanted = 0;
	size_t total = 0;
	for (int i = 0; i < s->nheaders; i++) {
		v[i] = sw_header(event, s->names[i], -1);
		len[i] = v[i] != NULL ? (int)strnlen(v[i], SE_RECORD_MAX + 1) : -1;
		if (len[i] >= 0) {
			total += (size_t)len[i];
			if (s->any[i] && len[i] > 0)
				wanted = 1;
		}
	}
	if (!wanted)
		return;
	struct se_record *r = NULL;
	if (total <= SE_RECORD_MAX)
		r = (struct se_record *)malloc(sizeof *r + total);
	if (r != NULL) {
		r->next = NULL;
		r->size = total;
		char *p = r->data;
		for (int i = 0; i < s->nheaders; i++) {
			r->len[i] = len[i];
			if (r->len[i] > 0) {
				memcpy(p, v[i], (size_t)r->len[i]);
				p += r->len[i];
			}
		}
	}
	pthread_mutex_lock(&s->mu);
	if (r == NULL || s->len >= s->cap) {
		s->dropped++;
		pthread_mutex_unlock(&s->mu);
		free(r);
		return;
	}
	if (s->tail != NULL)
		s->tail->next = r;
	else
		s->head = r;
	s->tail = r;
	s->len++;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->mu);
}

#define SE_CB(i) \
	static void se_cb##i(void *event) { deliver(i, event); }
SE_CB(0)
SE_CB(1)
SE_CB(2)
SE_CB(3)
SE_CB(4)
SE_CB(5)
SE_CB(6)
SE_CB(7)
static const se_callback_fn callbacks[SE_SLOTS] = {se_cb0, se_cb1, se_cb2, se_cb3, se_cb4, se_cb5, se_cb6, se_cb7};

/* source_free unbinds s, so that no callback of it runs any more, gives its
 * slot back and frees it with what it queued. */
static void source_free(struct se_source *s) {
	int oldstate;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &oldstate);
	for (int i = 0; i < s->nnodes; i++)
		if (s->nodes[i] != NULL)
			sw_unbind(&s->nodes[i]);
	pthread_setcancelstate(oldstate, NULL);
	pthread_mutex_lock(&slots_mu);
	__atomic_store_n(&slots[s->slot], NULL, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&slots_mu);
	for (struct se_record *r = s->head, *next; r != NULL; r = next) {
		next = r->next;
		free(r);
	}
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cond);
	free(s);
}

/* The Lua value of a source: it owns s until closed or collected. */
struct events_ud {
	uint64_t magic;
	struct se_source *s;
	/* The headers' names, as s has them: pop reads them here, from the
	 * value it was called on, which no finalizer can free meanwhile. */
	int nheaders;
	char names[SE_MAX_HEADERS][SE_NAME_MAX + 1];
};

static struct events_ud *self(lua_State *L, const char *method) {
	return (struct events_ud *)lm_checkself(L, EVENTS_MT, sizeof(struct events_ud), SE_MAGIC, "events", method);
}

/* names reads spec[field], an array of 1 to max strings of at most
 * SE_NAME_MAX bytes without NUL bytes, calling add for each; or raises. */
static void names(lua_State *L, const char *field, int max, void (*add)(lua_State *, void *, const char *),
                  void *arg) {
	lua_getfield(L, 1, field);
	if (lua_type(L, -1) != LUA_TTABLE)
		luaL_error(L, "spec.%s: want an array of names", field);
	int n = (int)lm_rawlen(L, -1);
	if (n < 1 || n > max)
		luaL_error(L, "spec.%s: want 1 to %d names, got %d", field, max, n);
	for (int i = 1; i <= n; i++) {
		lua_rawgeti(L, -1, i);
		const char *name = lm_plain(L, -1);
		if (name == NULL || name[0] == '\0' || strlen(name) > SE_NAME_MAX)
			luaL_error(L, "spec.%s[%d]: want a name of 1 to %d bytes", field, i, SE_NAME_MAX);
		add(L, arg, name);
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}

/* The source being made, as names() fills it. */
struct building {
	struct se_source *s;
	int types[SE_MAX_EVENTS];
	int ntypes;
};

static void add_event(lua_State *L, void *arg, const char *name) {
	struct building *b = (struct building *)arg;
	int type = -1;
	if (sw_name(name, &type) != 0 || type < 0)
		luaL_error(L, "spec.events: %s is no event of this switch", name);
	/* By type: the switch takes other spellings of a name too. */
	if (type == sw_all || type == sw_custom)
		luaL_error(L, "spec.events: %s is not one event: name the events", name);
	for (int i = 0; i < b->ntypes; i++)
		if (b->types[i] == type)
			luaL_error(L, "spec.events: %s twice", name);
	b->types[b->ntypes++] = type;
}

static void add_header(lua_State *L, void *arg, const char *name) {
	(void)L;
	struct building *b = (struct building *)arg;
	strcpy(b->s->names[b->s->nheaders++], name);
}

static void add_any(lua_State *L, void *arg, const char *name) {
	struct building *b = (struct building *)arg;
	for (int i = 0; i < b->s->nheaders; i++)
		if (strcmp(b->s->names[i], name) == 0) {
			b->s->any[i] = 1;
			return;
		}
	luaL_error(L, "spec.any: %s is not one of spec.headers", name);
}

/* events_gc closes a source the script did not close. */
static int events_gc(lua_State *L) {
	struct events_ud *u = (struct events_ud *)lua_touserdata(L, 1);
	if (u != NULL && lm_rawlen(L, 1) == sizeof *u && u->magic == SE_MAGIC && u->s != NULL) {
		struct se_source *s = u->s;
		u->s = NULL;
		if (!ringlb_forked_child) /* there, left as it is: its locks' holders may be gone */
			source_free(s);
	}
	return 0;
}

/*
 * ringlb.switch_events{ events = {...}, headers = {...}, any = {...} [, queue = n] }
 *   -> source | nil, err, code
 * Binds to the named channel events of the switch this process is (code
 * "unsupported" in any other host). An event is queued only if one of the
 * headers in `any` is set and not empty, as a copy of the headers named in
 * `headers`; at most `queue` (5000) wait, and one arriving when they are
 * there, or whose values exceed 16 KB, is dropped and counted. Each event
 * is named (ALL and CUSTOM are refused); at most 8 sources at once, none
 * from an event hook's state.
 */
static int l_switch_events(lua_State *L) {
	luaL_checktype(L, 1, LUA_TTABLE);
	pthread_once(&resolve_once, resolve);
	if (sw_bind == NULL || sw_unbind == NULL || sw_header == NULL || sw_name == NULL) {
		return fail(L, "unsupported", "ringlb: no switch event core in this process (switch_event_bind_removable)");
	}
	if (ringlb_forked_child)
		return fail(L, "internal", "ringlb: not in the child of a fork");
	lua_getglobal(L, "event");
	int in_hook = lua_type(L, -1) == LUA_TUSERDATA;
	lua_pop(L, 1);
	if (in_hook)
		return fail(L, "invalid",
		            "ringlb: not from an event hook: the switch delivers its events under the lock a source "
		            "must take (use a startup script)");
	int cap = SE_QUEUE_DEFAULT;
	lua_getfield(L, 1, "queue");
	if (!lua_isnil(L, -1)) {
		lua_Number q = lua_tonumber(L, -1);
		if (lua_type(L, -1) != LUA_TNUMBER || !(q >= 1 && q <= SE_QUEUE_MAX) || q != (lua_Number)(int)q)
			luaL_error(L, "spec.queue: want a whole number from 1 to %d", SE_QUEUE_MAX);
		cap = (int)q;
	}
	lua_pop(L, 1);
	/* Built in a userdata first, so that a raised error leaks nothing. */
	struct building *b = (struct building *)lua_newuserdata(L, sizeof *b + sizeof *b->s);
	memset(b, 0, sizeof *b + sizeof *b->s);
	b->s = (struct se_source *)(b + 1);
	names(L, "events", SE_MAX_EVENTS, add_event, b);
	names(L, "headers", SE_MAX_HEADERS, add_header, b);
	names(L, "any", SE_MAX_HEADERS, add_any, b);

	static const luaL_Reg *const methods[] = {lm_events_methods, NULL};
	lm_metatable(L, EVENTS_MT, methods, "__gc", events_gc);
	struct events_ud *u = (struct events_ud *)lua_newuserdata(L, sizeof *u);
	u->magic = SE_MAGIC;
	u->s = NULL;
	u->nheaders = b->s->nheaders;
	memcpy(u->names, b->s->names, sizeof u->names);
	luaL_getmetatable(L, EVENTS_MT);
	lua_setmetatable(L, -2);

	/* Nothing below raises. */
	struct se_source *s = (struct se_source *)malloc(sizeof *s);
	if (s == NULL)
		return fail(L, "internal", "ringlb: out of memory");
	memcpy(s, b->s, sizeof *s);
	s->cap = cap;
	ringlb_mutex_init_pi(&s->mu);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	s->slot = -1;
	pthread_mutex_lock(&slots_mu);
	for (int i = 0; i < SE_SLOTS; i++)
		if (slots[i] == NULL) {
			s->slot = i;
			__atomic_store_n(&slots[i], s, __ATOMIC_RELEASE);
			break;
		}
	pthread_mutex_unlock(&slots_mu);
	if (s->slot < 0) {
		pthread_mutex_destroy(&s->mu);
		pthread_cond_destroy(&s->cond);
		free(s);
		return fail(L, "invalid", "ringlb: %d event sources are open already; close one first", SE_SLOTS);
	}
	int bound = 1, oldstate;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &oldstate);
	for (int i = 0; i < b->ntypes && bound; i++) {
		if (sw_bind("ringlb", b->types[i], NULL, callbacks[s->slot], s, &s->nodes[s->nnodes]) != 0 ||
		    s->nodes[s->nnodes] == NULL) {
			s->nodes[s->nnodes] = NULL;
			bound = 0;
		} else {
			s->nnodes++;
		}
	}
	pthread_setcancelstate(oldstate, NULL);
	if (!bound) {
		source_free(s);
		return fail(L, "internal", "ringlb: the switch refused to bind an event");
	}
	u->s = s;
	return 1;
}

/* What pop copies an event into, a userdata on the Lua stack: the lengths
 * of the headers' values, then the values. The table is built from it and
 * the names the source's Lua value holds, never from the source, since the
 * allocations that building makes may run a collection whose finalizers
 * close the source. */
struct se_popped {
	int len[SE_MAX_HEADERS];
	char data[];
};

/* take waits until *deadline (CLOCK_MONOTONIC) for an event in s and takes
 * the first out if its values fit in room bytes. Otherwise it returns NULL
 * with *need set to the room the first one needs plus 1, or 0 if none came.
 * The wait is a cancellation point: a host that cancels this thread
 * meanwhile must not leave the mutex held, so cancellation is off. */
static struct se_record *take(struct se_source *s, const struct timespec *deadline, size_t room, size_t *need) {
	int oldstate;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &oldstate);
	pthread_mutex_lock(&s->mu);
	while (s->head == NULL)
		if (pthread_cond_timedwait(&s->cond, &s->mu, deadline) != 0)
			break; /* timed out (or a wait that cannot be made: never a spin) */
	struct se_record *r = s->head;
	*need = 0;
	if (r != NULL && r->size + 1 > room) {
		*need = r->size + 1;
		r = NULL;
	} else if (r != NULL) {
		s->head = r->next;
		if (s->head == NULL)
			s->tail = NULL;
		s->len--;
	}
	pthread_mutex_unlock(&s->mu);
	pthread_setcancelstate(oldstate, NULL);
	return r;
}

static int closed(lua_State *L) {
	if (ringlb_forked_child)
		return fail(L, "internal", "ringlb: not in the child of a fork");
	return fail(L, "closed", "ringlb: event source closed");
}

/*
 * events:pop([timeout_ms]) -> { header = value, ... } | nil (none within
 * timeout_ms, 0 by default: do not wait) | nil, err, "closed"
 * Waits at most 60 s. The table holds the headers named that the event had.
 */
static int l_pop(lua_State *L) {
	struct events_ud *u = self(L, "pop");
	lua_Number ms = luaL_optnumber(L, 2, 0);
	if (!(ms >= 0 && ms <= SE_WAIT_MAX_MS))
		luaL_error(L, "timeout_ms: want 0 to %d", SE_WAIT_MAX_MS);
	if (u->s == NULL || ringlb_forked_child)
		return closed(L);
	int64_t at = ringlb_mono_ns() + (int64_t)(ms * 1e6);
	struct timespec deadline = {.tv_sec = at / 1000000000, .tv_nsec = at % 1000000000};
	struct se_popped *out = NULL;
	size_t room = 0, need;
	struct se_record *r;
	while ((r = take(u->s, &deadline, room, &need)) == NULL) {
		if (need == 0) {
			lua_pushnil(L);
			return 1;
		}
		/* Nothing is taken yet, so a raise here loses nothing. */
		out = (struct se_popped *)lua_newuserdata(L, sizeof *out + need);
		room = need;
		if (u->s == NULL)
			return closed(L);
	}
	/* Nothing between taking and freeing r can raise. */
	memcpy(out->len, r->len, sizeof out->len);
	memcpy(out->data, r->data, r->size);
	free(r);
	lua_createtable(L, 0, u->nheaders);
	const char *p = out->data;
	for (int i = 0; i < u->nheaders; i++) {
		if (out->len[i] < 0)
			continue;
		lua_pushlstring(L, p, (size_t)out->len[i]);
		lua_setfield(L, -2, u->names[i]);
		p += out->len[i];
	}
	return 1;
}

/* events:dropped() -> how many events the source could not queue: the
 * queue full, or an event's values over 16 KB. */
static int l_dropped(lua_State *L) {
	struct events_ud *u = self(L, "dropped");
	if (ringlb_forked_child)
		return closed(L);
	uint64_t n = 0;
	if (u->s != NULL) {
		pthread_mutex_lock(&u->s->mu);
		n = u->s->dropped;
		pthread_mutex_unlock(&u->s->mu);
	}
	lua_pushnumber(L, (lua_Number)n);
	return 1;
}

/* events:close() unbinds the source and frees what it queued; pop then
 * fails with "closed". */
static int l_close(lua_State *L) {
	self(L, "close");
	return events_gc(L);
}

const luaL_Reg lm_events_methods[] = {{"pop", l_pop}, {"dropped", l_dropped}, {"close", l_close}, {NULL, NULL}};
/* The limits of ringlb.fire_event: headers, and the bytes of one value. */
#define FE_MAX_HEADERS 32
#define FE_VALUE_MAX 131072

#define FE "ringlb: fire_event: "

/*
 * ringlb.fire_event(subclass, headers) -> true | nil, err, code
 *
 * Fires a CUSTOM event of that subclass with the headers of the list
 * headers = { name, value, name, value, ... }, in that order: at most 32
 * pairs of strings, names of 1 to 128 bytes, values up to 128 KB (a ring's
 * 128 members of 512 bytes each, in one header), neither with a NUL byte.
 * Code "unsupported" in a host without the switch's event core: mod_lua's
 * freeswitch.Event does it there.
 */
static int l_fire_event(lua_State *L) {
	const char *sub = lm_string(L, 1);
	size_t sublen = strlen(sub);
	luaL_checktype(L, 2, LUA_TTABLE);
	pthread_once(&resolve_once, resolve);
	if (sw_create == NULL || sw_add == NULL || sw_fire == NULL || sw_destroy == NULL || sw_custom < 0)
		return fail(L, "unsupported", FE "no switch event core in this process (switch_event_fire_detailed)");
	if (ringlb_forked_child)
		return fail(L, "internal", FE "not in the child of a fork");
	if (sublen == 0 || sublen > SE_NAME_MAX)
		return fail(L, "invalid", FE "the subclass must be 1 to 128 bytes");
	int n = (int)lm_rawlen(L, 2);
	if (n % 2 != 0 || n > 2 * FE_MAX_HEADERS)
		return fail(L, "invalid", FE "want a list of up to 32 header names and values, one after another");
	/* Every string stays on the stack, so alive, until the event is fired;
	 * and room for a failure's message and results after them. */
	if (!lua_checkstack(L, n + 4))
		return fail(L, "internal", FE "no room on the Lua stack");
	const char *v[2 * FE_MAX_HEADERS];
	for (int i = 0; i < n; i++) {
		lua_rawgeti(L, 2, i + 1);
		size_t len;
		v[i] = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
		int name = i % 2 == 0;
		if (v[i] == NULL || strlen(v[i]) != len || (name && (len == 0 || len > SE_NAME_MAX)) ||
		    (!name && len > FE_VALUE_MAX))
			return fail(L, "invalid", FE "item %d: want a %s (%s)", i + 1, name ? "header name" : "value",
			            name ? "1 to 128 bytes, no NUL byte" : "up to 128 KB, no NUL byte");
	}
	/* The switch's queue lock may be taken: no cancellation meanwhile. */
	int oldstate;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &oldstate);
	void *ev = NULL;
	const char *err = NULL;
	if (sw_create("ringlb", "fire_event", 0, &ev, sw_custom, sub) != 0 || ev == NULL) {
		err = "the switch could not create the event";
	} else {
		for (int i = 0; i < n && err == NULL; i += 2)
			if (sw_add(ev, SE_STACK_BOTTOM, v[i], v[i + 1]) != 0)
				err = "the switch could not add a header";
		if (err != NULL)
			sw_destroy(&ev);
		else if (sw_fire("ringlb", "fire_event", 0, &ev, NULL) != 0) /* it frees the event either way */
			err = "the switch's event queue refused the event";
	}
	pthread_setcancelstate(oldstate, NULL);
	if (err != NULL)
		return fail(L, "internal", FE "%s", err);
	lua_pushboolean(L, 1);
	return 1;
}

const luaL_Reg lm_events_functions[] = {
    {"switch_events", l_switch_events}, {"fire_event", l_fire_event}, {NULL, NULL}};
