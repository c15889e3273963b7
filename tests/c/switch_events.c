/*
 * switch_events.c SO_DIR LUA_DIR TEST_SCRIPT - a host with the switch's event
 * core, for ringlb.switch_events and the tracker's consumer
 * (lua/ringlb_track.lua consume) on it.
 *
 * It exports the functions of FreeSWITCH's event API that ringlb looks up
 * in the process (switch_name_event, switch_event_bind_removable,
 * switch_event_unbind, switch_event_get_header_idx, and for
 * ringlb.fire_event switch_event_create_subclass_detailed,
 * switch_event_add_header_string, switch_event_fire_detailed,
 * switch_event_destroy; linked with -Wl,-E) and
 * behaves as src/switch_event.c does: events are queued and delivered by a
 * dispatch thread of the host's, each binding's callback called under the
 * core's read lock, unbinding under its write lock, header names matched
 * without regard to case; once delivered, an event is freed, its values
 * overwritten first, so that a consumer keeping a pointer into it reads
 * garbage.
 *
 * TEST_SCRIPT runs in a lua_State of the main thread with a global `host`:
 *   host.fire(event_name, { header = value, ... })  queue an event
 *   host.fire_after(ms, event_name, { ... })  queue it from another thread, ms later
 *   host.now()                     CLOCK_MONOTONIC, in seconds
 *   host.flush()                   wait until every queued event is delivered
 *   host.bindings()                how many bindings are in place
 *   host.start_consumer(script, arg)  run script in a thread of its own, a fresh
 *                                  lua_State with `argv` = { arg } and a
 *                                  `freeswitch` global as mod_lua's (below)
 *   host.join_consumer()           wait for it to end; returns its error or nil
 *   host.stop_consumer()           stop one left running by a failed test
 *   host.set_running(b), host.set_global(name, value)
 *   host.custom_events()           the CUSTOM events delivered since the last call
 *                                  (fired through switch_event_fire_detailed), each
 *                                  a list of { name, value }
 *   host.fail_next(call)           the next "create", "add" or "fire" of an event fails
 *   host.live_events()             events created through the API and not yet freed
 *   host.logged(text)              whether a log line holds text
 *   host.log_lines()               the log lines, one string
 * The consumer's `freeswitch`: getGlobalVariable, consoleLog, running,
 * msleep, API():execute (xml_locate gives no hooks), as mod_lua's.
 * Exits 0 if the script returns without error.
 */
#define _GNU_SOURCE
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static const char *so_dir, *lua_dir;

/* ---- the event core ---- */

static const char *const event_names[] = {"CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_HANGUP_COMPLETE",
                                          "CHANNEL_HANGUP", "CHANNEL_BRIDGE", "CUSTOM", "ALL"};
#define NEVENTS (int)(sizeof event_names / sizeof event_names[0])

struct node {
	int type;
	void (*cb)(void *);
	struct node *next;
};

struct header {
	char *name, *value;
};

struct event {
	int type;
	int made; /* by switch_event_create_subclass_detailed: counted in live */
	int n;
	struct header h[64];
	struct event *next;
};

static struct node *nodes[NEVENTS];
static pthread_rwlock_t core_rw = PTHREAD_RWLOCK_INITIALIZER;
static int nbound;

static pthread_mutex_t q_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cond = PTHREAD_COND_INITIALIZER;
static struct event *q_head, *q_tail;
static int q_pending; /* queued or being delivered */
static int q_stop;

/* As the switch's: a name, or any 13 characters and then a name
 * (SWITCH_EVENT_ALL). */
int switch_name_event(const char *name, int *type) {
	for (int i = 0; i < NEVENTS; i++)
		if ((strlen(name) > 13 && strcasecmp(name + 13, event_names[i]) == 0) || strcasecmp(name, event_names[i]) == 0) {
			*type = i;
			return 0;
		}
	return 1;
}

int switch_event_bind_removable(const char *id, int type, const char *subclass, void (*cb)(void *), void *user_data,
                                void **node) {
	(void)id;
	(void)subclass;
	(void)user_data;
	if (node != NULL)
		*node = NULL;
	if (type < 0 || type >= NEVENTS)
		return 1;
	struct node *n = calloc(1, sizeof *n);
	n->type = type;
	n->cb = cb;
	pthread_rwlock_wrlock(&core_rw);
	n->next = nodes[type];
	nodes[type] = n;
	nbound++;
	pthread_rwlock_unlock(&core_rw);
	if (node != NULL)
		*node = n;
	return 0;
}

