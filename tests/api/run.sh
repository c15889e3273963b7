#!/usr/bin/env bash
# run.sh INTERPRETER SO_DIR - the Lua API tests under one interpreter.
set -euo pipefail
cd "$(dirname "$0")/../.."
interp=$1 so_dir=$2
command -v "$interp" >/dev/null || { echo "run.sh: $interp not installed" >&2; exit 1; }
# The module must take the lua_* symbols from its host, never link a Lua.
if readelf -d "$so_dir/ringlb.so" | grep -q 'NEEDED.*lua'; then
  echo "FAIL: $so_dir/ringlb.so links a Lua library" >&2; exit 1
fi
# Both dispatch paths must behave the same: Go called directly from this
# (non-realtime) thread, and handed to ringlb's worker threads.
for mode in auto workers; do
  echo "== $interp ($so_dir, RINGLB_DISPATCH=$mode)"
  RINGLB_DISPATCH=$mode LUA_CPATH= LUA_PATH= "$interp" tests/api/api_test.lua "$so_dir"
  if [ "$interp" = luajit ]; then
    # The plain C ABI from LuaJIT's FFI.
    RINGLB_DISPATCH=$mode luajit tests/api/ffi_test.lua "$so_dir"
  fi
done
