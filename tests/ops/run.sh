#!/usr/bin/env bash
# run.sh INTERPRETER SO_DIR - tests of lua/ringlb_admin.lua (the fs_cli admin
# script) under one interpreter, with that interpreter's build of ringlb.so.
set -euo pipefail
cd "$(dirname "$0")/../.."
interp=$1 so_dir=$2
command -v "$interp" >/dev/null || { echo "run.sh: $interp not installed" >&2; exit 1; }
echo "== $interp ($so_dir)"
LUA_CPATH= LUA_PATH= "$interp" tests/ops/admin_test.lua "$so_dir"
