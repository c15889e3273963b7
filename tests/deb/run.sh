#!/usr/bin/env bash
# run.sh [FLAVOUR] - the Debian package of the Lua FLAVOUR (default 5.3) as
# an operator uses it: build it (make deb), check it with lintian (no error,
# no warning), install it with dpkg -i (its post-install text says what
# /etc/freeswitch lacks, changing nothing), load the installed module with
# that Lua from its installed path and use it, run the installed ringlbctl,
# install another flavour's package (dpkg refuses it while one is installed,
# apt replaces the one), then remove the package and check that nothing of
# it is left. Needs root (CI runs as root).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "$(id -u)" -ne 0 ]; then
  if [ -n "${CI:-}" ]; then echo "FAIL: the package test needs root" >&2; exit 1; fi
  echo "SKIPPED: the package test needs root (dpkg -i)"; exit 0
fi
installed() { dpkg-query -W -f='${Package} ${Status}\n' 'ringlb*' 2>/dev/null | grep "install ok installed" | cut -d' ' -f1; }
if [ -n "$(installed)" ] && [ -z "${CI:-}" ]; then
  echo "SKIPPED: $(installed | tr '\n' ' ')is installed here; the test would remove it"; exit 0
fi
passed=0 failed=0
check() { # check DESCRIPTION COMMAND...
  if "${@:2}"; then passed=$((passed + 1)); echo "ok   $1"; else failed=$((failed + 1)); echo "FAIL $1"; fi
}
# The post-install step reads /etc/freeswitch: give it one to read, if this
# machine has none, and take it away after.
made_etc=
tmp=$(mktemp -d)
cleanup() { if [ -n "$made_etc" ]; then rm -rf /etc/freeswitch; fi; rm -rf "$tmp"; }
trap cleanup EXIT

. scripts/flavour.sh
first=${1:-${LUA:-5.3}}
other=5.4
[ "$first" = 5.4 ] && other=5.3
flavour "$other"
pkg2=ringlb-$lua_flavour
flavour "$first"
pkg=ringlb-$lua_flavour
deb_of() { scripts/deb.sh "$1" | sed -n 's/^built //p'; }
deb=$(deb_of "$first")
version=$(build/deb/ringlbctl --version | sed -n 's/^ringlbctl //p')
check "the package is $pkg, version $version ($deb)" test "$deb" = "build/${pkg}_${version}_amd64.deb" -a -f "$deb"
echo "$(du -k "$deb" | cut -f1) KiB"

lint=$(lintian --fail-on error,warning "$deb" 2>&1) && lint_ok=true || lint_ok=false
grep -v 'running with root privileges' <<<"$lint" || true
check "lintian: no error, no warning" $lint_ok
control=$(dpkg-deb -f "$deb")
echo "$control" | grep -E '^(Depends|Provides|Conflicts|Enhances):'
check "Depends: a versioned libc6 and the Lua that mod_lua links" grep -qE "^Depends: libc6 \\(>= 2\\.[0-9]+\\), ${lua_runtime//./\\.}\$" <<<"$control"
check "the flavours exclude each other (Provides/Conflicts/Replaces: ringlb)" \
  test "$(grep -cE '^(Provides|Conflicts|Replaces): ringlb$' <<<"$control")" -eq 3
dpkg-deb -x "$deb" "$tmp/root"
for f in usr/lib/freeswitch/lua/ringlb.so usr/bin/ringlbctl usr/bin/ringlb-fusionpbx; do
  check "$f is stripped" sh -c "! readelf -S '$tmp/root/$f' | grep -qE '\.symtab|\.debug_'"
done

if [ ! -e /etc/freeswitch ]; then
  made_etc=1
  mkdir -p /etc/freeswitch/autoload_configs
  printf '<configuration name="lua.conf" description="LUA Configuration">\n  <settings>\n  </settings>\n</configuration>\n' \
    >/etc/freeswitch/autoload_configs/lua.conf.xml
fi
etc_before=$(find /etc/freeswitch -type f -print0 | sort -z | xargs -0 md5sum)
out=$(dpkg -i "$deb" 2>&1) && ok=true || ok=false
echo "$out"
check "dpkg -i $deb" $ok
check "dpkg -i left /etc/freeswitch as it was" test "$etc_before" = "$(find /etc/freeswitch -type f -print0 | sort -z | xargs -0 md5sum)"
if [ -n "$made_etc" ]; then
  check "the post-install text shows the lines lua.conf.xml lacks" \
    grep -qF '<param name="module-directory" value="/usr/lib/freeswitch/lua/?.so;;"/>' <<<"$out"
  check "the post-install text says how to add them" grep -qF '/usr/share/ringlb/install-conf.sh /etc/freeswitch' <<<"$out"
