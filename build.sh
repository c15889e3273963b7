#!/usr/bin/env bash
# build.sh [LUA] - build ringlb.so for one Lua flavour into build/<flavour>/.
# LUA is 5.1, 5.2, 5.3 (default: FreeSWITCH 1.10.10+ on Debian 12), 5.4 or jit.
# The module is built against that version's headers and never links liblua:
# FreeSWITCH's mod_lua provides the lua_* symbols (RTLD_GLOBAL).
set -euo pipefail
cd "$(dirname "$0")"
lua=${1:-${LUA:-5.3}}
case "$lua" in
  5.1|5.2|5.3|5.4) inc=/usr/include/lua$lua; out=build/lua$lua; tag=lua${lua/./} ;;
  jit|luajit) inc=/usr/include/luajit-2.1; out=build/luajit; tag=luajit ;;
  *) echo "build.sh: unknown Lua flavour '$lua' (want 5.1, 5.2, 5.3, 5.4 or jit)" >&2; exit 2 ;;
esac
if [ ! -f "$inc/lua.h" ]; then
  echo "build.sh: $inc/lua.h not found; install the headers (scripts/deps.sh)" >&2
  exit 1
fi
mkdir -p "$out"
# The build tag picks the Lua headers (cgo/shim.go); the C files are cgo
# sources of the cgo package, so Go's build cache sees every edit.
CGO_ENABLED=1 go build -tags "$tag" -buildmode=c-shared -trimpath -o "$out/ringlb.so" .
rm -f "$out/ringlb.h" # cgo's generated header; the public one is cgo/ringlb.h
cp cgo/ringlb.h "$out/ringlb.h"
echo "built $out/ringlb.so"
