#!/usr/bin/env bash
# shared.sh [CALLS] [PERIOD_MS] - in the real switch, two ring groups on two balancers that share
# agents: does either offer a call to an agent already on a call? CALLS (110) calls to each
# group, both at once, one every PERIOD_MS (2000) ms per group: 7202 (balancer "sales", agents
# 1001-1004) and 7302 (balancer "support", agents 1003-1006), 4 s per attempt, capacity 1 in
# both, the tracker on for both (ringlb_track=sales,support) as the lua.conf.xml sets it up.
# Agents ring RING_MS (1000) and talk TALK_MS (6000); agent NOANSWER (1006) rings until the
# switch cancels, agent SLOW (1004) rings SLOW_MS (3000) before it answers. esl_events.py
# records the events; shared.py counts the offers made to an agent already on a call (ringing
# or talking) and the most calls each agent had at once, prints them and a verdict.
# Exit status: shared.py's (0: no busy offer, 1: some, 2: the events cannot tell).
# Needs: switch.sh's prerequisites, SIPp and root. Leaves the switch and agents stopped.
# Env: as switch.sh (SO_DIR, SCRIPTS_DIR), LUA_CONF (the lua.conf.xml; default the shipped one),
#   RING_MS, TALK_MS, SLOW_MS, NOANSWER, SLOW.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
FS_DIR=${FS_DIR:-/var/tmp/ringlb-fs}
calls=${1:-110} period=${2:-2000}
noanswer=${NOANSWER:-1006} slow=${SLOW:-1004}
shared=1003,1004 # the agents both groups list (conf/ringlbtest_dialplan.xml)
dir=$FS_DIR/sipp
mkdir -p "$dir"
# The switch loads a copy of the module, so that a build meanwhile changes nothing under it.
mkdir -p "$FS_DIR/shared-so"
cp "${SO_DIR:-$root/build/lua5.3}/ringlb.so" "$FS_DIR/shared-so/ringlb.so"
export SO_DIR=$FS_DIR/shared-so
luaconf=${LUA_CONF:-$root/freeswitch-conf/autoload_configs/lua.conf.xml}

stop_all() {
	"$here/agents.sh" stop
	for p in 7002 7003; do AGENT_PORT=$p "$here/agents.sh" stop; done
	"$here/switch.sh" stop
}
stop_all
RINGLB_VARS="ringlb_track=sales,support ringlb_sales_capacity=1 ringlb_support_capacity=1" \
	"$here/switch.sh" setup "$luaconf" >/dev/null
"$here/switch.sh" start
trap stop_all EXIT
echo "shared.sh: module sha256 $(sha256sum "$SO_DIR/ringlb.so" | cut -c1-12), scripts ${SCRIPTS_DIR:-$root/lua}, $luaconf"
# The first Lua state of the process made alone, before any call: without a startup script
# (older lua.conf.xml) an event hook and a ring script would otherwise make it at once.
"$here/switch.sh" cli "lua ~freeswitch.consoleLog('info', 'shared.sh: first Lua state\n')" >/dev/null
"$here/agents.sh" start "${RING_MS:-1000}" "${TALK_MS:-6000}"
AGENT_PORT=7002 "$here/agents.sh" start 3600000 0 # rings for an hour: never answers
AGENT_PORT=7003 "$here/agents.sh" start "${SLOW_MS:-3000}" "${TALK_MS:-6000}"
for u in 1001 1002 1003 1004 1005 1006; do
	port=7000
	[ "$u" != "$noanswer" ] || port=7002
	[ "$u" != "$slow" ] || port=7003
	AGENT_PORT=$port "$here/agents.sh" register "$u" "$u" >/dev/null
done
echo "shared.sh: agents 1001-1006 registered; $noanswer never answers, $slow rings ${SLOW_MS:-3000} ms"
{ echo SEQUENTIAL; echo 7202; } >"$dir/shared-sales.csv"
{ echo SEQUENTIAL; echo 7302; } >"$dir/shared-support.csv"

events=$FS_DIR/shared-events.jsonl
. "$here/events.sh"
record_events "$events" || exit 2
trap 'stop_events; stop_all' EXIT
callers() { # callers NAME PORT
	(cd "$dir" && sipp 127.0.0.1:5090 -sf "$here/sipp/caller.xml" -inf "shared-$1.csv" -i 127.0.0.1 -p "$2" \
		-r 1 -rp "$period" -m "$calls" -l 100 -nostdin -timeout 900 >"shared-$1.out" 2>&1) || true
}
echo "shared.sh: $calls calls to each group, one every $period ms per group"
callers sales 7200 &
s1=$!
callers support 7210 &
s2=$!
wait $s1 $s2
for g in sales support; do
	echo "callers $g:"
	grep -E "Successful call|Failed call" "$dir/shared-$g.out" | tr -s ' '
done
sleep 2
stop_events
python3 "$here/shared.py" "$events" "$shared"
