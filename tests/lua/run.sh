#!/bin/sh
# Ring-group tests against a fresh ringlb.so build.
#   tests/lua/run.sh <lua-interpreter> <so-dir>
#   e.g. tests/lua/run.sh lua5.3 build/lua5.3
# Exits non-zero on any failure; the last line is "N passed, M failed".
set -eu
if [ $# -ne 2 ]; then
	echo "usage: $0 <lua-interpreter> <so-dir>" >&2
	exit 2
fi
lua=$1
sodir=$2
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -f "$sodir/ringlb.so" ]; then
	echo "$0: no $sodir/ringlb.so (build it first: make all-lua)" >&2
	exit 2
fi
sodir=$(cd "$sodir" && pwd)
# Keep the environment from adding search paths of its own.
unset LUA_PATH LUA_CPATH LUA_PATH_5_2 LUA_CPATH_5_2 LUA_PATH_5_3 LUA_CPATH_5_3 LUA_PATH_5_4 LUA_CPATH_5_4 2>/dev/null || true
echo "== $lua, $sodir/ringlb.so"
exec "$lua" "$here/run_ring_tests.lua" "$sodir"
