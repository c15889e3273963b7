#!/usr/bin/env bash
# bench/run.sh [--quick] - ringlb's speed and memory benchmarks,
# every figure next to a floor measured in the same run, for the Lua flavour
# LUA (default 5.3). Builds what it needs (its ringlb.so via ./build.sh if
# missing, bench/cabi.c with gcc, bench/redislat with go), runs:
#   1. Go benchmarks of the memory backend (lb/bench_memory_test.go), and the
#      Redis ones (BenchmarkRedis*, lb/redislb); next+release while the
#      metrics endpoint is scraped (internal/metrics);
#   2. bench/cabi.c: the C ABI from C threads, RINGLB_DISPATCH=auto and workers;
#   3. bench/lua_bench.lua: the Lua module from that Lua; bench/hook_bench.lua:
#      the call tracker's hook per event and the ring script per call;
#   4. bench/redislat: the Redis backend against its own redis-server;
# and writes ONE markdown report to stdout and to bench-results.md (or
# $BENCH_OUT). Progress goes to stderr. --quick uses small sizes (CI smoke,
# well under a minute once the .so is built) and a 5 s Redis operation
# timeout, which a loaded machine does not reach. Benchmarks measure only:
# nothing here fails on a timing; it fails only if a tool fails.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=
case "${1:-}" in
  --quick) quick=--quick ;;
  "") ;;
  *) echo "usage: bench/run.sh [--quick]" >&2; exit 2 ;;
esac
out=${BENCH_OUT:-bench-results.md}
. scripts/flavour.sh
flavour "${LUA:-5.3}" || exit 2 # the Lua flavour measured (default 5.3)
lua=$lua_interp
go=${GO:-go}

log() { echo "bench: [${SECONDS}s] $*" >&2; }

if [ ! -f "$so_dir/ringlb.so" ]; then
  log "building $so_dir/ringlb.so"
  ./build.sh "${LUA:-5.3}" >&2