fi
doc=/usr/share/doc/$pkg
files=(/usr/lib/freeswitch/lua/ringlb.so /usr/share/freeswitch/scripts/ringlb/ring.lua
  /usr/share/freeswitch/scripts/ringlb_ring.lua /usr/share/freeswitch/scripts/ringlb_admin.lua
  /usr/bin/ringlbctl /usr/bin/ringlb-fusionpbx /usr/lib/x86_64-linux-gnu/lua/$lua_abi/ringlb.so
  /usr/share/freeswitch/scripts/ringlb/fusionpbx.lua
  /usr/share/man/man1/ringlbctl.1.gz /usr/share/man/man1/ringlb-fusionpbx.1.gz "$doc/README.Debian" "$doc/copyright"
  "$doc/changelog.gz" "$doc/grafana-ringlb.json" /usr/share/ringlb/install-conf.sh
  /usr/share/ringlb/freeswitch-conf/autoload_configs/lua.conf.xml
  "$doc/examples/freeswitch-conf/autoload_configs/lua.conf.xml")
for f in "${files[@]}"; do check "installed $f" test -e "$f"; done
out=$(cd / && env -u LUA_CPATH -u "LUA_CPATH_${lua_abi/./_}" "$lua_interp" -e '
  package.cpath = "/usr/lib/freeswitch/lua/?.so"
  package.path = "/usr/share/freeswitch/scripts/?.lua"
  local ringlb = require "ringlb"
  local b = assert(ringlb.open("deb-test"))
  local d = assert(b:next({ "user/1001", "user/1002" }, "call-1"))
  assert(b:load(d) == 1 and b:release(d, "call-1") and b:load(d) == 0)
  assert(require("ringlb.ring").find)
  print("loaded " .. ringlb._NAME .. " " .. ringlb._VERSION .. ", chose " .. d)' 2>&1) || true
echo "$out"
check "the installed module loads and balances under $lua_interp" grep -q "^loaded ringlb " <<<"$out"
check "ringlb._VERSION is the package's version" grep -q "^loaded ringlb $version," <<<"$out"
# FusionPBX's lua.conf.xml sets no module-directory: mod_lua keeps Lua's
# default cpath, where the package links the module.
out=$(cd / && env -u LUA_CPATH -u "LUA_CPATH_${lua_abi/./_}" "$lua_interp" -e '
  package.path = "/usr/share/freeswitch/scripts/?.lua"
  freeswitch = { getGlobalVariable = function() end }
  print("found " .. require("ringlb")._NAME .. " " .. require("ringlb.fusionpbx")._NAME)' 2>&1) || true
check "the module is found on Lua's default cpath (FusionPBX's mod_lua): $out" grep -q "^found ringlb ringlb.fusionpbx" <<<"$out"
check "the installed ringlbctl runs" sh -c '/usr/bin/ringlbctl help >/dev/null 2>&1'
check "ringlbctl --version is the package's version" test "$(/usr/bin/ringlbctl --version)" = "ringlbctl $version"
for m in ringlbctl ringlb-fusionpbx; do
  check "the man page of $m reads" sh -c "man -l /usr/share/man/man1/$m.1.gz 2>&1 >/dev/null | grep -q . && exit 1 || exit 0"
done
# Every flag in ringlb-fusionpbx's usage is in its man page (ringlbctl's
# are checked by its go test).
flags=$(/usr/bin/ringlb-fusionpbx -h 2>&1 | grep -oE '^  -[a-z]+' | tr -d ' ' || true)
missing=$(for f in $flags; do zcat /usr/share/man/man1/ringlb-fusionpbx.1.gz | grep -qF ".BI \\-${f#-} " || echo "$f"; done)
check "ringlb-fusionpbx(1) describes every flag of its usage ($(echo $flags); missing: ${missing:-none})" test -n "$flags" -a -z "$missing"

# The flavours install the same files: dpkg refuses a second one, apt
# replaces the installed one.
deb2=$(deb_of "$other")
check "each flavour has its own file name ($deb2)" test "$deb2" = "build/${pkg2}_${version}_amd64.deb"
out=$(dpkg -i "$deb2" 2>&1) && ok=false || ok=true
check "dpkg -i $deb2 is refused while $pkg is installed" $ok
check "dpkg says why: the conflict" grep -q "conflicting packages - not installing $pkg2" <<<"$out"
check "$pkg still installed, alone" test "$(installed | tr '\n' ' ')" = "$pkg "
check "apt-get install ./$deb2 replaces $pkg" \
  sh -c "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends './$deb2' >/dev/null 2>&1"
check "$pkg2 is the one installed" test "$(installed | tr '\n' ' ')" = "$pkg2 "
check "dpkg -r $pkg2" sh -c "dpkg -r $pkg2 >/dev/null"
for f in "${files[@]}" "/usr/share/doc/$pkg2"; do check "removed $f" test ! -e "$f"; done
check "no package left" test -z "$(installed)"
echo "deb: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
