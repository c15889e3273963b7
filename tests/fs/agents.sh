#!/usr/bin/env bash
# agents.sh - SIPp agents for the switch tests (tests/fs), on loopback.
#   tests/fs/agents.sh start [RING_MS] [TALK_MS]  one SIPp UAS on 127.0.0.1:AGENT_PORT answering
#                                                  for every agent: rings RING_MS (1000), talks
#                                                  TALK_MS (2000), then hangs up
#   tests/fs/agents.sh register [FIRST] [LAST]     register agents FIRST-LAST (1001-1008) with the
#                                                  switch's ringlbtest profile, contact AGENT_PORT
#   tests/fs/agents.sh stop
# Env: FS_DIR (/var/tmp/ringlb-fs), DOMAIN (the switch's $${domain}, asked of it by default),
# AGENT_PORT (7000; another port is another UAS, e.g. agents that never answer).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
FS_DIR=${FS_DIR:-/var/tmp/ringlb-fs}
dir=$FS_DIR/sipp
mkdir -p "$dir"
port=${AGENT_PORT:-7000}
pidfile=$dir/agents.pid
[ "$port" = 7000 ] || pidfile=$dir/agents-$port.pid

case "${1:-}" in
start)
	ring=${2:-1000} talk=${3:-2000}
	if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
		echo "agents.sh: already running (pid $(cat "$pidfile"))" >&2
		exit 1
	fi
	sed -e "s/RING_MS/$ring/" -e "s/TALK_MS/$talk/" "$here/sipp/agent.xml" >"$dir/agent-$port.xml"
	(cd "$dir" && exec sipp -sf "agent-$port.xml" -i 127.0.0.1 -p "$port" -mi 127.0.0.1 -nostdin -bg \
		-error_file "agent_err-$port.log") >"$dir/agents-$port.out" 2>&1 </dev/null || true # -bg exits 99
	pid=$(sed -n 's/.*PID=\[\([0-9]*\)\].*/\1/p' "$dir/agents-$port.out")
	[ -n "$pid" ] || { echo "agents.sh: SIPp did not start:" >&2; cat "$dir/agents-$port.out" >&2; exit 1; }
	echo "$pid" >"$pidfile"
	echo "agents.sh: agents on 127.0.0.1:$port (pid $pid), ring ${ring} ms, talk ${talk} ms"
	;;
register)
	first=${2:-1001} last=${3:-1008}
	domain=${DOMAIN:-$("$here/switch.sh" cli "global_getvar domain")}
	{ echo SEQUENTIAL; for u in $(seq "$first" "$last"); do echo "$u;$domain"; done; } >"$dir/agents.csv"
	n=$((last - first + 1))
	(cd "$dir" && sipp 127.0.0.1:5090 -sf "$here/sipp/register.xml" -inf agents.csv -key agent_port "$port" \
		-i 127.0.0.1 -p 7100 -m "$n" -r 50 -nostdin -timeout 10 >register.out 2>&1) ||
		{ echo "agents.sh: registration failed:" >&2; tail -20 "$dir/register.out" >&2; exit 1; }
	echo "agents.sh: registered $first-$last@$domain"
	;;
stop)
	if [ -f "$pidfile" ]; then
		kill "$(cat "$pidfile")" 2>/dev/null || true
		rm -f "$pidfile"
	fi
	;;
*) sed -n '2,9p' "$0" >&2; exit 2 ;;
esac
