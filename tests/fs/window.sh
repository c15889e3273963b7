#!/usr/bin/env bash
# window.sh [CALLS] [RATE] [DIRECT_PERCENT] - measure the tracker's window in the real switch:
# CALLS (600) calls at RATE (8) calls/s, DIRECT_PERCENT (25) of them dialled straight to a random
# agent of 1001-1008, the rest to the balancing group 7001 of the same agents. The tracker hook
# is bound through track_timed.lua, which marks when each count lands; esl_events.py records
# the events and window.py reports. Leaves the switch running.
# Env: as switch.sh, plus RING_MS (1000) and TALK_MS (2000) for the agents, SEED (1), and
# ORIGINATE=1 to count legs to users as they are made as well (the directory's
# dial-var-execute_on_originate_ringlb, through track_timed.lua).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
FS_DIR=${FS_DIR:-/var/tmp/ringlb-fs}
calls=${1:-600} rate=${2:-8} direct=${3:-25}
dir=$FS_DIR/sipp
mkdir -p "$dir"

# The shipped lua.conf.xml with the tracker as the three hooks of earlier versions instead of
# its consumer, bound through the timing wrapper (it times each event's state and count).
if [ -n "${TIMED_LUA_CONF:-}" ]; then
	cp "$TIMED_LUA_CONF" "$FS_DIR/lua.conf.timed.xml"
else
	consumer='<param name="startup-script" value="ringlb_track.lua consume"/>'
	hooks=
	for ev in CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_HANGUP_COMPLETE; do
		hooks="$hooks<hook event=\"$ev\" script=\"$here/track_timed.lua\"/>"
	done
	awk -v c="$consumer" -v h="$hooks" 'index($0, c) { print "    " h; next } { print }' \
		"$root/freeswitch-conf/autoload_configs/lua.conf.xml" >"$FS_DIR/lua.conf.timed.xml"
	grep -q track_timed.lua "$FS_DIR/lua.conf.timed.xml" || { echo "window.sh: no tracker to time" >&2; exit 2; }
fi
"$here/switch.sh" stop
params=
if [ "${ORIGINATE:-0}" = 1 ]; then
	params="dial-var-execute_on_originate_ringlb=lua $here/track_timed.lua originate"
fi
FS_1MS_TIMER=1 RINGLB_DIR_PARAMS="$params" "$here/switch.sh" setup "$FS_DIR/lua.conf.timed.xml"
"$here/switch.sh" start
"$here/agents.sh" stop
"$here/agents.sh" start "${RING_MS:-1000}" "${TALK_MS:-2000}"
"$here/agents.sh" register 1001 1008

python3 - "$calls" "$direct" "${SEED:-1}" >"$dir/mixed.csv" <<'EOF'
import random, sys
n, direct, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
r = random.Random(seed)
print("SEQUENTIAL")
for _ in range(n):
    print(str(r.randint(1001, 1008)) if r.random() * 100 < direct else "7001")
EOF

events=$FS_DIR/events.jsonl
python3 "$here/esl_events.py" "$events" >"$FS_DIR/esl.out" &
esl=$!
trap 'kill $esl 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do grep -q subscribed "$FS_DIR/esl.out" && break; sleep 0.1; done
(cd "$dir" && sipp 127.0.0.1:5090 -sf "$here/sipp/caller.xml" -inf mixed.csv -i 127.0.0.1 -p 7200 \
	-r "$rate" -m "$calls" -l 500 -nostdin -timeout 600 >mixed.out 2>&1) || true
grep -E "Successful call|Failed call" "$dir/mixed.out"
sleep 2
kill "$esl"
wait "$esl" 2>/dev/null || true
python3 "$here/window.py" "$events"
