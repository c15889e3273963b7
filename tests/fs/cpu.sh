#!/usr/bin/env bash
# cpu.sh [ring|track|all] [BATCHES] [CALLS] [RATE] - what ringlb costs the real switch, in CPU
# time of the switch process per call, from SIPp callers and SIPp agents on loopback:
#   ring   a group call through ringlb_ring.lua (7001, balancing) against the same agents in a
#          plain Lua bridge loop (7101, plain_ring.lua), no tracker, one switch run
#   track  a user call that does not go through ringlb (10xx: bridge user/10xx), with
#          ringlb_track=sales, the tracker: off (no tracker in lua.conf.xml), consumer (the
#          shipped lua.conf.xml: ringlb_track.lua consume as a startup script), hooks (the
#          three <hook> lines bound to ringlb_track.lua instead), and with EMPTY=1 also empty-hooks
#          (the three hooks bound to a script that does nothing: what mod_lua's fresh state
#          per event costs by itself); the switch is restarted with the variant's
#          lua.conf.xml before every batch (mod_lua reads it only as it loads)
#   all    both (the default)
# BATCHES (6) rounds of one batch of CALLS (100) calls per variant at RATE (10) calls/s, the
# variants in turn, in reverse order every other round, so that drift and other processes'
# load fall on every variant alike. Agents ring
# RING_MS (100) and talk TALK_MS (1000). CPU is the switch's utime+stime (/proc/PID/stat, all its
# threads, dead ones included) from the first INVITE until every call has ended and the switch
# has settled, less the switch's idle rate over the whole run (IDLE_S (8) seconds of no calls
# before every batch, pooled) times the batch's length. Each batch is preceded by WARM (10)
# unmeasured calls of its variant. Prints one line per batch, then the median and spread per
# variant and of the paired differences (each variant against the round's first), and the
# machine's load average while it ran. Measures only; needs switch.sh's prerequisites and root.
# Leaves the switch and agents stopped. Env: as switch.sh, RING_MS, TALK_MS, WARM, IDLE_S, OUT
# (the per-batch lines, appended; $FS_DIR/cpu-batches.txt), TIMED (1: the ring's calls go
# through ring_timed.lua, 7002 and 7102, which logs the caller's thread CPU by part for every
# call, warm-up calls included, into $FS_DIR/ring_timed.log; printed at the end by
# ring_timed.py; the tracker's calls are not timed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
FS_DIR=${FS_DIR:-/var/tmp/ringlb-fs}
what=${1:-all} batches=${2:-6} calls=${3:-100} rate=${4:-10}
ring_ms=${RING_MS:-100} talk_ms=${TALK_MS:-1000} warm=${WARM:-10} idle_s=${IDLE_S:-8}
out=${OUT:-$FS_DIR/cpu-batches.txt}
dir=$FS_DIR/sipp
mkdir -p "$dir"
hz=$(getconf CLK_TCK)
# The switch loads a copy of the module, so that a build meanwhile changes nothing under it.
mkdir -p "$FS_DIR/cpu-so"
cp "${SO_DIR:-$root/build/lua5.3}/ringlb.so" "$FS_DIR/cpu-so/ringlb.so"
export SO_DIR=$FS_DIR/cpu-so
shipped=$root/freeswitch-conf/autoload_configs/lua.conf.xml
consumer='<param name="startup-script" value="ringlb_track.lua consume"/>'
grep -qF "$consumer" "$shipped" || { echo "cpu.sh: $shipped does not run the tracker's consumer" >&2; exit 2; }
# lua_conf NAME HOOK_SCRIPT: the shipped lua.conf.xml without the consumer, with the three
# tracker hooks bound to HOOK_SCRIPT unless it is empty.
lua_conf() {
	local hooks=
	if [ -n "$2" ]; then
		for ev in CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_HANGUP_COMPLETE; do
			hooks="$hooks<hook event=\"$ev\" script=\"$2\"/>"
		done
	fi
	awk -v c="$consumer" -v h="$hooks" 'index($0, c) { print "    " h; next } { print }' "$shipped" >"$FS_DIR/lua.conf.$1.xml"
}
lua_conf off ""
lua_conf hooks ringlb_track.lua
echo "-- does nothing: the floor of a mod_lua event hook" >"$FS_DIR/empty_hook.lua"
lua_conf empty-hooks "$FS_DIR/empty_hook.lua"
cp "$shipped" "$FS_DIR/lua.conf.consumer.xml"

