#!/usr/bin/env bash
# offers.sh [CALLS] [PERIOD_MS] - in the real switch, how many first offers an agent that never
# answers gets with today's rules: CALLS (100) calls, one every PERIOD_MS (2000) ms, to the
# balancing group 7201 ("offers": agents 1001-1008, 4 s per attempt). Agents 1001-1007 ring
# RING_MS (1000) and talk TALK_MS (4000); agent NOANSWER (1008) rings until the switch
# cancels. The first ringlb::info attempt of each call is its first offer (esl_events.py
# records them). Prints the first offers per agent and the never-answering agent's share.
# Needs: switch.sh's prerequisites and root. Leaves the switch and agents stopped.
# Env: as switch.sh, RING_MS, TALK_MS, NOANSWER (1008).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
FS_DIR=${FS_DIR:-/var/tmp/ringlb-fs}
calls=${1:-100} period=${2:-2000}
noanswer=${NOANSWER:-1008}
dir=$FS_DIR/sipp
mkdir -p "$dir"
root=$(cd "$here/../.." && pwd)
# The switch loads a copy of the module, so that a build meanwhile changes nothing under it.
mkdir -p "$FS_DIR/offers-so"
cp "${SO_DIR:-$root/build/lua5.3}/ringlb.so" "$FS_DIR/offers-so/ringlb.so"
export SO_DIR=$FS_DIR/offers-so

"$here/switch.sh" stop
"$here/agents.sh" stop
AGENT_PORT=7002 "$here/agents.sh" stop
"$here/switch.sh" setup >/dev/null
"$here/switch.sh" start
trap '"$here/agents.sh" stop; AGENT_PORT=7002 "$here/agents.sh" stop; "$here/switch.sh" stop' EXIT
"$here/agents.sh" start "${RING_MS:-1000}" "${TALK_MS:-4000}"
AGENT_PORT=7002 "$here/agents.sh" start 3600000 0 # rings for an hour: never answers
"$here/agents.sh" register 1001 1008
AGENT_PORT=7002 "$here/agents.sh" register "$noanswer" "$noanswer"
{ echo SEQUENTIAL; echo 7201; } >"$dir/offers.csv"

events=$FS_DIR/offers-events.jsonl
python3 "$here/esl_events.py" "$events" >"$FS_DIR/esl.out" &
esl=$!
trap 'kill $esl 2>/dev/null || true; "$here/agents.sh" stop; AGENT_PORT=7002 "$here/agents.sh" stop; "$here/switch.sh" stop' EXIT
for _ in $(seq 1 50); do grep -q subscribed "$FS_DIR/esl.out" && break; sleep 0.1; done
(cd "$dir" && sipp 127.0.0.1:5090 -sf "$here/sipp/caller.xml" -inf offers.csv -i 127.0.0.1 -p 7200 \
	-r 1 -rp "$period" -m "$calls" -l 100 -nostdin -timeout 900 >offers.out 2>&1) || true
grep -E "Successful call|Failed call" "$dir/offers.out" | tr -s ' '
sleep 2
kill "$esl"
wait "$esl" 2>/dev/null || true
python3 - "$events" "user/$noanswer" <<'PY'
import collections, json, sys
first, offers = {}, collections.Counter()
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("Event-Subclass") != "ringlb::info" or e.get("Ringlb-Action") != "attempt":
        continue
    offers[e.get("Ringlb-Members")] += 1
    first.setdefault(e.get("Ringlb-Call-UUID"), e.get("Ringlb-Members"))
n = collections.Counter(first.values())
print("first offers per agent:", ", ".join("%s %d" % kv for kv in sorted(n.items())))
print("all offers per agent:  ", ", ".join("%s %d" % kv for kv in sorted(offers.items())))
dud = sys.argv[2]
print("%s (never answers): %d first offers of %d calls (%.0f %%), %d offers in all"
      % (dud, n[dud], len(first), 100.0 * n[dud] / max(len(first), 1), offers[dud]))
PY
