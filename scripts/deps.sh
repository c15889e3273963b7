#!/usr/bin/env bash
# deps.sh - install the Debian 12 packages that building and testing ringlb
# need, if any are missing: Lua 5.1-5.4 and LuaJIT with headers (the module is
# built per Lua version), redis-server (integration tests start their own),
# sqlite3 (the FusionPBX tests' database), gcc/make/pkg-config. Go 1.26 must already be installed.
set -euo pipefail
pkgs=(gcc make pkg-config procps util-linux
      lua5.1 lua5.2 lua5.3 lua5.4 luajit
      liblua5.1-0-dev liblua5.2-dev liblua5.3-dev liblua5.4-dev libluajit-5.1-dev
      redis-server redis-tools sqlite3)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "deps.sh: installing ${missing[*]}"
sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# Debian starts a redis service on install where it can; the tests never use
# it (they start their own servers on free ports).
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
