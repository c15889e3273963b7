#!/usr/bin/env bash
# run.sh SO_DIR - build and run the C tests against SO_DIR/ringlb.so (Lua 5.3 build).
set -euo pipefail
cd "$(dirname "$0")/../.."
so_dir=$1
bin=tests/c/bin
mkdir -p "$bin"
gcc -O2 -Wall -Wextra -pthread -Icgo -o "$bin/stress" tests/c/stress.c -ldl
# The host, like FreeSWITCH, provides the Lua symbols; the module must not.
gcc -O2 -Wall -Wextra -I/usr/include/lua5.3 -o "$bin/two_states" tests/c/two_states.c -llua5.3 -ldl -Wl,-E
if readelf -d "$so_dir/ringlb.so" | grep -q 'NEEDED.*liblua'; then
  echo "FAIL: $so_dir/ringlb.so links liblua" >&2; exit 1
fi
for mode in auto workers; do
  echo "== C stress (RINGLB_DISPATCH=$mode)"
  RINGLB_DISPATCH=$mode "$bin/stress" "$so_dir/ringlb.so"
done
gcc -O2 -Wall -Wextra -pthread -Icgo -o "$bin/pool_growth" tests/c/pool_growth.c -ldl
echo "== realtime callers waiting on a hung backend get workers of their own"
set +e
"$bin/pool_growth" "$so_dir/ringlb.so"
rc=$?
set -e
case $rc in
  0) ;;
  77) echo "SKIPPED: pool growth needs realtime scheduling (run as root)" ;;
  *) exit $rc ;;
esac
gcc -O2 -Wall -Wextra -pthread -Icgo -o "$bin/signals" tests/c/signals.c -ldl
. tests/lib.sh
tmp=$(mktemp -d)
trap 'stop_redis "$tmp"; rm -rf "$tmp"' EXIT
start_redis "$tmp"
for mode in auto workers; do
  echo "== a host's signal handlers (96 KiB of stack) under 5,000 signals, memory + Redis (RINGLB_DISPATCH=$mode)"
  RINGLB_DISPATCH=$mode SIGNALS=5000 "$bin/signals" "$so_dir/ringlb.so" "$redis_url"
done
echo "== C host with several lua_States"
"$bin/two_states" "$so_dir"
