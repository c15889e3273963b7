#!/usr/bin/env bash
# run.sh [FLAVOUR] - tests of lua/ringlb_admin.lua (the fs_cli admin
# script) under the FLAVOUR's interpreter and build of ringlb.so.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
use_flavour "${1:-}"
echo "== $lua_interp ($so_dir)"
"$lua_interp" tests/ops/admin_test.lua "$so_dir"
