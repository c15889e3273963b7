#!/usr/bin/env bash
# tests/rt/run.sh [FLAVOUR] - ringlb inside a realtime host, with the FLAVOUR's
# ringlb.so (default 5.3), the host loading that Lua's library RTLD_GLOBAL first.
#
# RT_MODE (environment)
#   ci      (default) rtburst under SCHED_OTHER, `chrt -f 10` and `chrt -r 89` with the
#           default calling discipline: bursts of 20, 64 and 200 new threads, 100 bursts
#           each. Fails on any call over 100 ms (realtime runs) plus what the machine adds
#           (2 x ceil(size / 32) x the worst of the floor bursts rtburst runs between them:
#           the same threads handing a no-op to SCHED_OTHER threads, nothing of ringlb; a
#           fraction of a ms when quiet), any error, any realtime library thread, a caller
#           whose policy was changed, or a load left non-zero.
#           ~10 s on 2 cores. If the kernel refuses realtime scheduling, the realtime runs
#           are reported SKIPPED (never passed) and the script exits 0 only for that reason.
#   before  the before/after table: RINGLB_DISPATCH=direct (every caller enters Go itself,
#           the naive way) versus the default, under SCHED_OTHER and SCHED_FIFO. The naive
#           realtime runs can stall for a minute with both cores spinning in the kernel, so
#           they use few bursts (BEFORE_BURSTS, default 5), one burst size per process,
#           the harness's own deadline (-T 60: a stall is reported as "> 60 s") and
#           `timeout 75`. Takes up to ~4 minutes.
#           Never part of CI.
#   cost    per-call overhead (tests/rt/callcost.c, and from Lua with tests/rt/callcost.lua).
#
# Environment: RT_BURSTS (default 100), RT_OTHER_LIMIT_MS (latency limit of the SCHED_OTHER
# run, default 1000: see docs/realtime.md), BEFORE_BURSTS (default 5).
set -uo pipefail
cd "$(dirname "$0")/../.."
here=$PWD/tests/rt
. tests/lib.sh
use_flavour "${1:-}"
so=$so_dir/ringlb.so
RT_LUALIB=$lua_lib
mode=${RT_MODE:-ci}
case "$mode" in ci|before|cost) ;; *) echo "run.sh: unknown RT_MODE '$mode' (ci, before or cost)" >&2; exit 2 ;; esac
bursts=${RT_BURSTS:-100}
other_limit=${RT_OTHER_LIMIT_MS:-1000}

work=$(mktemp -d "${TMPDIR:-/tmp}/ringlb-rt.XXXXXX")
trap 'rm -rf "$work"' EXIT
cc=${CC:-gcc}
for prog in rtburst callcost; do
  if ! "$cc" -O2 -Wall -Wextra -o "$work/$prog" "$here/$prog.c" -ldl -lpthread; then
    echo "run.sh: cannot build $prog" >&2
    exit 2
  fi
done

# rt_ok tells whether the kernel lets us run realtime at all.
rt_ok() {
  chrt -f 10 true 2>"$work/chrt.err" && chrt -r 89 true 2>>"$work/chrt.err"
}

declare -a summary=()
failed=0
skipped=0

# burst NAME LIMIT_MS CHRT... -- ENV... : runs rtburst, records its RESULT lines.
burst() {
  local name=$1 expect=$2 limit=$3 deadline=$4 tmo=$5 sizes=$6 nb=$7
  shift 7
  local log="$work/$(echo "$name" | tr -c 'A-Za-z0-9=\n' _).log"
  echo
  echo "=== $name: $* rtburst -x $expect -l $limit -s $sizes -b $nb"
  "$@" "$work/rtburst" -x "$expect" -l "$limit" -T "$deadline" -s "$sizes" -b "$nb" \
    -L "$RT_LUALIB" "$so" >"$log" 2>&1
  local rc=$?
  cat "$log"
  case $rc in
    0) ;;
    77) skipped=1 ;;
    124) echo "=== $name: killed by timeout (a stall)"; ;;
  esac
  local verdict
  case $rc in
    0) verdict=PASS ;;
    77) verdict=SKIPPED ;;
    3|124) verdict="STALL" ;;
    *) verdict=FAIL ;;
  esac
  while read -r line; do
    summary+=("$(printf '%-34s %s %s' "$name" "$line" "$verdict")")
  done < <(grep '^RESULT' "$log" | sed 's/^RESULT //')
  if ! grep -q '^RESULT' "$log"; then
    summary+=("$(printf '%-34s %s' "$name" "(no result) $verdict")")
  fi
  return $rc
}

