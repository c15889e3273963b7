#!/usr/bin/env bash
# metrics.sh [CALLS] - the metrics endpoint in the real switch, with the shipped lua.conf.xml:
#  1. it answers right after the switch starts, no call made (polled every 20 ms from launch);
#  2. with its port taken by another process, CALLS (100) ring-group calls log the failure
#     once; freed, the next ring starts it and says so once.
# Needs: switch.sh setup (shipped lua.conf.xml), agents.sh start and register. Leaves the switch
# stopped.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
FS_DIR=${FS_DIR:-/var/tmp/ringlb-fs}
calls=${1:-100}
log=$FS_DIR/log/freeswitch.log
dir=$FS_DIR/sipp
url=http://127.0.0.1:9361/metrics
{ echo SEQUENTIAL; echo 7001; } >"$dir/group.csv"
ring() {
	(cd "$dir" && sipp 127.0.0.1:5090 -sf "$here/sipp/caller.xml" -inf group.csv -i 127.0.0.1 -p 7200 \
		-r 20 -m "$1" -l 100 -nostdin -timeout 120 >metrics_calls.out 2>&1) || true
	grep -E "Successful call|Failed call" "$dir/metrics_calls.out" | tr -s ' ' | tr '\n' ' '
	echo
}

echo "== 1. the endpoint as the switch starts"
"$here/switch.sh" stop
"$here/switch.sh" launch
t0=$(date +%s%N)
until curl -sf -o "$FS_DIR/metrics.txt" "$url"; do
	[ $(($(date +%s%N) - t0)) -lt 60000000000 ] || { echo "FAIL: no metrics 60 s after launch"; exit 1; }
	sleep 0.02
done
t1=$(date +%s%N)
sessions=$("$here/switch.sh" cli "show calls count" | grep -o '^[0-9]*' || true)
ready=$(awk '/^20[0-9][0-9]-[0-9][0-9]-[0-9][0-9] / { ts = substr($2, 1, 15) } /^FreeSWITCH Started/ { print ts; exit }' "$log")
first=$(grep -m1 "ringlb_startup: metrics on" "$log" | cut -c12-26)
echo "answered $(((t1 - t0) / 1000000)) ms after launch; switch took calls from $ready, endpoint logged at $first; calls so far: ${sessions:-?}"
grep -c '^ringlb_workers\|^go_goroutines' "$FS_DIR/metrics.txt" >/dev/null && echo "ok: scraped $(grep -c '^[a-z]' "$FS_DIR/metrics.txt") samples"
"$here/switch.sh" stop

echo "== 2. port 9361 taken by another process, $calls ring-group calls"
python3 -m http.server 9361 --bind 127.0.0.1 >/dev/null 2>&1 &
holder=$!
trap 'kill $holder 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -s -o /dev/null http://127.0.0.1:9361/ && break; sleep 0.1; done
"$here/switch.sh" start
ring "$calls"
n=$(grep -c "metrics endpoint on 127.0.0.1:9361 not started" "$log" || true)
echo "lines saying the port is taken: $n"
grep -m1 "metrics endpoint on 127.0.0.1:9361 not started" "$log" | cut -c1-300
kill "$holder"
wait "$holder" 2>/dev/null || true
sleep 0.5
echo "== 3. port freed, 5 more calls"
ring 5
curl -sf -o /dev/null "$url" && echo "ok: the endpoint answers"
echo "lines saying it serves: $(grep -c "metrics endpoint serving on" "$log" || true)"
"$here/switch.sh" stop
[ "$n" = 1 ]
