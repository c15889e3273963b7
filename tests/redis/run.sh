#!/usr/bin/env bash
# run.sh [FLAVOUR] - several switch nodes (separate Lua processes,
# each with its own Go runtime loading the real .so) sharing one real
# redis-server started here on a free loopback port:
#   1. a storm of concurrent next/release: no destination ever above its
#      capacity, every load zero afterwards, calls spread evenly;
#   2. a node killed with SIGKILL: its load is gone within one lease period,
#      while a surviving node's hold, held over many lease periods, still counts.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
use_flavour "${1:-}"
interp=$lua_interp
node="$interp tests/redis/node.lua $so_dir"

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  stop_redis "$tmp"
  rm -rf "$tmp"
}
trap cleanup EXIT

start_redis "$tmp"
port=$redis_port url=$redis_url
passed=0 failed=0
check() { # check DESCRIPTION COMMAND...
  if "${@:2}"; then passed=$((passed + 1)); echo "ok   $1"; else failed=$((failed + 1)); echo "FAIL $1"; fi
}

echo "== multi-node storm: 4 processes x 400 next+release, capacity 2, 5 agents ($interp)"
for i in 1 2 3 4; do
  $node "$url" storm "node$i" 400 > "$tmp/storm$i.out" &
  pids+=($!)
done
storm_ok=true
for p in "${pids[@]}"; do wait "$p" || storm_ok=false; done
pids=()
check "every storm process finished" $storm_ok
cat "$tmp"/storm*.out | grep spread
violations=$(cat "$tmp"/storm*.out | awk '/^violations/ {s += $2} END {print s + 0}')
check "no destination ever above its capacity (violations: $violations)" [ "$violations" -eq 0 ]
loads=$($node "$url" load agent/1 agent/2 agent/3 agent/4 agent/5)
echo "$loads"
check "every load is zero after the storm" [ "$(echo "$loads" | grep -o '=[0-9]*' | tr -d = | sort -u)" = "0" ]
# Evenness: sum each agent's calls over the nodes; the busiest may take at
# most 1.5x the calls of the least busy.
read -r lo hi < <(cat "$tmp"/storm*.out | grep '^spread' | tr ' ' '\n' | grep = |
  awk -F= '{s[$1] += $2} END {lo = -1; for (k in s) {if (lo < 0 || s[k] < lo) lo = s[k]; if (s[k] > hi) hi = s[k]} print lo, hi}')
echo "calls per agent: least $lo, most $hi"
check "calls spread evenly (most <= 1.5 x least)" [ $((hi * 2)) -le $((lo * 3)) ]

echo "== crash: SIGKILL a node holding leases (lease 2 s)"
$node "$url" hold victim agent/1 victim-call > "$tmp/victim.out" &
victim=$!
pids+=($victim)
$node "$url" hold survivor agent/2 survivor-call > "$tmp/survivor.out" &
pids+=($!)
for _ in $(seq 1 100); do
  grep -q held "$tmp/victim.out" 2>/dev/null && grep -q held "$tmp/survivor.out" 2>/dev/null && break
  sleep 0.1
done
check "both nodes hold" grep -q held "$tmp/victim.out"
loads=$($node "$url" load agent/1 agent/2)
check "both holds counted ($loads)" [ "$loads" = "load agent/1=1 agent/2=1" ]
kill -9 "$victim"
killed_at=$(date +%s%N)
# The hold lapses on the server one lease after the victim's last renewal,
# at most 2 s after the kill. Each poll is a new process, slow to start on a
# loaded machine, and reads the load some time after it starts: a poll that
# still counted the hold shows it counted at least until that poll's start,
# whatever the machine's speed.
gone=false counted_at=$killed_at
for _ in $(seq 1 60); do # poll up to 6 s, and as long as polls take
  polled_at=$(date +%s%N)
  if [ "$($node "$url" load agent/1)" = "load agent/1=0" ]; then gone=true; break; fi
  counted_at=$polled_at
  sleep 0.1
done
ms=$((($(date +%s%N) - killed_at) / 1000000))
counted=$(((counted_at - killed_at) / 1000000))
check "the killed node's load is gone ($ms ms after SIGKILL, lease 2000 ms)" $gone
[ "$gone" = true ] && check "...within one lease period plus renewal slack (counted $counted ms after SIGKILL at most, <= 3000 ms)" [ "$counted" -le 3000 ]
sleep 7 # several lease periods: the survivor must keep renewing
loads=$($node "$url" load agent/2)
check "the surviving node's hold still counts after 3+ lease periods ($loads)" [ "$loads" = "load agent/2=1" ]
echo "== outage: redis-server stopped, then started again on the same port"
for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
pids=()
redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
for _ in $(seq 1 50); do redis-cli -p "$port" ping >/dev/null 2>&1 || break; sleep 0.1; done
# A liveness bound, not a speed test: the default operation timeout is
# 250 ms, so a call that takes 5 s has hung.
out=$(timeout 5 $node "$url" try outage 2>&1) || true
echo "$out"
check "Redis down: a clear backend error, no hang" grep -q '^err backend ringlb: redis: ' <<<"$out"
start_redis "$tmp" "$port"
out=$(timeout 5 $node "$url" try recovered 2>&1) || true
echo "$out"
check "Redis back: next and release work again" grep -q '^ok agent/' <<<"$out"
loads=$($node "$url" load agent/1 agent/2 agent/3 agent/4 agent/5)
check "counts consistent after the restart ($loads)" [ "$loads" = "load agent/1=0 agent/2=0 agent/3=0 agent/4=0 agent/5=0" ]
echo "redis multi-node ($interp): $passed passed, $failed failed"
[ "$failed" -eq 0 ]
