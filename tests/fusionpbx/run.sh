#!/usr/bin/env bash
# run.sh [FLAVOUR] - FusionPBX ring groups with the balancing strategy
# through the scripted switch, against the FLAVOUR's ringlb.so, with a
# FusionPBX database in SQLite (schema.sql) and, for the two-switch test, a
# real redis-server started here on a free loopback port.
# The last line is "N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/../.."
here=$PWD/tests/fusionpbx
. tests/lib.sh
use_flavour "${1:-}"
lua=$lua_interp sodir=$so_dir
command -v sqlite3 >/dev/null || { echo "FAIL: sqlite3 not installed (scripts/deps.sh)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'stop_redis "$tmp"; rm -rf "$tmp"' EXIT
start_redis "$tmp"
echo "== $lua, $sodir/ringlb.so, $redis_url"
"$lua" "$here/run_tests.lua" "$sodir" "$redis_url"
