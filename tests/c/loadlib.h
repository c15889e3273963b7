/*
 * loadlib.h - how the C tests and benchmarks load ringlb.so: as a host
 * without Lua does, binding lazily (the Lua module's lua_* symbols are never
 * called), with every function typed by its declaration in ringlb.h.
 *
 *   static typeof(&ringlb_next) p_next;
 *   void *so = load_library(argv[1]);
 *   LOAD_SYM(so, next);
 */
#ifndef RINGLB_LOADLIB_H
#define RINGLB_LOADLIB_H

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include "ringlb.h"

/* load_library opens ringlb.so at path, or exits. */
static inline void *load_library(const char *path) {
	void *so = dlopen(path, RTLD_LAZY | RTLD_GLOBAL);
	if (so == NULL) {
		fprintf(stderr, "FAIL: dlopen %s: %s\n", path, dlerror());
		exit(1);
	}
	return so;
}

/* library_sym returns the symbol name of so, or exits. */
static inline void *library_sym(void *so, const char *name) {
	void *p = dlsym(so, name);
	if (p == NULL) {
		fprintf(stderr, "FAIL: %s: %s\n", name, dlerror());
		exit(1);
	}
	return p;
}

/* LOAD_SYM sets p_<fn> to ringlb_<fn> of so. */
#define LOAD_SYM(so, fn) (*(void **)&p_##fn = library_sym((so), "ringlb_" #fn))

#endif
