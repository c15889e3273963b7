#!/usr/bin/env bash
# build.sh [LUA] - build ringlb.so for one Lua flavour into build/<flavour>/.
# LUA is 5.1, 5.2, 5.3 (default: FreeSWITCH 1.10.10+ on Debian 12), 5.4 or jit.
# The module is built against that version's headers and never links liblua:
# FreeSWITCH's mod_lua provides the lua_* symbols (RTLD_GLOBAL).
set -euo pipefail
cd "$(dirname "$0")"
. scripts/flavour.sh
flavour "${1:-${LUA:-5.3}}" || exit 2
if [ ! -f "$lua_inc/lua.h" ]; then
  echo "build.sh: $lua_inc/lua.h not found; install the headers (scripts/deps.sh lua ${1:-${LUA:-5.3}})" >&2
  exit 1
fi
mkdir -p "$so_dir"
# The build tag picks the Lua headers (cgo/shim.go); the C files are cgo
# sources of the cgo package, so Go's build cache sees every edit.
CGO_ENABLED=1 go build -tags "$lua_tag" -buildmode=c-shared -trimpath -o "$so_dir/ringlb.so" .
rm -f "$so_dir/ringlb.h" # cgo's generated header; the public one is cgo/ringlb.h
cp cgo/ringlb.h "$so_dir/ringlb.h"
echo "built $so_dir/ringlb.so"
