/*
 * two_states.c SO_DIR - a C host like mod_lua: each "call" gets its own
 * lua_State that requires ringlb, runs, and is closed. State opened in one
 * lua_State must be seen by the others, because it lives in Go, not Lua.
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <string.h>

static int failures, checks;

/* run executes code in L and returns its first result as a string. */
static const char *run(lua_State *L, const char *code, char *buf, size_t len) {
	if (luaL_loadstring(L, code) != 0 || lua_pcall(L, 0, 1, 0) != 0) {
		snprintf(buf, len, "error: %s", lua_tostring(L, -1));
	} else {
		const char *s = lua_tostring(L, -1);
		snprintf(buf, len, "%s", s ? s : "nil");
	}
	lua_pop(L, 1);
	return buf;
}

static lua_State *new_call(const char *so_dir) {
	lua_State *L = luaL_newstate();
	luaL_openlibs(L);
	char code[512];
	snprintf(code, sizeof code,
	         "package.cpath = '%s/?.so'; ringlb = require 'ringlb';"
	         "b = assert(ringlb.open('two-states', { capacity = 5 }))",
	         so_dir);
	if (luaL_dostring(L, code) != 0) {
		fprintf(stderr, "setup: %s\n", lua_tostring(L, -1));
		failures++;
	}
	return L;
}

static void expect(lua_State *L, const char *code, const char *want) {
	char buf[256];
	run(L, code, buf, sizeof buf);
	if (strcmp(buf, want) != 0) {
		fprintf(stderr, "FAIL %s: want %s, got %s\n", code, want, buf);
		failures++;
	} else {
		checks++;
	}
}

int main(int argc, char **argv) {
	if (argc != 2) {
		fprintf(stderr, "usage: %s SO_DIR\n", argv[0]);
		return 2;
	}
	lua_State *a = new_call(argv[1]);
	lua_State *b = new_call(argv[1]);
	expect(a, "return tostring(b:acquire('user/1001', 'call-a'))", "true");
	expect(b, "return tostring(b:load('user/1001'))", "1");
	expect(b, "return b:next({'user/1001', 'user/1002'}, 'call-b')", "user/1002");
	lua_close(a); /* the call ends; its module is dlclosed but Go state stays */
	lua_State *c = new_call(argv[1]);
	expect(c, "return tostring(b:load('user/1001'))", "1");
	expect(c, "return tostring(b:release('user/1001', 'call-a'))", "true");
	expect(b, "return tostring(b:load('user/1001'))", "0");
	expect(b, "return tostring(b:release('user/1002', 'call-b'))", "true");
	expect(c, "return tostring(b:load('user/1002'))", "0");
	lua_close(b);
	lua_close(c);
	printf("c two_states: %d passed, %d failed\n", checks, failures);
	return failures == 0 ? 0 : 1;
}
