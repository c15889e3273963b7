/*
 * swigrace.c - does mod_lua's SWIG set-up break when two threads create
 * their first Lua state at once?
 *
 * Every Lua state mod_lua creates (lua_init in mod_lua.cpp) calls
 * luaopen_freeswitch, whose SWIG_init runs SWIG_InitializeModule and
 * SWIG_PropagateClientData. Those build process-wide cast lists once,
 * behind a plain `if (swig_module.next == 0)` and a plain `static int
 * init_run`: no lock. This program loads the switch's own mod_lua.so (and
 * through it libfreeswitch and liblua5.3, as the switch has them), makes
 * THREADS Lua states, and has THREADS threads call luaopen_freeswitch on
 * them at the same moment (or one after the other with --serial). Then it
 * walks every cast list SWIG built, bounded, and reports a list that loops.
 *
 *   swigrace MOD_LUA_SO [THREADS] [--serial | --convert]
 * With --convert the states are all set up one after the other, and then
 * the threads make the first calls on a session object at once
 * (freeswitch.Session():ready()): SWIG's type check moves the cast it
 * matched to the front of its list, also without a lock, the first time.
 * Exit: 0 the lists are sound; 3 a list loops (the hang the switch shows:
 * SWIG_PropagateClientData's `while (equiv)` never ends) or lost an entry; a
 * process that hangs is killed by the caller's timeout.
 * Build: gcc -O1 -pthread -I/usr/include/lua5.3 swigrace.c -o swigrace -llua5.3 -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

/* The parts of SWIG's runtime types (swigrun.swg) this walks. */
typedef struct swig_type_info swig_type_info;
typedef struct swig_cast_info {
	swig_type_info *type;
	void *(*converter)(void *, int *);
	struct swig_cast_info *next;
	struct swig_cast_info *prev;
} swig_cast_info;
struct swig_type_info {
	const char *name;
	const char *str;
	void *dcast;
	swig_cast_info *cast;
	void *clientdata;
	int owndata;
};
typedef struct swig_module_info {
	swig_type_info **types;
	size_t size;
	struct swig_module_info *next;
	swig_type_info **type_initial;
	swig_cast_info **cast_initial;
	void *clientdata;
} swig_module_info;

#define MAXT 64
static int (*open_fs)(lua_State *);
static lua_State *states[MAXT];
static atomic_int ready, go;

static int convert;

static void *run(void *arg) {
	lua_State *L = arg;
	atomic_fetch_add(&ready, 1);
	while (!atomic_load(&go))
		; /* spin so that every thread starts within a few ns of the others */
	if (convert) {
		if (luaL_dostring(L, "return freeswitch.Session():ready()") != 0)
			fprintf(stderr, "lua: %s\n", lua_tostring(L, -1));
	} else {
		open_fs(L);
	}
	return NULL;
}

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: %s MOD_LUA_SO [THREADS] [--serial]\n", argv[0]);
		return 2;
	}
	int n = argc > 2 ? atoi(argv[2]) : 2;
	int serial = argc > 3 && strcmp(argv[3], "--serial") == 0;
	convert = argc > 3 && strcmp(argv[3], "--convert") == 0;
	if (n < 1 || n > MAXT)
		n = 2;
	void *h = dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL);
	if (!h) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 2;
	}
	open_fs = (int (*)(lua_State *))dlsym(h, "luaopen_freeswitch");
	if (!open_fs) {
		fprintf(stderr, "no luaopen_freeswitch in %s\n", argv[1]);
		return 2;
	}
	for (int i = 0; i < n; i++) {
		states[i] = luaL_newstate();
		luaL_openlibs(states[i]);
	}
	pthread_t t[MAXT];
	if (convert) {
		for (int i = 0; i < n; i++)
			open_fs(states[i]);
	} else if (serial) {
		open_fs(states[0]); /* the first state alone, as a startup script makes it */
		atomic_store(&go, 1);
	}
	for (int i = serial ? 1 : 0; i < n; i++)
		pthread_create(&t[i], NULL, run, states[i]);
	while (atomic_load(&ready) < n - serial)
		;
	atomic_store(&go, 1);
	for (int i = serial ? 1 : 0; i < n; i++)
		pthread_join(t[i], NULL);
	/* SWIG keeps its module in the Lua registry under this key (luarun.swg). */
	lua_State *L = states[0];
	lua_pushstring(L, "swig_runtime_data_type_pointer4");
	lua_rawget(L, LUA_REGISTRYINDEX);
	swig_module_info *m = lua_touserdata(L, -1);
	if (m == NULL) {
		fprintf(stderr, "no SWIG module in the registry\n");
		return 2;
	}
	for (size_t i = 0; i < m->size; i++) {
		int len = 0, want = 0;
		for (swig_cast_info *c = m->type_initial[i] == m->types[i] ? m->cast_initial[i] : NULL; c && c->type; c++)
			want++;
		for (swig_cast_info *c = m->types[i]->cast; c != NULL; c = c->next)
			if (++len > 10000) {
				printf("LOOP: the cast list of %s never ends\n", m->types[i]->name);
				return 3;
			}
		if (want && len != want) {
			printf("LOST: the cast list of %s has %d entries, not %d\n", m->types[i]->name, len, want);
			return 3;
		}
	}
	printf("ok: %zu types, every cast list ends\n", m->size);
	return 0;
}
