#!/usr/bin/env bash
# flavour.sh - what each Lua flavour ringlb builds for is called, in one
# place: build.sh, the Makefile, scripts/deb.sh, scripts/deps.sh, the test
# runners and bench/run.sh all read it.
#
#   . scripts/flavour.sh; flavour FLAVOUR   sets the variables below
#   scripts/flavour.sh FLAVOUR NAME         prints one of them (the Makefile)
#   scripts/flavour.sh all                  prints the flavours: $LUA_FLAVOURS
#
# FLAVOUR is 5.1, 5.2, 5.3, 5.4 or jit (luajit): the Lua that FreeSWITCH's
# mod_lua links. The variables:
#   lua_flavour   its name in paths and packages: lua5.3, luajit
#   so_dir        where build.sh puts its ringlb.so: build/lua5.3
#   lua_interp    its interpreter: lua5.3, luajit
#   lua_inc       its headers: /usr/include/lua5.3
#   lua_tag       the Go build tag that picks them (cgo/shim.go): lua53
#   lua_lib       its shared library, as dlopen names it: liblua5.3.so.0
#   lua_ldflags   how a C host links it: -llua5.3
#   lua_abi       the Lua version its modules are for (Lua's module directory): 5.3, 5.1
#   lua_name      as people write it: Lua 5.3, LuaJIT
#   lua_pkgs      the Debian packages of its interpreter and headers
#   lua_runtime   the Debian package of its shared library
flavour() {
  case "$1" in
    5.1 | 5.2 | 5.3 | 5.4)
      lua_flavour=lua$1 lua_interp=lua$1 lua_inc=/usr/include/lua$1 lua_tag=lua${1/./}
      lua_lib=liblua$1.so.0 lua_ldflags=-llua$1 lua_abi=$1 lua_name="Lua $1"
      lua_runtime=liblua$1-0 lua_pkgs="lua$1 liblua$1-dev"
      [ "$1" = 5.1 ] && lua_pkgs="lua5.1 liblua5.1-0-dev"
      ;;
    jit | luajit)
      lua_flavour=luajit lua_interp=luajit lua_inc=/usr/include/luajit-2.1 lua_tag=luajit
      lua_lib=libluajit-5.1.so.2 lua_ldflags=-lluajit-5.1 lua_abi=5.1 lua_name=LuaJIT
      lua_runtime=libluajit-5.1-2 lua_pkgs="luajit libluajit-5.1-dev"
      ;;
    *)
      echo "unknown Lua flavour '$1' (want 5.1, 5.2, 5.3, 5.4 or jit)" >&2
      return 2
      ;;
  esac
  so_dir=build/$lua_flavour
}

# The flavours ringlb is built and tested for.
LUA_FLAVOURS="5.1 5.2 5.3 5.4 jit"

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  if [ "$*" = all ]; then
    echo "$LUA_FLAVOURS"
    exit 0
  fi
  [ $# -eq 2 ] || { echo "usage: flavour.sh FLAVOUR NAME | all" >&2; exit 2; }
  flavour "$1"
  printf '%s\n' "${!2}"
fi