int switch_event_unbind(void **node) {
	struct node *n = (struct node *)*node;
	int rc = 1;
	if (n == NULL)
		return rc;
	pthread_rwlock_wrlock(&core_rw);
	for (struct node **p = &nodes[n->type]; *p != NULL; p = &(*p)->next)
		if (*p == n) {
			*p = n->next;
			free(n);
			*node = NULL;
			nbound--;
			rc = 0;
			break;
		}
	pthread_rwlock_unlock(&core_rw);
	return rc;
}

char *switch_event_get_header_idx(void *event, const char *name, int idx) {
	(void)idx;
	struct event *e = (struct event *)event;
	for (int i = 0; i < e->n; i++)
		if (strcasecmp(e->h[i].name, name) == 0)
			return e->h[i].value;
	return NULL;
}

/* CUSTOM events delivered, as "name\nvalue\n..." lines, for host.custom_events. */
#define NCUSTOM 64
static char *custom[NCUSTOM];
static int ncustom;

static void record_custom(struct event *e) {
	size_t size = 1;
	for (int i = 0; i < e->n; i++)
		size += strlen(e->h[i].name) + strlen(e->h[i].value) + 2;
	char *rec = malloc(size), *p = rec;
	for (int i = 0; i < e->n; i++)
		p += sprintf(p, "%s\n%s\n", e->h[i].name, e->h[i].value);
	pthread_mutex_lock(&q_mu);
	if (ncustom < NCUSTOM)
		custom[ncustom++] = rec;
	else
		free(rec);
	pthread_mutex_unlock(&q_mu);
}

/* fail_next names the next event call of ringlb's to fail ("create", "add"
 * or "fire"; host.fail_next), and live counts the events made by
 * switch_event_create_subclass_detailed not yet freed (host.live_events):
 * q_mu. */
static char fail_next[16];
static int live;

/* failing says, and forgets, whether call is the one to fail. */
static int failing(const char *call) {
	pthread_mutex_lock(&q_mu);
	int f = strcmp(fail_next, call) == 0;
	if (f)
		fail_next[0] = '\0';
	pthread_mutex_unlock(&q_mu);
	return f;
}

static void count_live(int d) {
	pthread_mutex_lock(&q_mu);
	live += d;
	pthread_mutex_unlock(&q_mu);
}

/* As the switch's: an event with Event-Name, and Event-Subclass if given. */
int switch_event_create_subclass_detailed(const char *file, const char *func, int line, void **event, int type,
                                          const char *subclass) {
	(void)file;
	(void)func;
	(void)line;
	if (type < 0 || type >= NEVENTS || failing("create"))
		return 1;
	struct event *e = calloc(1, sizeof *e);
	e->type = type;
	e->made = 1;
	count_live(1);
	e->h[e->n].name = strdup("Event-Name");
	e->h[e->n++].value = strdup(event_names[type]);
	if (subclass != NULL) {
		e->h[e->n].name = strdup("Event-Subclass");
		e->h[e->n++].value = strdup(subclass);
	}
	*event = e;
	return 0;
}

int switch_event_add_header_string(void *event, int stack, const char *name, const char *value) {
	struct event *e = (struct event *)event;
	if (stack != 1 || e->n >= 64 || failing("add")) /* SWITCH_STACK_BOTTOM only, here */
		return 1;
	e->h[e->n].name = strdup(name);
	e->h[e->n++].value = strdup(value);
	return 0;
}

void switch_event_destroy(void **event) {
	struct event *e = (struct event *)*event;
	if (e == NULL)
		return;
	if (e->made)
		count_live(-1);
	for (int i = 0; i < e->n; i++) {
		free(e->h[i].name);
		free(e->h[i].value);
	}
	free(e);
	*event = NULL;
}

static void queue(struct event *e);

/* As the switch's: the event is the core's from here on, fired or not. */
int switch_event_fire_detailed(const char *file, const char *func, int line, void **event, void *user_data) {
	(void)file;
	(void)func;
	(void)line;
	(void)user_data;
	if (failing("fire")) { /* the switch's queue refusing it: freed all the same */
		switch_event_destroy(event);
		return 1;
	}
	queue((struct event *)*event);
	*event = NULL;
	return 0;
}