fi
tmp=$(mktemp -d)
# A tool that fails leaves its output in its file under $tmp: show the
# newest file's end, so that a failure (in CI above all) says why.
on_exit() {
  local rc=$? last
  if [ "$rc" -ne 0 ] && last=$(ls -t "$tmp"/*.txt 2>/dev/null | head -n 1) && [ -n "$last" ]; then
    echo "bench: failed ($rc); the end of $(basename "$last"):" >&2
    tail -n 40 "$last" >&2
  fi
  rm -rf "$tmp"
}
trap on_exit EXIT
log "building bench/cabi.c and bench/redislat"
gcc -O2 -Wall -Wextra -pthread -Icgo -o "$tmp/cabi" bench/cabi.c -ldl
$go build -o "$tmp/redislat" ./bench/redislat

# ---- 1. Go benchmarks --------------------------------------------------------
if [ -n "$quick" ]; then bt=50ms; short=-short; else bt=1s; short=; fi
pattern='^Benchmark(Memory(Order|NextRelease)|Redis)'
log "go benchmarks ($pattern, -benchtime=$bt)"
$go test -run '^$' -bench "$pattern" -benchmem -benchtime=$bt $short ./lb ./lb/redislb >"$tmp/go.txt"
log "go memory benchmarks (holds, heap growth)"
$go test -run '^$' -bench '^BenchmarkMemory(HoldBytes|HeapGrowth|DistinctDests|SnapshotStall)$' -benchmem -benchtime=1x $short ./lb >"$tmp/gomem.txt"
log "metrics: next+release alone and while scraped"
$go test -run '^$' -bench 'NextReleaseScraped' -benchmem -benchtime=$bt $short ./internal/metrics >"$tmp/gometrics.txt"
# Three rounds, alone and scraped in turn: the medians are reported, so a
# burst of load from elsewhere on the machine moves one round, not the figure.
log "metrics: next+release p99 alone and during 16 concurrent scrapes (3 rounds)"
$go test -run '^$' -bench 'NextReleaseScrapers' -count=3 -benchtime=$bt $short ./internal/metrics >"$tmp/goscrapers.txt"
has_redis_bench=$(grep -c '^BenchmarkRedis' "$tmp/go.txt" || true)

# ---- 2. C ABI ------------------------------------------------------------------
# Workers mode costs a hand-off per call, so its memory run is shorter.
if [ -n "$quick" ]; then wcycles=20000; else wcycles=100000; fi
log "C ABI, RINGLB_DISPATCH=auto"
RINGLB_DISPATCH=auto "$tmp/cabi" "$so_dir/ringlb.so" $quick >"$tmp/cabi_auto.txt"
log "C ABI, RINGLB_DISPATCH=workers"
RINGLB_DISPATCH=workers "$tmp/cabi" "$so_dir/ringlb.so" $quick --cycles "$wcycles" >"$tmp/cabi_workers.txt"
kv() { sed -n "s/^@$2 //p" "$1" | head -1; }
cgo_floor=$(kv "$tmp/cabi_auto.txt" noop_ns)
sig_floor=$(kv "$tmp/cabi_auto.txt" sigmask_ns)

# ---- 3. Lua --------------------------------------------------------------------
log "Lua ($lua)"
"$lua" bench/lua_bench.lua "$so_dir" $quick --cgo-floor "$cgo_floor" >"$tmp/lua.txt"
log "Lua scripts per event and per call ($lua)"
"$lua" bench/hook_bench.lua "$so_dir" lua $quick >"$tmp/hooks.txt"

# ---- 4. Redis ------------------------------------------------------------------
log "Redis (redislat)"
redis_ok=1
if ! "$tmp/redislat" $quick >"$tmp/redis.txt" 2>"$tmp/redis.err"; then
  redis_ok=0
fi

# ---- report --------------------------------------------------------------------
# gotable FILE: Go benchmark lines as a markdown table.
gotable() {
  echo "| benchmark | ns/op | B/op | allocs/op | other |"
  echo "|---|---:|---:|---:|---|"
  awk '/^Benchmark/ {
    name = $1; sub(/^Benchmark/, "", name); sub(/-[0-9]+$/, "", name)
    ns = ""; bop = ""; al = ""; other = ""
    for (i = 3; i < NF; i += 2) {
      v = $i; u = $(i + 1)
      if (u == "ns/op") ns = v
      else if (u == "B/op") bop = v
      else if (u == "allocs/op") al = v
      else other = other (other == "" ? "" : ", ") v " " u
    }
    printf "| %s | %s | %s | %s | %s |\n", name, ns, bop, al, other
  }' "$1"
}
# gons FILE NAME: ns/op of one benchmark (name without Benchmark and -N).
gons() {
  awk -v want="$2" '/^Benchmark/ { n = $1; sub(/^Benchmark/, "", n); sub(/-[0-9]+$/, "", n)
    if (n == want) for (i = 3; i < NF; i++) if ($(i + 1) == "ns/op") { print $i; exit } }' "$1"
}
# gometric FILE NAME UNIT
gometric() {
  awk -v want="$2" -v unit="$3" '/^Benchmark/ { n = $1; sub(/^Benchmark/, "", n); sub(/-[0-9]+$/, "", n)
    if (n == want) for (i = 3; i < NF; i++) if ($(i + 1) == unit) { print $i; exit } }' "$1"
}
# gomedian FILE NAME UNIT: the median over the runs of one benchmark (-count).
gomedian() {
  awk -v want="$2" -v unit="$3" '/^Benchmark/ { n = $1; sub(/^Benchmark/, "", n); sub(/-[0-9]+$/, "", n)
    if (n == want) for (i = 3; i < NF; i++) if ($(i + 1) == unit) print $i }' "$1" | sort -g |
    awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}
strip_kv() { grep -v '^@' "$1"; }
calc() { awk "BEGIN { printf \"%.2f\", $* }"; }
yesno() { awk "BEGIN { print (($*) ? \"met\" : \"**NOT met**\") }"; }

report() {
  local mode="full"; [ -n "$quick" ] && mode="quick (--quick: small sizes, CI smoke; not for quoting)"
  echo "# ringlb benchmarks"
  echo
  echo "- run: $(date -u '+%Y-%m-%d %H:%M UTC'), $mode"
  echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- 2>/dev/null || echo ' + uncommitted changes')"
  echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr); $($go version | cut -d' ' -f3); $("$lua" -v 2>&1 | cut -d' ' -f1-2)"
  echo
  echo "Absolute figures depend on the machine (shared, throttled virtual CPUs make them noisy and inflated);"
  echo "the ratios to floors measured in the same run are the point. Benchmarks never fail on a timing."
  echo

  # -- targets
  local g10 g3 g1000 o10 hb h2 hcyc
  g3=$(gons "$tmp/go.txt" "MemoryNextRelease/dests=3")
  g10=$(gons "$tmp/go.txt" "MemoryNextRelease/dests=10")
  g1000=$(gons "$tmp/go.txt" "MemoryNextRelease/dests=1000")
  hb=$(gometric "$tmp/gomem.txt" "MemoryHoldBytes" "B/hold")
  h1=$(gometric "$tmp/gomem.txt" "MemoryHeapGrowth" "heap-B-1st")
  h2=$(gometric "$tmp/gomem.txt" "MemoryHeapGrowth" "heap-B-2nd")
  hcyc=$(gometric "$tmp/gomem.txt" "MemoryHeapGrowth" "cycles")
  local lfloor lnoop lnr lua_t ca_r1 ca_r2 cw_r1 cw_r2 lr1 lr2
  lfloor=$(kv "$tmp/lua.txt" floor_ns); lnoop=$(kv "$tmp/lua.txt" noop_ns); lnr=$(kv "$tmp/lua.txt" nextrel_ns)
  lua_t=$(calc "3 * ($lfloor + $cgo_floor)")
  ca_r1=$(kv "$tmp/cabi_auto.txt" rss1_kib); ca_r2=$(kv "$tmp/cabi_auto.txt" rss2_kib)
  cw_r1=$(kv "$tmp/cabi_workers.txt" rss1_kib); cw_r2=$(kv "$tmp/cabi_workers.txt" rss2_kib)
  lr1=$(kv "$tmp/lua.txt" rss1_kib); lr2=$(kv "$tmp/lua.txt" rss2_kib)
  echo "## Targets"
  echo
  echo "| target | measured | verdict |"
  echo "|---|---|---|"
  echo "| memory next+release through Go, 10 dests, < 300 ns | ${g10} ns (1 goroutine) | $(yesno "$g10 < 300") |"
  echo "| through Lua, 10 dests, ≤ 3 × (Lua→C floor + cgo floor); Lua→C floor = math.abs, cgo floor = bench/cabi ringlb_noop | ${lnr%.*} ns vs 3 × ($(calc "$lfloor") + $(calc "$cgo_floor")) = ${lua_t} ns → $(calc "$lnr / ($lfloor + $cgo_floor)") × | $(yesno "$lnr <= $lua_t") |"
  echo "| (reference, no target) the cgo floor includes blocking the host's signals around each direct call (two system calls) | signal mask block + restore ${sig_floor} ns of ringlb_noop ${cgo_floor} ns | — |"
  echo "| (reference, no target) through Lua vs 2 × ringlb._noop (a pair is two module calls) | ${lnr%.*} ns vs 2 × $(calc "$lnoop") = $(calc "2 * $lnoop") ns → $(calc "$lnr / (2 * $lnoop)") × | — |"
  echo "| cost no worse than linear in destinations (Go, 3 → 1,000 = 333×) | $(calc "$g1000 / $g3") × from 3 to 1,000; $(calc "$g1000 / $g10") × from 10 to 1,000 (100×) | $(yesno "$g1000 / $g3 <= 333.3") |"
  if [ "$redis_ok" = 1 ]; then
    local c r worst=0 cells=""
    for c in 1 8 64; do
      r=$(kv "$tmp/redis.txt" "c${c}_next_over_eval")
      cells="$cells ${c}: ${r} ×;"
      worst=$(awk -v a="$worst" -v b="$r" 'BEGIN { print (b > a) ? b : a }')
    done
    echo "| Redis next p50 ≤ 1.3 × raw EVALSHA p50 at 1, 8, 64 callers |${cells%;} | $(yesno "$worst <= 1.3") |"
    cells=""
    for c in 1 8 64; do
      cells="$cells ${c}: $(kv "$tmp/redis.txt" "c${c}_floor_over_eval") ×;"
    done
    echo "| (reference, no target) the commands floor: a script sending exactly a lone next's Redis commands with no logic, p50 ÷ raw EVALSHA p50 |${cells%;} | — |"
    local pr
    pr=$(kv "$tmp/redis.txt" c64_pairs_over_eval_rate)
    echo "| Redis next+release pairs/s ≥ 0.4 × raw EVALSHA/s at 64 callers | $(calc "$pr") × | $(yesno "$pr >= 0.4") |"
    local d3 d1000
    d3=$(kv "$tmp/redis.txt" d3_next_p50_us); d1000=$(kv "$tmp/redis.txt" d1000_next_p50_us)
    echo "| Redis cost no worse than linear (3 → 1,000 dests = 333×) | next p50 $(calc "$d1000 / $d3") × | $(yesno "$d1000 / $d3 <= 333.3") |"
  else
    echo "| Redis targets | redislat failed: $(head -c 300 "$tmp/redis.err" | tr '\n' ' ') | not measured |"
  fi
  echo "| bytes per active hold < 256 (Go heap, 100,000 holds) | ${hb} B/hold | $(yesno "$hb < 256") |"
  echo "| no Go heap growth over cycles (after GC; 2nd batch of ${hcyc%.*}) | 1st: ${h1} B, 2nd: ${h2} B | $(yesno "$h2 < 65536") |"
  local dd_n dd_rss dd_heap ss_n ss_ms ss_worst
  dd_n=$(gometric "$tmp/gomem.txt" "MemoryDistinctDests" "dests"); dd_rss=$(gometric "$tmp/gomem.txt" "MemoryDistinctDests" "rss-MiB")
  dd_heap=$(gometric "$tmp/gomem.txt" "MemoryDistinctDests" "heap-MiB")
  ss_n=$(gometric "$tmp/gomem.txt" "MemorySnapshotStall" "dests"); ss_ms=$(gometric "$tmp/gomem.txt" "MemorySnapshotStall" "snapshot-ms")
  ss_worst=$(gometric "$tmp/gomem.txt" "MemorySnapshotStall" "worst-call-ms")
  ss_lock=$(gometric "$tmp/gomem.txt" "MemorySnapshotStall" "lock-wait-ms")
  echo "| memory bounded: ${dd_n%.*} distinct destinations, each held and released once, RSS within 64 MiB of its start | RSS +${dd_rss} MiB, live heap +${dd_heap} MiB | $(yesno "$dd_rss < 64") |"
  echo "| a snapshot of ${ss_n%.*} held destinations (${ss_ms} ms) does not hold calls up: time the caller and the snapshot spent waiting on the balancer's lock, together; slowest next+release meanwhile (includes waiting for a CPU and for GC on this 2-core machine) | lock waits ${ss_lock} ms in all; slowest call ${ss_worst} ms | — |"
  local sc_alone sc_scraped
  sc_alone=$(gons "$tmp/gometrics.txt" "NextReleaseScraped/alone")
  sc_scraped=$(gons "$tmp/gometrics.txt" "NextReleaseScraped/scraped")
  echo "| (reference, no target) next+release, 100 destinations up, while /metrics is scraped 10 times a second | ${sc_scraped} ns vs ${sc_alone} ns alone → $(calc "$sc_scraped / $sc_alone") × | — |"
  local sp_alone sp_scraped sp_rate sp_fail
  sp_alone=$(gomedian "$tmp/goscrapers.txt" "NextReleaseScrapers/alone" "p99-ns")
  sp_scraped=$(gomedian "$tmp/goscrapers.txt" "NextReleaseScrapers/scrapers=16" "p99-ns")
  sp_rate=$(gomedian "$tmp/goscrapers.txt" "NextReleaseScrapers/scrapers=16" "scrapes/s")
  sp_fail=$(gomedian "$tmp/goscrapers.txt" "NextReleaseScrapers/scrapers=16" "failures/s")
  echo "| next+release p99 during 16 concurrent scrapes of 1,000 members (another process, back to back) ≤ 2 × alone; median of 3 rounds | ${sp_scraped} ns vs ${sp_alone} ns alone → $(calc "$sp_scraped / $sp_alone") × (${sp_rate} scrapes/s served, ${sp_fail} failed/s) | $(yesno "$sp_scraped <= 2 * $sp_alone") |"
  local sp_a999 sp_s999 sp_amax sp_smax
  sp_a999=$(gomedian "$tmp/goscrapers.txt" "NextReleaseScrapers/alone" "p999-ns")
  sp_s999=$(gomedian "$tmp/goscrapers.txt" "NextReleaseScrapers/scrapers=16" "p999-ns")
  sp_amax=$(gomedian "$tmp/goscrapers.txt" "NextReleaseScrapers/alone" "max-ns")
  sp_smax=$(gomedian "$tmp/goscrapers.txt" "NextReleaseScrapers/scrapers=16" "max-ns")
  echo "| (reference, no target) the same, p99.9 and slowest pair (includes waiting for a CPU on this 2-core machine) | p99.9 ${sp_s999} ns vs ${sp_a999} ns alone; slowest $(calc "$sp_smax / 1e6") ms vs $(calc "$sp_amax / 1e6") ms | — |"
  echo "| no RSS growth, C ABI, auto (2nd batch) | $((ca_r2 - ca_r1)) KiB | $(yesno "$ca_r2 - $ca_r1 < 1024") |"
  echo "| no RSS growth, C ABI, workers (2nd batch) | $((cw_r2 - cw_r1)) KiB | $(yesno "$cw_r2 - $cw_r1 < 1024") |"
  echo "| no RSS growth, Lua (2nd batch) | $((lr2 - lr1)) KiB | $(yesno "$lr2 - $lr1 < 1024") |"
  echo
  echo "\"No growth\" is judged as: Go live heap grows < 64 KiB, RSS < 1 MiB over the second batch of cycles"
  echo "(the first batch warms up maps, pools and the allocator). Batch sizes are in the sections below."
  echo

  # -- Go
  echo "## Go: memory backend (\`go test -bench -benchmem ./lb\`) and Redis (\`./lb/redislb\`)"
  echo
  echo "-benchtime=$bt; \`parallel\` = RunParallel over GOMAXPROCS goroutines (ns/op is wall time per op across all of them)."
  echo "Every destination starts with 0, 1 or 2 standing calls (dest i holds i mod 3)."
  echo
  gotable "$tmp/go.txt"
  echo
  echo "Growth with destinations (1 goroutine; linear would be the dests ratio):"
  echo
  echo "| dests | next+release ns | × 3 dests | dests ratio | ns per dest | Order ns | × 3 dests |"
  echo "|---:|---:|---:|---:|---:|---:|---:|"
  local n nr or o3
  o3=$(gons "$tmp/go.txt" "MemoryOrder/dests=3")
  for n in 3 10 100 1000; do
    nr=$(gons "$tmp/go.txt" "MemoryNextRelease/dests=$n")
    or=$(gons "$tmp/go.txt" "MemoryOrder/dests=$n")
    echo "| $n | $nr | $(calc "$nr / $g3") | $(calc "$n / 3") | $(calc "$nr / $n") | $or | $(calc "$or / $o3") |"
  done
  echo
  echo "Memory (-benchtime=1x):"
  echo
  gotable "$tmp/gomem.txt"
  echo
  if [ "$has_redis_bench" = 0 ]; then
    echo "(No BenchmarkRedis* in lb yet: the Redis backend's Go benchmarks are not in this run; redislat below covers Redis.)"
    echo
  fi

  # -- C ABI
  echo "## C ABI from C threads (bench/cabi.c)"
  echo
  strip_kv "$tmp/cabi_auto.txt"
  strip_kv "$tmp/cabi_workers.txt"

  # -- Lua
  echo "## Lua module (bench/lua_bench.lua)"
  echo
  strip_kv "$tmp/lua.txt"
  echo "The Lua→C floor is math.abs (a stdlib C function, no Go); the module's own floor is ringlb._noop()"
  echo "(Lua→C→Go→back through the same dispatch path as every module call). The cgo floor in the issue target"
  echo "is ringlb_noop from bench/cabi (RINGLB_DISPATCH=auto, 1 thread) in this run: ${cgo_floor} ns."
  echo
  echo "## The scripts per event and per call (bench/hook_bench.lua)"
  echo
  cat "$tmp/hooks.txt"
  echo
  echo "Through the scripted switch, each script in a fresh environment as mod_lua runs it in a fresh lua_State;"
  echo "CPU of this process (Lua and ringlb's Go), not the switch's own work (state creation, SWIG, events)."
  echo

  # -- Redis
  echo "## Redis backend (bench/redislat)"
  echo
  if [ "$redis_ok" = 1 ]; then
    strip_kv "$tmp/redis.txt"
  else
    echo "redislat failed:"
    echo
    echo '```'
    cat "$tmp/redis.err"
    echo '```'
  fi
  echo
  echo "## In a real FreeSWITCH"
  echo
  echo "What ringlb costs the switch itself (CPU per group call and per tracked call, SIPp on loopback) is"
  echo "measured by \`tests/fs/cpu.sh\`, not here: it needs the test switch. Figures and method: docs/freeswitch.md."
  echo
  echo "Reproduce: \`bench/run.sh\` (full) or \`bench/run.sh --quick\`; parts: \`go test -run '^\$' -bench Memory -benchmem ./lb\`,"
  echo "\`gcc -O2 -pthread -Icgo -o cabi bench/cabi.c -ldl && RINGLB_DISPATCH=auto ./cabi build/lua5.3/ringlb.so\`,"
  echo "\`lua5.3 bench/lua_bench.lua build/lua5.3\`, \`lua5.3 bench/hook_bench.lua build/lua5.3 lua\`, \`go run ./bench/redislat\`."
}

report | tee "$out"
log "wrote $out"
[ "$redis_ok" = 1 ] || { log "redislat failed (see report)"; exit 1; }
