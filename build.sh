#!/usr/bin/env bash
# build.sh [LUA] - build ringlb.so for one Lua flavour into build/<flavour>/.
# LUA is 5.1, 5.2, 5.3 (default: FreeSWITCH 1.10.10+ on Debian 12), 5.4 or jit.
# The module is built against that version's headers and never links liblua:
# FreeSWITCH's mod_lua provides the lua_* symbols (RTLD_GLOBAL).
set -euo pipefail
cd "$(dirname "$0")"
lua=${1:-${LUA:-5.3}}
case "$lua" in
  5.1|5.2|5.3|5.4) inc=/usr/include/lua$lua; out=build/lua$lua ;;
  jit|luajit) inc=/usr/include/luajit-2.1; out=build/luajit ;;
  *) echo "build.sh: unknown Lua flavour '$lua' (want 5.1, 5.2, 5.3, 5.4 or jit)" >&2; exit 2 ;;
esac
if [ ! -f "$inc/lua.h" ]; then
  echo "build.sh: $inc/lua.h not found; install the headers (see .ci/run)" >&2
  exit 1
fi
mkdir -p "$out"
# Go's build cache keys the C compile on the package directory's files and
# the flags, not on files that shim.c #includes from cgo/: without this, an
# edit to cgo/*.c alone would reuse the old object. The hash of the shim's
# sources, passed as a define, makes every such edit a new cache key.
shim_hash=$(cat cgo/*.c cgo/*.h | sha256sum | cut -c1-16)
# -I for the chosen headers comes first, so it wins over the 5.3 default in exports.go.
CGO_ENABLED=1 CGO_CFLAGS="-I$inc -DRINGLB_SHIM_HASH=$shim_hash ${CGO_CFLAGS:-}" \
  go build -buildmode=c-shared -trimpath -o "$out/ringlb.so" .
rm -f "$out/ringlb.h" # cgo's generated header; the public one is cgo/ringlb.h
cp cgo/ringlb.h "$out/ringlb.h"
echo "built $out/ringlb.so"
