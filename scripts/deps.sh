#!/usr/bin/env bash
# deps.sh [test | lua FLAVOUR...] - install the Debian 12 packages that ringlb
# needs, if any are missing, saying what it installs and as it goes.
#   test (the default): what `make test` needs: Lua 5.1-5.4 and LuaJIT with
#     headers (the module is built and tested per Lua version), redis-server
#     and redis-tools (the Redis tests start their own servers), prometheus
#     (the dashboard check starts its own; Debian may also enable its
#     service), lintian (the package check), libxml2-utils (xmllint, the
#     configuration check), sqlite3 (the FusionPBX tests' database),
#     gcc/make/pkg-config.
#   lua FLAVOUR...: what building and running one flavour needs (make build,
#     make demo): the compiler, that Lua's interpreter and headers. FLAVOUR
#     is 5.1, 5.2, 5.3, 5.4 or jit.
# Go 1.26 must already be installed.
set -euo pipefail
. "$(dirname "$0")/flavour.sh"
base=(gcc make pkg-config)
lua_pkgs() { # lua_pkgs FLAVOUR: its interpreter and headers
  flavour "$1" && echo "$lua_pkgs"
}
what=${1:-test}
case "$what" in
  test)
    pkgs=("${base[@]}" procps util-linux redis-server redis-tools sqlite3 prometheus lintian libxml2-utils)
    for v in $LUA_FLAVOURS; do read -ra p <<<"$(lua_pkgs "$v")"; pkgs+=("${p[@]}"); done
    why="make test" ;;
  lua)
    shift
    [ $# -gt 0 ] || { echo "usage: deps.sh lua FLAVOUR..." >&2; exit 2; }
    pkgs=("${base[@]}")
    for v in "$@"; do p=$(lua_pkgs "$v") || exit 2; read -ra p <<<"$p"; pkgs+=("${p[@]}"); done
    why="Lua $*" ;;
  *) echo "usage: deps.sh [test | lua FLAVOUR...]" >&2; exit 2 ;;
esac
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
start=$SECONDS
echo "deps.sh: $why needs ${missing[*]}: installing them with apt-get (and what they depend on)"
echo "deps.sh: apt-get update"
$sudo apt-get update -qq
# Debian starts a redis service on install where it can; the tests never use
# it (they start their own servers on free ports).
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" 2>&1 | tee "$log" |
  awk '/^Setting up / { print "deps.sh:   set up " $3; fflush() }'; then
  tail -n 20 "$log" >&2
  echo "deps.sh: apt-get install failed" >&2
  exit 1
fi
echo "deps.sh: installed in $((SECONDS - start)) s"
