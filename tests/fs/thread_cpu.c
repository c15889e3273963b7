/*
 * thread_cpu.c - a Lua module for the switch tests only (tests/fs/ring_timed.lua):
 * package.loadlib(path, "luaopen_thread_cpu")() returns a function giving the
 * CPU time of the calling thread so far, in nanoseconds (CLOCK_THREAD_CPUTIME_ID),
 * which Lua's os.clock (the whole process) cannot. Built by tests/fs/cpu.sh
 * with TIMED=1:
 *   gcc -O2 -shared -fPIC -I/usr/include/lua5.3 -o thread_cpu.so thread_cpu.c
 */
#include <lauxlib.h>
#include <lua.h>
#include <time.h>

static int thread_ns(lua_State *L) {
	struct timespec t;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) != 0)
		return luaL_error(L, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
	lua_pushinteger(L, (lua_Integer)t.tv_sec * 1000000000 + t.tv_nsec);
	return 1;
}

int luaopen_thread_cpu(lua_State *L) {
	lua_pushcfunction(L, thread_ns);
	return 1;
}
