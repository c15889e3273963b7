//go:build lua51 || lua52 || lua53 || lua54 || luajit

/*
 * luamod_chunks.c - ringlb's own Lua modules (require "ringlb.ring",
 * "ringlb.options", "ringlb.fusionpbx") compiled once per process instead of
 * once per call.
 *
 * mod_lua runs every call in a fresh lua_State, so every require reads and
 * compiles its file again: ringlb/ring.lua alone took about 300 µs of the
 * switch's CPU per group call, ten times what loading the same chunk as
 * bytecode takes (docs/benchmarks.md). luaopen_ringlb puts lm_searcher
 * in package.searchers (package.loaders in 5.1), right after the preload
 * searcher: for a module named "ringlb.*" it finds the file on package.path
 * as Lua's own searcher does, compiles it the first time and keeps the
 * bytecode (lua_dump, debug information kept, so errors still name the file
 * and line), and later loads that copy. The copy is this process's own,
 * made by the same Lua; an entry is used only while the file's device,
 * inode, size and modification time are those it was compiled from, so an
 * edited script is compiled anew at the next require. Other modules are
 * left to Lua's searchers.
 *
 * The cache is process-wide (a call's state is gone when the call ends), so
 * many threads use it at once: a mutex (priority inheritance, as the
 * worker queue's, for the switch's realtime threads) guards the table, and
 * a chunk is loaded outside it from a buffer counted as in use. It holds at
 * most CHUNKS entries of at most CHUNK_MAX bytes each.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dispatch.h"
#include "luamod.h"

enum { CHUNKS = 16, CHUNK_MAX = 1 << 20, PATH_MAX_LEN = 4096 };

#define PREFIX "ringlb."

/* A searcher's message: require adds the separator itself from 5.4 on. */
#if LUA_VERSION_NUM >= 504
#define MSG ""
#else
#define MSG "\n\t"
#endif

struct chunk {
	char *path;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	char *buf;
	size_t len;
	int refs;  /* loads under way from buf */
	int stale; /* out of the table: freed by the last load */
};

static pthread_mutex_t mu;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct chunk *table[CHUNKS]; /* mu */
static unsigned long hits, misses;  /* mu */

static void init(void) { ringlb_mutex_init_pi(&mu); }

static void chunk_free(struct chunk *c) {
	free(c->path);
	free(c->buf);
	free(c);
}

/* put_locked drops one use of c; requires mu held. */
static void put_locked(struct chunk *c) {
	if (--c->refs == 0 && c->stale)
		chunk_free(c);
}

/* unlink_locked takes table[i] out of the table; requires mu held. */
static void unlink_locked(int i) {
	struct chunk *c = table[i];
	table[i] = NULL;
	c->stale = 1;
	if (c->refs == 0)
		chunk_free(c);
}

static int same_file(const struct chunk *c, const struct stat *st) {
	return c->dev == st->st_dev && c->ino == st->st_ino && c->size == st->st_size &&
	       c->mtime.tv_sec == st->st_mtim.tv_sec && c->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* get returns the chunk compiled from path as st describes it, counted as
 * in use, or NULL. An entry of an older version of the file is dropped. */
static struct chunk *get(const char *path, const struct stat *st) {
	struct chunk *found = NULL;
	pthread_mutex_lock(&mu);
	for (int i = 0; i < CHUNKS; i++) {
		if (table[i] == NULL || strcmp(table[i]->path, path) != 0)
			continue;
		if (same_file(table[i], st)) {
			found = table[i];
			found->refs++;
		} else {
			unlink_locked(i);
		}
		break;
	}
	if (found != NULL)
		hits++;
	else
		misses++;
	pthread_mutex_unlock(&mu);
	return found;
}

/* keep stores c (not in use), replacing an entry of the same path, else
 * taking a free slot, else the first slot. */
static void keep(struct chunk *c) {
	pthread_mutex_lock(&mu);
	int at = -1;
	for (int i = 0; i < CHUNKS; i++) {
		if (table[i] != NULL && strcmp(table[i]->path, c->path) == 0) {
			at = i;
			break;
		}
		if (table[i] == NULL && at < 0)
			at = i;
	}
	if (at < 0)
		at = 0;
	if (table[at] != NULL)
		unlink_locked(at);
	table[at] = c;
	pthread_mutex_unlock(&mu);
}

struct dump {
	char *buf;
	size_t len, cap;
	int too_big;
};

static int writer(lua_State *L, const void *p, size_t n, void *ud) {
	(void)L;
	struct dump *d = ud;
	if (d->too_big || d->len + n > CHUNK_MAX) {
		d->too_big = 1;
		return 1;
	}
	if (d->len + n > d->cap) {
		size_t cap = d->cap ? d->cap : 16384;
		while (cap < d->len + n)
			cap *= 2;
		char *b = realloc(d->buf, cap);
		if (b == NULL) {
			d->too_big = 1;
			return 1;
		}
		d->buf = b;
		d->cap = cap;
	}
	memcpy(d->buf + d->len, p, n);
	d->len += n;
	return 0;
}

/* compile loads path from source onto the stack (or raises as require
 * does) and keeps its bytecode for the next states. */
static void compile(lua_State *L, const char *name, const char *path, const struct stat *st) {
	if (luaL_loadfile(L, path) != 0)
		luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name, path, lua_tostring(L, -1));
	struct dump d = {0};
#if LUA_VERSION_NUM >= 503
	int rc = lua_dump(L, writer, &d, 0);
#else
	int rc = lua_dump(L, writer, &d);
#endif
	struct chunk *c = NULL;
	if (rc == 0 && !d.too_big)
		c = calloc(1, sizeof *c);
	if (c != NULL)
		c->path = strdup(path);
	if (c == NULL || c->path == NULL) {
		free(c);
		free(d.buf);
		return; /* the function loaded from source serves this state */
	}
	c->dev = st->st_dev;
	c->ino = st->st_ino;
	c->size = st->st_size;
	c->mtime = st->st_mtim;
	c->buf = d.buf;
	c->len = d.len;
	keep(c);
}

