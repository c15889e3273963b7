#!/usr/bin/env bash
# run.sh [FLAVOUR] - build and run the C tests against the FLAVOUR's
# ringlb.so; the host of several lua_States is built with that Lua.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
use_flavour "${1:-}"
bin=tests/c/bin
mkdir -p "$bin"
gcc -O2 -Wall -Wextra -pthread -Icgo -o "$bin/stress" tests/c/stress.c -ldl
# The host, like FreeSWITCH, provides the Lua symbols; the module must not.
gcc -O2 -Wall -Wextra -I"$lua_inc" -o "$bin/two_states" tests/c/two_states.c $lua_ldflags -ldl -Wl,-E
gcc -O2 -Wall -Wextra -pthread -I"$lua_inc" -o "$bin/kept_threads" tests/c/kept_threads.c $lua_ldflags -ldl -Wl,-E
# The host of the switch's event core exports its functions (-Wl,-E), as libfreeswitch does.
gcc -O2 -Wall -Wextra -pthread -I"$lua_inc" -o "$bin/switch_events" tests/c/switch_events.c $lua_ldflags -ldl -Wl,-E
if readelf -d "$so_dir/ringlb.so" | grep -q 'NEEDED.*liblua'; then
  echo "FAIL: $so_dir/ringlb.so links liblua" >&2; exit 1
fi

# init_order SO: the functions that SO's .init_array runs, in order (its
# R_X86_64_RELATIVE relocations give their addresses).
init_order() {
  local so=$1 addr size hi syms
  read -r addr size < <(readelf -S -W "$so" |
    sed -n 's/.*\] \.init_array *INIT_ARRAY *\([0-9a-f]*\) [0-9a-f]* \([0-9a-f]*\) .*/\1 \2/p')
  [ -n "$addr" ] || return 0
  hi=$(printf '%016x' $((16#$addr + 16#$size)))
  syms=$(nm "$so")
  readelf -r -W "$so" | awk -v lo="$addr" -v hi="$hi" '$3 == "R_X86_64_RELATIVE" && $1 >= lo && $1 < hi {print $1, $4}' |
    sort | while read -r _ val; do
      awk -v a="$(printf '%016x' $((16#$val)))" '$1 == a {print $3; exit}' <<<"$syms"
    done
}
# dispatch.c's constructors bracket the Go runtime's: ringlb_early blocks the
# host's signals and demotes the loading thread before the runtime's first
# thread is created, ringlb_after_go gives both back before dlopen returns.
order=$(init_order "$so_dir/ringlb.so" | tr '\n' ' ')
echo "== constructors in .init_array: $order"
case "$order" in
  *ringlb_early*_rt0_amd64_linux_lib*ringlb_after_go*) ;;
  *) echo "FAIL: want ringlb_early, then the Go runtime's _rt0_amd64_linux_lib, then ringlb_after_go" >&2; exit 1 ;;
esac
for mode in auto workers; do
  echo "== C stress (RINGLB_DISPATCH=$mode)"
  RINGLB_DISPATCH=$mode "$bin/stress" "$so_dir/ringlb.so"
done
gcc -O2 -Wall -Wextra -pthread -Icgo -o "$bin/go_runtime" tests/c/go_runtime.c -ldl
echo "== the Go runtime in the host: one P unless GOMAXPROCS says otherwise, its threads named as ringlb's"
(unset GOMAXPROCS; RINGLB_DISPATCH=workers "$bin/go_runtime" "$so_dir/ringlb.so" 1)
GOMAXPROCS=3 RINGLB_DISPATCH=workers "$bin/go_runtime" "$so_dir/ringlb.so" 3
gcc -O2 -Wall -Wextra -pthread -Icgo -o "$bin/pool_growth" tests/c/pool_growth.c -ldl
echo "== the worker pool: one realtime caller's calls keep one worker; realtime callers waiting together get one each"
set +e
"$bin/pool_growth" "$so_dir/ringlb.so"
rc=$?
set -e
case $rc in
  0) ;;
  77) echo "SKIPPED: pool growth needs realtime scheduling (run as root)" ;;
  *) exit $rc ;;
