#!/usr/bin/env bash
# run.sh - the Debian package as an operator uses it: build it (make deb),
# install it with dpkg -i, load the installed module with lua5.3 from its
# installed path and use it, run the installed ringlbctl, then remove the
# package and check that nothing of it is left. Needs root (CI runs as root).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "$(id -u)" -ne 0 ]; then
  if [ -n "${CI:-}" ]; then echo "FAIL: the package test needs root" >&2; exit 1; fi
  echo "SKIPPED: the package test needs root (dpkg -i)"; exit 0
fi
if dpkg-query -W -f='${Status}' ringlb 2>/dev/null | grep -q "install ok installed" && [ -z "${CI:-}" ]; then
  echo "SKIPPED: a ringlb package is installed here; the test would remove it"; exit 0
fi
passed=0 failed=0
check() { # check DESCRIPTION COMMAND...
  if "${@:2}"; then passed=$((passed + 1)); echo "ok   $1"; else failed=$((failed + 1)); echo "FAIL $1"; fi
}
scripts/deb.sh 5.3
deb=$(ls build/ringlb_*_amd64.deb)
check "dpkg -i $deb" dpkg -i "$deb"
files=(/usr/lib/freeswitch/lua/ringlb.so /usr/share/freeswitch/scripts/ringlb/ring.lua
  /usr/share/freeswitch/scripts/ringlb_ring.lua /usr/share/freeswitch/scripts/ringlb_admin.lua
  /usr/bin/ringlbctl /usr/bin/ringlb-fusionpbx /usr/lib/x86_64-linux-gnu/lua/5.3/ringlb.so
  /usr/share/freeswitch/scripts/ringlb/fusionpbx.lua /usr/share/doc/ringlb/README.Debian
  /usr/share/doc/ringlb/examples/freeswitch-conf/autoload_configs/lua.conf.xml)
for f in "${files[@]}"; do check "installed $f" test -e "$f"; done
out=$(cd / && env -u LUA_CPATH -u LUA_CPATH_5_3 lua5.3 -e '
  package.cpath = "/usr/lib/freeswitch/lua/?.so"
  package.path = "/usr/share/freeswitch/scripts/?.lua"
  local ringlb = require "ringlb"
  local b = assert(ringlb.open("deb-test"))
  local d = assert(b:next({ "user/1001", "user/1002" }, "call-1"))
  assert(b:load(d) == 1 and b:release(d, "call-1") and b:load(d) == 0)
  assert(require("ringlb.ring").find)
  print("loaded " .. ringlb._NAME .. " " .. ringlb._VERSION .. ", chose " .. d)' 2>&1) || true
echo "$out"
check "the installed module loads and balances under lua5.3" grep -q "^loaded ringlb " <<<"$out"
# FusionPBX's lua.conf.xml sets no module-directory: mod_lua keeps Lua's
# default cpath, where the package links the module.
out=$(cd / && env -u LUA_CPATH -u LUA_CPATH_5_3 lua5.3 -e '
  package.path = "/usr/share/freeswitch/scripts/?.lua"
  freeswitch = { getGlobalVariable = function() end }
  print("found " .. require("ringlb")._NAME .. " " .. require("ringlb.fusionpbx")._NAME)' 2>&1) || true
check "the module is found on Lua's default cpath (FusionPBX's mod_lua): $out" grep -q "^found ringlb ringlb.fusionpbx" <<<"$out"
check "the installed ringlbctl runs" sh -c '/usr/bin/ringlbctl help >/dev/null 2>&1'
check "dpkg -r ringlb" sh -c 'dpkg -r ringlb >/dev/null'
for f in "${files[@]}"; do check "removed $f" test ! -e "$f"; done
check "no package left" sh -c '! dpkg-query -W -f="\${Status}" ringlb 2>/dev/null | grep -q "install ok installed"'
echo "deb: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
