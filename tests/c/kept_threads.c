/*
 * kept_threads.c SO_DIR [THREADS [CALLS]] - what the Lua module keeps of
 * ringlb's answers (cgo/luamod_kept.c: opens, plans), from many host
 * threads at once, as FreeSWITCH's call threads use it: each call a fresh
 * lua_State that requires ringlb, opens its group's balancer, asks for its
 * ring's plan and takes and drops a hold, then is closed. The specs are
 * more than the module keeps, so kept plans are replaced while other
 * threads read them. Each thread checks that every plan is its spec's
 * (members, timeouts, a leg's variable, the dial string) and every open the
 * right balancer (its capacity). Exits 1 on any mismatch or error.
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *so_dir;
static int threads = 8, calls = 300;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int failures;

/* One call of thread t, number i: spec s of 100, balancer s % 4 (capacity
 * 1 + s % 4). Returns nil or the first mismatch. */
static const char *call_code =
    "local s, t, i = ...\n"
    "local ringlb = require 'ringlb'\n"
    "local cap = 1 + s % 4\n"
    "local b = ringlb.open('kept-threads-' .. (s % 4), { capacity = cap, tie = 'list' })\n"
    "if not b then return 'open failed' end\n"
    "local key = 'user/' .. (1000 + s)\n"
    "local p, err = ringlb.ring_plan({ mode = 'balancing', balancer = 'kept-threads-' .. (s % 4), timeout = 10 + s,\n"
    "  vars = { spec = tostring(s) }, members = { key, { key = 'user/9' .. s, timeout = 5,\n"
    "    legs = { { endpoint = 'loopback/' .. s, vars = { leg = 'L' .. s } } } } } })\n"
    "if not p then return 'plan: ' .. tostring(err) end\n"
    "if p.members[1].key ~= key or p.members[1].timeout ~= 10 + s or p.timeout ~= 10 + s then\n"
    "  return 'plan of another spec: ' .. tostring(p.members[1].key) .. ' for ' .. key end\n"
    "if p.members[2].legs[1].vars.leg ~= 'L' .. s or p.vars.spec ~= tostring(s) then return 'variables of another spec' end\n"
    "local want = '{ignore_early_media=true,originate_timeout=' .. (10 + s) .. ',spec=' .. s .. '}[ringlb_dest=' .. key .. ']' .. key\n"
    "if p.members[1].dial ~= want then return 'dial string ' .. tostring(p.members[1].dial) .. ', want ' .. want end\n"
    "local call = 't' .. t .. '-' .. i\n"
    "local dest = 'user/' .. t .. '-' .. i\n"
    "for n = 1, cap do if not b:acquire(dest, call .. '-' .. n) then return 'acquire ' .. n end end\n"
    "local got, _, code = b:next({ dest }, call .. '-x')\n"
    "if got ~= nil or code ~= 'at_capacity' then return 'capacity of another balancer: ' .. tostring(code) end\n"
    "for n = 1, cap do b:release(dest, call .. '-' .. n) end\n"
    "return nil\n";

static void fail(int t, int i, const char *what) {
	pthread_mutex_lock(&mu);
	if (failures++ < 10)
		fprintf(stderr, "FAIL: thread %d call %d: %s\n", t, i, what);
	pthread_mutex_unlock(&mu);
}

static void *worker(void *arg) {
	int t = (int)(long)arg;
	char path[600];
	snprintf(path, sizeof path, "package.cpath = '%s/?.so'", so_dir);
	for (int i = 0; i < calls; i++) {
		lua_State *L = luaL_newstate();
		luaL_openlibs(L);
		if (luaL_dostring(L, path) != 0 || luaL_loadstring(L, call_code) != 0) {
			fail(t, i, lua_tostring(L, -1));
			lua_close(L);
			continue;
		}
		lua_pushinteger(L, (t * 7 + i) % 100);
		lua_pushinteger(L, t);
		lua_pushinteger(L, i);
		if (lua_pcall(L, 3, 1, 0) != 0 || !lua_isnil(L, -1))
			fail(t, i, lua_tostring(L, -1));
		lua_close(L);
	}
	return NULL;
}

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: %s SO_DIR [THREADS [CALLS]]\n", argv[0]);
		return 2;
	}
	so_dir = argv[1];
	if (argc > 2)
		threads = atoi(argv[2]);
	if (argc > 3)
		calls = atoi(argv[3]);
	pthread_t th[64];
	if (threads < 1 || threads > 64 || calls < 1)
		return 2;
	for (int t = 0; t < threads; t++)
		pthread_create(&th[t], NULL, worker, (void *)(long)t);
	for (int t = 0; t < threads; t++)
		pthread_join(th[t], NULL);
	/* what was kept was used */
	lua_State *L = luaL_newstate();
	luaL_openlibs(L);
	char code[700];
	snprintf(code, sizeof code,
	         "package.cpath = '%s/?.so'; local k = require('ringlb')._kept(); return k.opens .. ' ' .. k.plans",
	         so_dir);
	double opens = 0, plans = 0;
	if (luaL_dostring(L, code) != 0 || sscanf(lua_tostring(L, -1), "%lf %lf", &opens, &plans) != 2)
		fail(-1, -1, "ringlb._kept()");
	lua_close(L);
	printf("%d threads x %d calls, 100 specs on 4 balancers: %d failures; answered from what was kept: %.0f opens, "
	       "%.0f plans\n",
	       threads, calls, failures, opens, plans);
	if (opens < 1 || plans < 1) {
		fprintf(stderr, "FAIL: nothing was answered from what the module kept\n");
		return 1;
	}
	return failures > 0;
}
