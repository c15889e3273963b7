#!/usr/bin/env bash
# run.sh INTERPRETER SO_DIR - FusionPBX ring groups with the balancing
# strategy through the scripted switch, against the real ringlb.so, with a
# FusionPBX database in SQLite (schema.sql) and, for the two-switch test, a
# real redis-server started here on a free loopback port.
#   e.g. tests/fusionpbx/run.sh lua5.3 build/lua5.3
# The last line is "N passed, M failed".
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 <lua-interpreter> <so-dir>" >&2
  exit 2
fi
lua=$1 sodir=$2
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
. tests/lib.sh
command -v sqlite3 >/dev/null || { echo "FAIL: sqlite3 not installed (scripts/deps.sh)" >&2; exit 1; }
if [ ! -f "$sodir/ringlb.so" ]; then
  echo "$0: no $sodir/ringlb.so (build it first: make all-lua)" >&2
  exit 2
fi
sodir=$(cd "$sodir" && pwd)
unset LUA_PATH LUA_CPATH LUA_PATH_5_2 LUA_CPATH_5_2 LUA_PATH_5_3 LUA_CPATH_5_3 LUA_PATH_5_4 LUA_CPATH_5_4 2>/dev/null || true
tmp=$(mktemp -d)
trap 'stop_redis "$tmp"; rm -rf "$tmp"' EXIT
start_redis "$tmp"
echo "== $lua, $sodir/ringlb.so, $redis_url"
"$lua" "$here/run_tests.lua" "$sodir" "$redis_url"