print_summary() {
  echo
  echo "=== summary ($so, Lua library $RT_LUALIB)"
  printf '%s\n' "${summary[@]}"
}

case $mode in
ci)
  burst "SCHED_OTHER auto" other "$other_limit" 140 150 20,64,200 "$bursts" timeout 150 || failed=1
  if rt_ok; then
    burst "SCHED_FIFO/10 auto" fifo:10 100 140 150 20,64,200 "$bursts" timeout 150 chrt -f 10
    rc=$?; [ $rc -ne 0 ] && { [ $rc -eq 77 ] && skipped=1 || failed=1; }
    burst "SCHED_RR/89 auto" rr:89 100 140 150 20,64,200 "$bursts" timeout 150 chrt -r 89
    rc=$?; [ $rc -ne 0 ] && { [ $rc -eq 77 ] && skipped=1 || failed=1; }
  else
    echo
    echo "=== SKIPPED: the kernel refuses realtime scheduling here: $(cat "$work/chrt.err")"
    skipped=1
  fi
  print_summary
  if [ $failed -ne 0 ]; then
    echo "=== FAIL"
    exit 1
  fi
  if [ $skipped -ne 0 ]; then
    echo "=== SKIPPED: the realtime runs (SCHED_FIFO, SCHED_RR) did NOT run: realtime scheduling"
    echo "===          is refused on this machine. Only the SCHED_OTHER run passed."
    exit 0
  fi
  echo "=== PASS: SCHED_OTHER, SCHED_FIFO/10 and SCHED_RR/89"
  exit 0
  ;;
before)
  nb=${BEFORE_BURSTS:-5}
  rt_ok || { echo "SKIPPED: realtime scheduling refused: $(cat "$work/chrt.err")"; exit 0; }
  burst "before: SCHED_OTHER direct" other 100 140 150 20,64,200 "$bursts" \
    env RINGLB_DISPATCH=direct timeout 150
  burst "after:  SCHED_OTHER auto" other 100 140 150 20,64,200 "$bursts" timeout 150
  for n in 20 64 200; do
    burst "before: SCHED_FIFO/10 direct n=$n" fifo:10 100 60 75 "$n" "$nb" \
      env RINGLB_DISPATCH=direct timeout 75 chrt -f 10
  done
  burst "after:  SCHED_FIFO/10 auto" fifo:10 100 140 150 20,64,200 "$bursts" timeout 150 chrt -f 10
  print_summary
  exit 0
  ;;
cost)
  echo "=== per-call cost, C (1 s per loop; ns per call, p50/p99/max of single calls)"
  timeout 60 "$work/callcost" -L "$RT_LUALIB" "$so"
  timeout 60 chrt -f 10 "$work/callcost" -L "$RT_LUALIB" "$so"
  timeout 60 chrt -r 89 "$work/callcost" -L "$RT_LUALIB" "$so"
  RINGLB_DISPATCH=workers timeout 60 "$work/callcost" -L "$RT_LUALIB" "$so"
  # One long-lived realtime thread entering Go directly cannot contend on the
  # extra-M lock (it enters once): the naive path's cost, for comparison.
  RINGLB_DISPATCH=direct timeout 60 chrt -f 10 "$work/callcost" -L "$RT_LUALIB" "$so"
  lua=$lua_interp
  if command -v "$lua" >/dev/null; then
    echo "=== per-call cost from Lua ($lua; wall time of N iterations minus a 0-iteration run)"
    export LUA_CPATH="$(dirname "$so")/?.so"
    wall() { local s; s=$(date +%s%N); "$@" >/dev/null || echo "FAILED: $*" >&2; echo $(($(date +%s%N) - s)); }
    n=20000
    for cfg in "SCHED_OTHER auto|" "SCHED_FIFO/10 auto|chrt -f 10" "SCHED_OTHER workers|env RINGLB_DISPATCH=workers"; do
      name=${cfg%%|*}; pre=${cfg#*|}
      z=$(wall timeout 60 $pre "$lua" "$here/callcost.lua" 0)
      p=$(wall timeout 60 $pre "$lua" "$here/callcost.lua" $n)
      f=$(wall timeout 60 $pre "$lua" "$here/callcost.lua" $n floor)
      printf 'LUACOST %-22s next+release %6d ns/iter   loop without ringlb %4d ns/iter\n' \
        "$name" $(((p - z) / n)) $(((f - z) / n))
    done
  fi
  exit 0
  ;;
esac