pid=
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
# ringlb_ns: CPU time (ns) of the switch's threads that are ringlb's (named ringlb-go and
# ringlb-worker), alive now.
ringlb_ns() {
	local t sum=0 comm ns
	for t in /proc/"$pid"/task/*; do
		comm=$(cat "$t/comm" 2>/dev/null) || continue
		case $comm in ringlb-*) ;; *) continue ;; esac
		ns=$(cut -d' ' -f1 "$t/schedstat" 2>/dev/null) || continue
		sum=$((sum + ns))
	done
	echo "$sum"
}
now() { date +%s.%N; }
channels() { "$here/switch.sh" cli "show channels count" 2>/dev/null | grep -o '^[0-9]*' || echo 1; }

# switch_up LUA_CONF: a fresh switch with that lua.conf.xml and the agents registered.
switch_up() {
	"$here/switch.sh" stop
	"$here/switch.sh" setup "$1" >/dev/null
	"$here/switch.sh" start >/dev/null
	pid=$(cat "$FS_DIR/run/freeswitch.pid")
	"$here/agents.sh" register 1001 1008 >/dev/null
}

# settle waits until the switch carries no channel (60 s at most).
settle() {
	local t0=$SECONDS
	while [ "$(channels)" != 0 ] && [ $((SECONDS - t0)) -lt 60 ]; do sleep 0.5; done
}

# calls_file NAME DEST...: an injection file cycling over the destinations.
calls_file() {
	local name=$1
	shift
	{ echo SEQUENTIAL; for d in "$@"; do echo "$d"; done; } >"$dir/$name.csv"
}

# sipp_calls CSV N: N calls at RATE; prints "ok failed".
sipp_calls() {
	(cd "$dir" && sipp 127.0.0.1:5090 -sf "$here/sipp/caller.xml" -inf "$1" -i 127.0.0.1 -p 7200 \
		-r "$rate" -m "$2" -l $((rate * 10 + 50)) -nostdin -timeout 300 >cpu_calls.out 2>&1) || true
	local ok bad
	ok=$(awk -F'|' '/Successful call/ { gsub(/ /, "", $3); print $3 }' "$dir/cpu_calls.out")
	bad=$(awk -F'|' '/Failed call/ { gsub(/ /, "", $3); print $3 }' "$dir/cpu_calls.out")
	echo "${ok:-0} ${bad:-0}"
}

# batch MODE VARIANT CSV: warm-up, an idle window, then CALLS measured calls; appends
# "MODE VARIANT ok failed batch_s batch_ticks idle_s idle_ticks load1 ringlb_ms" to $out
# (ringlb_ms: the CPU of ringlb's own threads during the batch).
batch() {
	local mode=$1 variant=$2 csv=$3
	[ "$warm" -gt 0 ] && sipp_calls "$csv" "$warm" >/dev/null
	settle
	local i0 i1 t0 t1 c0 c1 a0 a1 r0 r1 res
	i0=$(now) c0=$(cpu_ticks)
	sleep "$idle_s"
	i1=$(now) c1=$(cpu_ticks)
	t0=$(now) a0=$(cpu_ticks) r0=$(ringlb_ns)
	res=$(sipp_calls "$csv" "$calls")
	settle
	sleep 1
	t1=$(now) a1=$(cpu_ticks) r1=$(ringlb_ns)
	echo "$mode $variant $res $(echo "$t1 - $t0" | bc) $((a1 - a0)) $(echo "$i1 - $i0" | bc) $((c1 - c0)) $(cut -d' ' -f1 /proc/loadavg) $(echo "scale=3; ($r1 - $r0) / 1000000" | bc)" |
		tee -a "$out"
}

# rounds MODE CSV_OF_VARIANT VARIANT...: BATCHES rounds of one batch per variant, the order
# reversed every other round; CSV_OF_VARIANT names a function printing a variant's csv, and
# a variant whose lua.conf.<variant>.xml exists gets a fresh switch with it first.
rounds() {
	local mode=$1 csv_of=$2 r v
	shift 2
	local fwd=("$@") rev=()
	for ((r = $# - 1; r >= 0; r--)); do rev+=("${fwd[r]}"); done
	for r in $(seq 0 $((batches - 1))); do
		local order=("${fwd[@]}")
		[ $((r % 2)) = 1 ] && order=("${rev[@]}")
		for v in "${order[@]}"; do
			[ -f "$FS_DIR/lua.conf.$v.xml" ] && [ "$mode" = track ] && switch_up "$FS_DIR/lua.conf.$v.xml"
			batch "$mode" "$v" "$($csv_of "$v")"
		done
	done
}
ring_csv() { if [ "$1" = plain ]; then echo plain.csv; else echo group.csv; fi; }
track_csv() { echo direct.csv; }

"$here/agents.sh" stop
"$here/agents.sh" start "$ring_ms" "$talk_ms" >/dev/null
trap '"$here/agents.sh" stop; "$here/switch.sh" stop' EXIT
if [ "${TIMED:-0}" = 1 ]; then
	# shellcheck disable=SC2046
	gcc -O2 -Wall -shared -fPIC $(pkg-config --cflags lua5.3 2>/dev/null || echo -I/usr/include/lua5.3) \
		-o "$FS_DIR/thread_cpu.so" "$here/thread_cpu.c"
	export RINGLB_VARS="${RINGLB_VARS:-} ringlb_fs_thread_cpu=$FS_DIR/thread_cpu.so ringlb_fs_timed_log=$FS_DIR/ring_timed.log"
	rm -f "$FS_DIR/ring_timed.log"
	calls_file group 7002
	calls_file plain 7102
else
	calls_file group 7001
	calls_file plain 7101
fi
calls_file direct 1001 1002 1003 1004 1005 1006 1007 1008
echo "# cpu.sh $what $batches $calls $rate $(date -u +%FT%TZ) ring ${ring_ms}ms talk ${talk_ms}ms hz $hz commit $(git -C "$root" rev-parse --short HEAD)" | tee -a "$out"
first=$(($(wc -l <"$out")))

if [ "$what" = ring ] || [ "$what" = all ]; then
	switch_up "$FS_DIR/lua.conf.off.xml"
	rounds ring ring_csv plain ringlb
fi
if [ "$what" = track ] || [ "$what" = all ]; then
	if [ "${EMPTY:-0}" = 1 ]; then
		rounds track track_csv off consumer hooks empty-hooks
	else
		rounds track track_csv off consumer hooks
	fi
fi

tail -n +"$((first + 1))" "$out" | python3 "$here/cpu.py" "$hz" "$calls"
if [ "${TIMED:-0}" = 1 ] && [ -s "$FS_DIR/ring_timed.log" ]; then
	echo
	python3 "$here/ring_timed.py" "$FS_DIR/ring_timed.log"
fi