/* find puts into out the first file of package.path (upvalue 1: the
 * package table) that name's templates name, and its stat; it returns 0
 * when there is none. */
static int find(lua_State *L, const char *name, char *out, struct stat *st) {
	char mod[256];
	size_t n = strlen(name);
	if (n >= sizeof mod)
		return 0;
	for (size_t i = 0; i <= n; i++)
		mod[i] = name[i] == '.' ? '/' : name[i];
	lua_getfield(L, lua_upvalueindex(1), "path");
	const char *path = lua_tostring(L, -1);
	int found = 0;
	for (const char *p = path; p != NULL && *p != '\0' && !found;) {
		const char *end = strchr(p, ';');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
		size_t o = 0;
		int fits = 1;
		for (size_t i = 0; i < len && fits; i++) {
			const char *s = p[i] == '?' ? mod : (const char[]){p[i], '\0'};
			size_t sl = strlen(s);
			if (o + sl >= PATH_MAX_LEN)
				fits = 0;
			else {
				memcpy(out + o, s, sl);
				o += sl;
			}
		}
		out[o] = '\0';
		if (fits && len > 0 && stat(out, st) == 0 && S_ISREG(st->st_mode))
			found = 1;
		p = end != NULL ? end + 1 : NULL;
	}
	lua_pop(L, 1);
	return found;
}

/* lm_searcher is the package searcher for ringlb's own modules: it returns
 * the module's chunk and its file name, or a message saying why not. */
static int lm_searcher(lua_State *L) {
	const char *name = luaL_checkstring(L, 1);
	if (strncmp(name, PREFIX, strlen(PREFIX)) != 0) {
		lua_pushliteral(L, MSG "not one of ringlb's modules (ringlb's bytecode cache)");
		return 1;
	}
	char path[PATH_MAX_LEN];
	struct stat st;
	if (!find(L, name, path, &st)) {
		lua_pushliteral(L, MSG "not found on package.path (ringlb's bytecode cache)");
		return 1;
	}
	pthread_once(&once, init);
	struct chunk *c = get(path, &st);
	if (c != NULL) {
		char chunkname[PATH_MAX_LEN + 1];
		chunkname[0] = '@';
		memcpy(chunkname + 1, path, strlen(path) + 1);
		int rc = luaL_loadbuffer(L, c->buf, c->len, chunkname);
		pthread_mutex_lock(&mu);
		put_locked(c);
		pthread_mutex_unlock(&mu);
		if (rc != 0)
			return lua_error(L); /* a copy made by this Lua: not expected */
	} else {
		compile(L, name, path, &st);
	}
	lua_pushstring(L, path);
	return 2;
}

/* lm_chunk_stats pushes { hits =, misses =, entries = } (ringlb._chunks()). */
LM_HIDDEN int lm_chunk_stats(lua_State *L) {
	pthread_once(&once, init);
	pthread_mutex_lock(&mu);
	unsigned long h = hits, m = misses;
	int n = 0;
	for (int i = 0; i < CHUNKS; i++)
		n += table[i] != NULL;
	pthread_mutex_unlock(&mu);
	static const char *const names[] = {"hits", "misses", "entries"};
	lm_push_counts(L, 3, names, (const double[]){(double)h, (double)m, (double)n});
	return 1;
}

/* lm_install_searcher puts lm_searcher into this state's searchers, after
 * the preload searcher, once. It never raises: without a package library
 * it does nothing. */
LM_HIDDEN void lm_install_searcher(lua_State *L) {
	lua_getglobal(L, "package");
	if (!lua_istable(L, -1)) {
		lua_pop(L, 1);
		return;
	}
#if LUA_VERSION_NUM >= 502
	lua_getfield(L, -1, "searchers");
#else
	lua_getfield(L, -1, "loaders");
#endif
	if (!lua_istable(L, -1)) {
		lua_pop(L, 2);
		return;
	}
	int n = (int)lm_rawlen(L, -1);
	for (int i = 1; i <= n; i++) {
		lua_rawgeti(L, -1, i);
		int ours = lua_tocfunction(L, -1) == lm_searcher;
		lua_pop(L, 1);
		if (ours) {
			lua_pop(L, 2);
			return;
		}
	}
	int at = n >= 1 ? 2 : 1;
	for (int i = n; i >= at; i--) {
		lua_rawgeti(L, -1, i);
		lua_rawseti(L, -2, i + 1);
	}
	lua_pushvalue(L, -2); /* the package table */
	lua_pushcclosure(L, lm_searcher, 1);
	lua_rawseti(L, -2, at);
	lua_pop(L, 2);
}