static void *dispatch(void *arg) {
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&q_mu);
		while (q_head == NULL && !q_stop)
			pthread_cond_wait(&q_cond, &q_mu);
		struct event *e = q_head;
		if (e == NULL) {
			pthread_mutex_unlock(&q_mu);
			return NULL;
		}
		q_head = e->next;
		if (q_head == NULL)
			q_tail = NULL;
		pthread_mutex_unlock(&q_mu);
		pthread_rwlock_rdlock(&core_rw);
		for (struct node *n = nodes[e->type]; n != NULL; n = n->next)
			n->cb(e);
		pthread_rwlock_unlock(&core_rw);
		if (strcmp(event_names[e->type], "CUSTOM") == 0)
			record_custom(e);
		if (e->made)
			count_live(-1);
		for (int i = 0; i < e->n; i++) {
			memset(e->h[i].value, 'X', strlen(e->h[i].value));
			free(e->h[i].name);
			free(e->h[i].value);
		}
		free(e);
		pthread_mutex_lock(&q_mu);
		q_pending--;
		pthread_cond_broadcast(&q_cond);
		pthread_mutex_unlock(&q_mu);
	}
}

/* ---- what Lua sees ---- */

static pthread_mutex_t host_mu = PTHREAD_MUTEX_INITIALIZER;
static int running = 1;
static char *globals[32][2];
static char *log_text;
static size_t log_len;

/* new_event makes the event argument idx names, with the headers of the
 * table at idx + 1. */
static struct event *new_event(lua_State *L, int idx) {
	const char *name = luaL_checkstring(L, idx);
	luaL_checktype(L, idx + 1, LUA_TTABLE);
	int type = 0;
	if (switch_name_event(name, &type) != 0)
		luaL_error(L, "no event %s", name);
	struct event *e = calloc(1, sizeof *e);
	e->type = type;
	e->h[e->n].name = strdup("Event-Name");
	e->h[e->n++].value = strdup(name);
	lua_pushnil(L);
	while (lua_next(L, idx + 1) != 0 && e->n < 64) {
		e->h[e->n].name = strdup(lua_tostring(L, -2));
		e->h[e->n++].value = strdup(lua_tostring(L, -1));
		lua_pop(L, 1);
	}
	return e;
}

/* queue hands e to the dispatch thread. */
static void queue(struct event *e) {
	pthread_mutex_lock(&q_mu);
	if (q_tail != NULL)
		q_tail->next = e;
	else
		q_head = e;
	q_tail = e;
	q_pending++;
	pthread_cond_broadcast(&q_cond);
	pthread_mutex_unlock(&q_mu);
}

static int h_fire(lua_State *L) {
	queue(new_event(L, 1));
	return 0;
}

struct later {
	struct event *e;
	int ms;
};

static void *fire_later(void *arg) {
	struct later *l = (struct later *)arg;
	usleep((useconds_t)l->ms * 1000);
	queue(l->e);
	free(l);
	return NULL;
}

static int h_fire_after(lua_State *L) {
	struct later *l = malloc(sizeof *l);
	l->ms = (int)luaL_checknumber(L, 1);
	l->e = new_event(L, 2);
	pthread_t t;
	pthread_create(&t, NULL, fire_later, l);
	pthread_detach(t);
	return 0;
}

static int h_now(lua_State *L) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
	return 1;
}

static int h_flush(lua_State *L) {
	(void)L;
	pthread_mutex_lock(&q_mu);
	while (q_pending > 0)
		pthread_cond_wait(&q_cond, &q_mu);
	pthread_mutex_unlock(&q_mu);
	return 0;
}

static int h_bindings(lua_State *L) {
	pthread_rwlock_rdlock(&core_rw);
	lua_pushnumber(L, nbound);
	pthread_rwlock_unlock(&core_rw);
	return 1;
}

/* host.custom_events() returns the CUSTOM events delivered so far, each a
 * list of { name, value }, and forgets them. */
static int h_custom_events(lua_State *L) {
	lua_newtable(L);
	pthread_mutex_lock(&q_mu);
	for (int i = 0; i < ncustom; i++) {
		lua_newtable(L);
		int k = 0;
		for (char *p = custom[i], *nl; (nl = strchr(p, '\n')) != NULL; p = nl + 1, k++) {
			if (k % 2 == 0)
				lua_newtable(L);
			lua_pushlstring(L, p, (size_t)(nl - p));
			lua_rawseti(L, -2, k % 2 + 1);
			if (k % 2 == 1)
				lua_rawseti(L, -2, k / 2 + 1);
		}
		lua_rawseti(L, -2, i + 1);
		free(custom[i]);
	}
	ncustom = 0;
	pthread_mutex_unlock(&q_mu);
	return 1;
}