esac
for prog in signals go_signals cancel deadline fork redis_stall; do
  gcc -O2 -Wall -Wextra -pthread -Icgo -o "$bin/$prog" "tests/c/$prog.c" -ldl
done
tmp=$(mktemp -d)
mkdir "$tmp/stopped" "$tmp/stall"
# The stopped servers are continued before they are stopped for good.
trap 'for d in "$tmp/stopped" "$tmp/stall"; do
        [ -f "$d/redis.pid" ] && kill -CONT "$(cat "$d/redis.pid")" 2>/dev/null
        stop_redis "$d"
      done; stop_redis "$tmp"; rm -rf "$tmp"' EXIT
start_redis "$tmp"
for mode in auto workers; do
  echo "== a host's signal handlers (96 KiB of stack) under 5,000 signals, memory + Redis (RINGLB_DISPATCH=$mode)"
  RINGLB_DISPATCH=$mode SIGNALS=5000 "$bin/signals" "$so_dir/ringlb.so" "$redis_url"
done
for when in before after; do
  echo "== SIGPROF at 1 kHz, SIGCHLD, SIGSTKFLT, SIGRTMIN (the signals Go's threads never block), 32 KiB handlers installed $when loading"
  "$bin/go_signals" "$so_dir/ringlb.so" "$redis_url" "$when" 32
done
echo "== a handler of one of them without SA_ONSTACK is reported (metric, one log line)"
"$bin/go_signals" "$so_dir/ringlb.so" "$redis_url" detect
for mode in auto workers direct; do
  echo "== callers cancelled or exited while they wait never leave a worker writing into their stack (RINGLB_DISPATCH=$mode)"
  RINGLB_DISPATCH=$mode "$bin/cancel" "$so_dir/ringlb.so"
done
echo "== calls within 1.2 x their timeout (the median and two thirds; none stuck), however many realtime callers queue, Redis stopped (SIGSTOP)"
start_redis "$tmp/stopped"
"$bin/deadline" "$so_dir/ringlb.so" "$redis_url" "$(cat "$tmp/stopped/redis.pid")"
echo "== loading gives the loader its signal mask back; a forked child gets an error, not a hang"
"$bin/fork" "$so_dir/ringlb.so"
echo "== LuaJIT's ffi.load: a SIGTERM before the first call ends the process"
set +e
luajit tests/c/ffi_load.lua "$so_dir/ringlb.so"
rc=$?
set -e
if [ $rc -ne $((128 + 15)) ]; then
  echo "FAIL: luajit ffi_load.lua exited $rc, want death by SIGTERM ($((128 + 15)))" >&2
  exit 1
fi
echo "died of SIGTERM: PASS"
echo "== a host that scribbles over and unmaps its buffers after calls that timed out on a stalled Redis"
start_redis "$tmp/stall"
for mode in auto workers; do
  echo "-- RINGLB_DISPATCH=$mode"
  set +e
  RINGLB_DISPATCH=$mode "$bin/redis_stall" "$so_dir/ringlb.so" "$redis_url" "$(cat "$tmp/stall/redis.pid")"
  rc=$?
  set -e
  kill -CONT "$(cat "$tmp/stall/redis.pid")" # whatever became of the host
  [ "$rc" -eq 0 ] || exit "$rc"
done
echo "== C host with several lua_States"
"$bin/two_states" "$so_dir"
echo "== what the Lua module keeps, from 8 host threads at once"
"$bin/kept_threads" "$so_dir" 8 300
echo "== the switch's channel events through ringlb.switch_events, and the tracker's consumer on them"
"$bin/switch_events" "$so_dir" lua tests/c/switch_events.lua
