#!/usr/bin/env bash
# cpu.sh [ring|track|all] [BATCHES] [CALLS] [RATE] - what ringlb costs the real switch, in CPU
# time of the switch process per call, from SIPp callers and SIPp agents on loopback:
#   ring   a group call through ringlb_ring.lua (7001, balancing) against the same agents in a
#          plain Lua bridge loop (7101, plain_ring.lua), tracking hooks off, one switch run
#   track  a user call that does not go through ringlb (10xx: bridge user/10xx) with the
#          shipped tracking hooks off and on, ringlb_track=sales; the switch is restarted with
#          the other lua.conf.xml before every batch (mod_lua binds hooks only as it loads)
#   all    both (the default)
# BATCHES (6) batches of CALLS (100) calls per variant at RATE (10) calls/s, interleaved ABBA
# ABBA..., so that drift and other processes' load fall on both variants alike. Agents ring
# RING_MS (100) and talk TALK_MS (1000). CPU is the switch's utime+stime (/proc/PID/stat, all its
# threads, dead ones included) from the first INVITE until every call has ended and the switch
# has settled, less the switch's idle rate over the whole run (IDLE_S (8) seconds of no calls
# before every batch, pooled) times the batch's length. Each batch is preceded by WARM (10)
# unmeasured calls of its variant. Prints one line per batch, then the median and spread per
# variant and of the paired differences (each B batch against the A batch next to it), and the
# machine's load average while it ran. Measures only; needs switch.sh's prerequisites and root.
# Leaves the switch and agents stopped. Env: as switch.sh, RING_MS, TALK_MS, WARM, IDLE_S, OUT
# (the per-batch lines, appended; $FS_DIR/cpu-batches.txt).
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
shipped=$root/freeswitch-conf/autoload_configs/lua.conf.xml
sed '/<hook /d' "$shipped" >"$FS_DIR/lua.conf.nohooks.xml"
grep -q '<hook ' "$shipped" || { echo "cpu.sh: $shipped binds no hooks" >&2; exit 2; }

pid=
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
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
# "MODE VARIANT ok failed batch_s batch_ticks idle_s idle_ticks load1" to $out.
batch() {
	local mode=$1 variant=$2 csv=$3
	[ "$warm" -gt 0 ] && sipp_calls "$csv" "$warm" >/dev/null
	settle
	local i0 i1 t0 t1 c0 c1 a0 a1 res
	i0=$(now) c0=$(cpu_ticks)
	sleep "$idle_s"
	i1=$(now) c1=$(cpu_ticks)
	t0=$(now) a0=$(cpu_ticks)
	res=$(sipp_calls "$csv" "$calls")
	settle
	sleep 1
	t1=$(now) a1=$(cpu_ticks)
	echo "$mode $variant $res $(echo "$t1 - $t0" | bc) $((a1 - a0)) $(echo "$i1 - $i0" | bc) $((c1 - c0)) $(cut -d' ' -f1 /proc/loadavg)" |
		tee -a "$out"
}

# order I: the variant of batch I in the sequence A B B A A B B A ...
order() { case $(($1 % 4)) in 0 | 3) echo A ;; *) echo B ;; esac; }

"$here/agents.sh" stop
"$here/agents.sh" start "$ring_ms" "$talk_ms" >/dev/null
trap '"$here/agents.sh" stop; "$here/switch.sh" stop' EXIT
calls_file group 7001
calls_file plain 7101
calls_file direct 1001 1002 1003 1004 1005 1006 1007 1008
echo "# cpu.sh $what $batches $calls $rate $(date -u +%FT%TZ) ring ${ring_ms}ms talk ${talk_ms}ms hz $hz commit $(git -C "$root" rev-parse --short HEAD)" | tee -a "$out"
first=$(($(wc -l <"$out")))

if [ "$what" = ring ] || [ "$what" = all ]; then
	switch_up "$FS_DIR/lua.conf.nohooks.xml"
	for i in $(seq 0 $((2 * batches - 1))); do
		if [ "$(order "$i")" = A ]; then batch ring plain plain.csv; else batch ring ringlb group.csv; fi
	done
fi
if [ "$what" = track ] || [ "$what" = all ]; then
	for i in $(seq 0 $((2 * batches - 1))); do
		if [ "$(order "$i")" = A ]; then
			switch_up "$FS_DIR/lua.conf.nohooks.xml"
			batch track hooks-off direct.csv
		else
			switch_up "$shipped"
			batch track hooks-on direct.csv
		fi
	done
fi

tail -n +"$((first + 1))" "$out" | python3 "$here/cpu.py" "$hz" "$calls"