static int h_fail_next(lua_State *L) {
	pthread_mutex_lock(&q_mu);
	snprintf(fail_next, sizeof fail_next, "%s", luaL_checkstring(L, 1));
	pthread_mutex_unlock(&q_mu);
	return 0;
}

static int h_live_events(lua_State *L) {
	pthread_mutex_lock(&q_mu);
	lua_pushinteger(L, live);
	pthread_mutex_unlock(&q_mu);
	return 1;
}

static int h_set_running(lua_State *L) {
	pthread_mutex_lock(&host_mu);
	running = lua_toboolean(L, 1);
	pthread_mutex_unlock(&host_mu);
	return 0;
}

static int h_running(lua_State *L) {
	pthread_mutex_lock(&host_mu);
	lua_pushboolean(L, running);
	pthread_mutex_unlock(&host_mu);
	return 1;
}

static int h_set_global(lua_State *L) {
	const char *name = luaL_checkstring(L, 1);
	const char *value = luaL_optstring(L, 2, NULL);
	pthread_mutex_lock(&host_mu);
	int i = 0;
	while (i < 32 && globals[i][0] != NULL && strcmp(globals[i][0], name) != 0)
		i++;
	if (i < 32) {
		if (globals[i][0] == NULL)
			globals[i][0] = strdup(name);
		free(globals[i][1]);
		globals[i][1] = value != NULL ? strdup(value) : NULL;
	}
	pthread_mutex_unlock(&host_mu);
	return 0;
}

static int h_global(lua_State *L) {
	const char *name = luaL_checkstring(L, 1);
	pthread_mutex_lock(&host_mu);
	lua_pushnil(L);
	for (int i = 0; i < 32 && globals[i][0] != NULL; i++)
		if (strcmp(globals[i][0], name) == 0 && globals[i][1] != NULL) {
			lua_pop(L, 1);
			lua_pushstring(L, globals[i][1]);
		}
	pthread_mutex_unlock(&host_mu);
	return 1;
}

static int h_log(lua_State *L) {
	const char *level = luaL_checkstring(L, 1);
	const char *msg = luaL_checkstring(L, 2);
	pthread_mutex_lock(&host_mu);
	size_t add = strlen(level) + strlen(msg) + 4;
	log_text = realloc(log_text, log_len + add + 1);
	log_len += (size_t)snprintf(log_text + log_len, add + 1, "[%s] %s", level, msg);
	pthread_mutex_unlock(&host_mu);
	printf("  log [%s] %s", level, msg);
	return 0;
}

static int h_logged(lua_State *L) {
	const char *text = luaL_checkstring(L, 1);
	pthread_mutex_lock(&host_mu);
	lua_pushboolean(L, log_text != NULL && strstr(log_text, text) != NULL);
	pthread_mutex_unlock(&host_mu);
	return 1;
}

static int h_log_lines(lua_State *L) {
	pthread_mutex_lock(&host_mu);
	lua_pushstring(L, log_text != NULL ? log_text : "");
	pthread_mutex_unlock(&host_mu);
	return 1;
}

static int h_msleep(lua_State *L) {
	usleep((useconds_t)(luaL_checknumber(L, 1) * 1000));
	return 0;
}

/* The consumer's `freeswitch`, over the host's functions. */
static const char *freeswitch_code =
    "freeswitch = {\n"
    "  getGlobalVariable = function(name) return host.global(name) end,\n"
    "  consoleLog = function(level, msg) host.log(level, msg) end,\n"
    "  running = function() return host.running() end,\n"
    "  msleep = function(ms) host.msleep(ms) end,\n"
    "  API = function() return { execute = function(self, cmd, args) return '' end } end,\n"
    "}\n";

