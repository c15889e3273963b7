#!/usr/bin/env bash
# run.sh [FLAVOUR] - the Lua API tests under the FLAVOUR's interpreter and
# build (and the C ABI from LuaJIT's FFI).
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
use_flavour "${1:-}"
interp=$lua_interp
# The module must take the lua_* symbols from its host, never link a Lua.
if readelf -d "$so_dir/ringlb.so" | grep -q 'NEEDED.*lua'; then
  echo "FAIL: $so_dir/ringlb.so links a Lua library" >&2; exit 1
fi
# Both dispatch paths must behave the same: Go called directly from this
# (non-realtime) thread, and handed to ringlb's worker threads.
for mode in auto workers; do
  echo "== $interp ($so_dir, RINGLB_DISPATCH=$mode)"
  RINGLB_DISPATCH=$mode LUA_CPATH= LUA_PATH= "$interp" tests/api/api_test.lua "$so_dir"
  if [ "$interp" = luajit ]; then
    # The plain C ABI from LuaJIT's FFI.
    RINGLB_DISPATCH=$mode luajit tests/api/ffi_test.lua "$so_dir"
  fi
done

# Metrics from a switch process: scraped over HTTP (bash's /dev/tcp), and a
# second process asking for the same port gets a clean error.
# wait_bound: waits for the node to print its address, as long as it runs
# (a minute at most: a loaded machine may take seconds to start a process).
wait_bound() {
  for _ in $(seq 1 600); do
    grep -q '^bound ' "$out" && return
    kill -0 "$node" 2>/dev/null || return
    sleep 0.1
  done
}
echo "== $interp metrics endpoint"
out=$(mktemp)
LUA_CPATH= LUA_PATH= "$interp" tests/api/metrics_node.lua "$so_dir" serve >"$out" &
node=$!
trap 'kill $node 2>/dev/null || true; rm -f "$out"' EXIT
wait_bound
addr=$(sed -n 's/^bound //p' "$out")
[ -n "$addr" ] || { echo "FAIL: the endpoint did not start"; cat "$out"; exit 1; }
exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}"
printf 'GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n' "$addr" >&3
scraped=$(cat <&3)
exec 3<&-
failed=0
for want in 'ringlb_active_calls{balancer="metrics-sales",dest="user/1001"} 2' \
            'ringlb_active_calls{balancer="metrics-sales",dest="user/1002"} 1' \
            'ringlb_capacity{balancer="metrics-sales",dest="user/1001"} 2' \
            'ringlb_next_total{balancer="metrics-sales",outcome="chosen"} 1'; do
  if grep -qF "$want" <<<"$scraped"; then echo "ok   scraped $want"; else echo "FAIL scraped $want"; failed=1; fi
done
second=$(LUA_CPATH= LUA_PATH= "$interp" tests/api/metrics_node.lua "$so_dir" second "$addr")
if grep -q '^nil invalid ringlb: metrics: .*address already in use' <<<"$second"; then
  echo "ok   a second process on the same port: $second"
else
  echo "FAIL a second process on the same port: $second"; failed=1
fi
kill $node 2>/dev/null || true
# Every interface, asked for as "*:PORT", is reached on loopback too.
LUA_CPATH= LUA_PATH= "$interp" tests/api/metrics_node.lua "$so_dir" all >"$out" &
node=$!
wait_bound
addr=$(sed -n 's/^bound //p' "$out")
[ -n "$addr" ] || { echo "FAIL: the endpoint on every interface did not start"; cat "$out"; exit 1; }
exec 3<>"/dev/tcp/127.0.0.1/${addr##*:}"
printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
scraped=$(cat <&3)
exec 3<&-
if grep -q '^ringlb_metrics_gathers_total 1' <<<"$scraped"; then
  echo "ok   every interface as asked for ($addr), scraped on loopback"
else
  echo "FAIL every interface as asked for ($addr): $(head -c 300 <<<"$scraped")"; failed=1
fi
kill $node 2>/dev/null || true
[ "$failed" -eq 0 ]
