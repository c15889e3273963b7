#!/usr/bin/env bash
# run.sh [FLAVOUR] - ring groups through the ring helper (lua/ringlb/ring.lua)
# and the entry scripts, driven by the scripted switch (fsmock.lua), against
# the FLAVOUR's ringlb.so. The last line is "N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
use_flavour "${1:-}"
echo "== $lua_interp, $so_dir/ringlb.so"
exec "$lua_interp" tests/ring/run_ring_tests.lua "$so_dir"