static lua_State *new_state(void) {
	lua_State *L = luaL_newstate();
	luaL_openlibs(L);
	static const luaL_Reg fns[] = {{"fire", h_fire},       {"fire_after", h_fire_after},
	                               {"now", h_now},         {"flush", h_flush},
	                               {"bindings", h_bindings}, {"set_running", h_set_running},
	                               {"running", h_running}, {"set_global", h_set_global},
	                               {"global", h_global},   {"log", h_log},
	                               {"logged", h_logged},   {"log_lines", h_log_lines},
	                               {"msleep", h_msleep},   {"custom_events", h_custom_events},
	                               {"fail_next", h_fail_next}, {"live_events", h_live_events},
	                               {NULL, NULL}};
	lua_newtable(L);
	for (const luaL_Reg *r = fns; r->name != NULL; r++) {
		lua_pushcfunction(L, r->func);
		lua_setfield(L, -2, r->name);
	}
	lua_setglobal(L, "host");
	char paths[1400];
	snprintf(paths, sizeof paths, "package.cpath = '%s/?.so'; package.path = '%s/?.lua;' .. package.path", so_dir,
	         lua_dir);
	if (luaL_dostring(L, paths) != 0 || luaL_dostring(L, freeswitch_code) != 0) {
		fprintf(stderr, "FAIL: state: %s\n", lua_tostring(L, -1));
		exit(1);
	}
	return L;
}

static pthread_t consumer;
static char consumer_script[1024], consumer_arg[64], consumer_err[1024];
static int consumer_started;

static void *consume(void *arg) {
	(void)arg;
	lua_State *L = new_state();
	lua_newtable(L);
	lua_pushstring(L, consumer_arg);
	lua_rawseti(L, -2, 1);
	lua_setglobal(L, "argv");
	consumer_err[0] = '\0';
	if (luaL_loadfile(L, consumer_script) != 0 || lua_pcall(L, 0, 0, 0) != 0)
		snprintf(consumer_err, sizeof consumer_err, "%s", lua_tostring(L, -1));
	lua_close(L);
	return NULL;
}

static int h_start_consumer(lua_State *L) {
	snprintf(consumer_script, sizeof consumer_script, "%s", luaL_checkstring(L, 1));
	snprintf(consumer_arg, sizeof consumer_arg, "%s", luaL_checkstring(L, 2));
	if (consumer_started)
		return luaL_error(L, "a consumer runs already");
	if (pthread_create(&consumer, NULL, consume, NULL) != 0)
		return luaL_error(L, "pthread_create failed");
	consumer_started = 1;
	return 0;
}

static int h_join_consumer(lua_State *L) {
	if (!consumer_started)
		return luaL_error(L, "no consumer runs");
	pthread_join(consumer, NULL);
	consumer_started = 0;
	if (consumer_err[0] != '\0')
		lua_pushstring(L, consumer_err);
	else
		lua_pushnil(L);
	return 1;
}

/* host.stop_consumer() stops a consumer still running after a test failed
 * (the switch stopping, then running again); nothing if none runs. */
static int h_stop_consumer(lua_State *L) {
	if (!consumer_started)
		return 0;
	h_set_running(L); /* argument 1 is none: false */
	pthread_join(consumer, NULL);
	consumer_started = 0;
	pthread_mutex_lock(&host_mu);
	running = 1;
	pthread_mutex_unlock(&host_mu);
	return 0;
}

int main(int argc, char **argv) {
	if (argc != 4) {
		fprintf(stderr, "usage: %s SO_DIR LUA_DIR TEST_SCRIPT\n", argv[0]);
		return 2;
	}
	so_dir = argv[1];
	lua_dir = argv[2];
	setvbuf(stdout, NULL, _IOLBF, 0);
	pthread_t d;
	pthread_create(&d, NULL, dispatch, NULL);
	lua_State *L = new_state();
	lua_pushcfunction(L, h_start_consumer);
	lua_getglobal(L, "host");
	lua_insert(L, -2);
	lua_setfield(L, -2, "start_consumer");
	lua_pushcfunction(L, h_join_consumer);
	lua_setfield(L, -2, "join_consumer");
	lua_pushcfunction(L, h_stop_consumer);
	lua_setfield(L, -2, "stop_consumer");
	lua_pop(L, 1);
	int rc = 0;
	if (luaL_loadfile(L, argv[3]) != 0 || lua_pcall(L, 0, 0, 0) != 0) {
		fprintf(stderr, "FAIL: %s\n", lua_tostring(L, -1));
		rc = 1;
	}
	lua_close(L);
	pthread_mutex_lock(&q_mu);
	q_stop = 1;
	pthread_cond_broadcast(&q_cond);
	pthread_mutex_unlock(&q_mu);
	pthread_join(d, NULL);
	return rc;
}
