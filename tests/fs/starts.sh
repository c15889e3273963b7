#!/usr/bin/env bash
# starts.sh [N] [RATE] [CALLS] - N (20) fresh starts of the test switch, each met by a burst of
# CALLS (150) calls at RATE (150) calls/s into the ring group 7001 (ringlb_ring.lua), sent from
# the moment mod_lua has loaded, so that the first calls' Lua states (the tracker hook on the
# event thread, the ring script on the session thread) are created together.
#
# A start passes when the switch answers fs_cli all through the burst and after it, and
# stops on SIGTERM. A switch that stops answering is a hang: its threads' CPU and stacks
# are saved in $FS_DIR/hang-<n>/ and it is killed with SIGKILL at once (a spinning
# realtime thread starves the machine).
#
# Needs: switch.sh setup, agents.sh start and register (agents stay registered across
# restarts: the registrations live in $FS_DIR/db).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
FS_DIR=${FS_DIR:-/var/tmp/ringlb-fs}
FS_PREFIX=${FS_PREFIX:-/opt/freeswitch-test}
n=${1:-20} rate=${2:-150} calls=${3:-150}
log=$FS_DIR/log/freeswitch.log
dir=$FS_DIR/sipp
mkdir -p "$dir"
{ echo SEQUENTIAL; echo 7001; } >"$dir/group.csv"
cli() { timeout 5 "$FS_PREFIX/bin/fs_cli" -H 127.0.0.1 -P 8021 -p ClueCon -t 4000 -x "$*" 2>/dev/null; }

hung=0 passed=0
for i in $(seq 1 "$n"); do
	"$here/switch.sh" launch || exit 1
	t0=$(date +%s.%N)
	until grep -q "Successfully Loaded \[mod_lua\]" "$log" 2>/dev/null; do
		sleep 0.02
		if [ "$(echo "$(date +%s.%N) - $t0 > 60" | bc)" = 1 ]; then echo "start $i: mod_lua not loaded in 60 s"; exit 1; fi
	done
	(cd "$dir" && exec sipp 127.0.0.1:5090 -sf "$here/sipp/caller.xml" -inf group.csv -i 127.0.0.1 -p 7200 \
		-r "$rate" -m "$calls" -l 200 -nostdin -timeout 90 -timeout_error >burst.out 2>&1) &
	sipp_pid=$!
	pid=$(cat "$FS_DIR/run/freeswitch.pid" 2>/dev/null)
	fails=0 state=ok
	while kill -0 "$sipp_pid" 2>/dev/null; do
		sleep 2
		if cli status | grep -q "UP"; then fails=0; else fails=$((fails + 1)); fi
		if [ "$fails" -ge 2 ]; then state=hung; break; fi
	done
	if [ "$state" = ok ]; then
		wait "$sipp_pid"
		cli status | grep -q "UP" || { sleep 3; cli status | grep -q "UP" || state=hung; }
	fi
	ok=$(awk -F'|' '/Successful call/ { gsub(/ /, "", $3); print $3 }' "$dir/burst.out")
	bad=$(awk -F'|' '/Failed call/ { gsub(/ /, "", $3); print $3 }' "$dir/burst.out")
	startup=$(grep -m1 "ringlb_startup" "$log" | cut -c12-26)
	# the banner's line: the switch takes calls from just after it
	ready=$(awk '/^20[0-9][0-9]-[0-9][0-9]-[0-9][0-9] / { ts = substr($2, 1, 15) } /^FreeSWITCH Started/ { print ts; exit }' "$log")
	if [ "$state" = hung ]; then
		hung=$((hung + 1))
		h=$FS_DIR/hang-$i
		mkdir -p "$h"
		ps -L -o tid,cls,rtprio,pcpu,stat,wchan:20,comm -p "$pid" >"$h/threads.txt" 2>&1
		sort -k4 -nr "$h/threads.txt" | head -5
		timeout 60 gdb -p "$pid" -batch -ex "thread apply all bt 12" >"$h/stacks.txt" 2>&1
		kill -KILL "$pid" 2>/dev/null
		kill "$sipp_pid" 2>/dev/null
		cp "$log" "$h/"
		echo "start $i: HUNG (threads and stacks in $h); calls ok $ok failed $bad"
		rm -f "$FS_DIR/run/freeswitch.pid"
		sleep 1
		continue
	fi
	t1=$(date +%s.%N)
	"$here/switch.sh" stop
	stop_s=$(echo "$(date +%s.%N) - $t1" | bc)
	passed=$((passed + 1))
	echo "start $i: ok; calls ok $ok failed $bad; first Lua state (startup script) ${startup:-none}, switch takes calls from $ready; stopped in ${stop_s%???????} s"
done
echo "starts: $passed passed, $hung hung, of $n"
[ "$hung" -eq 0 ]
