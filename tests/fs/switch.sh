#!/usr/bin/env bash
# switch.sh - a real FreeSWITCH for ringlb's switch tests, on loopback.
#   tests/fs/switch.sh setup [LUA_CONF]  config in $FS_DIR/conf from the installed one,
#                                        with ringlb's lua.conf.xml (default: the shipped one)
#   tests/fs/switch.sh start             start it, wait until it takes calls
#   tests/fs/switch.sh launch            start it and return at once
#   tests/fs/switch.sh stop              stop it (SIGTERM, then SIGKILL after 20 s)
#   tests/fs/switch.sh cli CMD...        one fs_cli command
# Env: FS_PREFIX (/opt/freeswitch-test, built by the build-freeswitch tool),
#   FS_DIR (/var/tmp/ringlb-fs), SO_DIR (build/lua5.3), RINGLB_VARS (extra
#   global variables, "name=value name=value"), FS_LOGLEVEL (info), FS_1MS_TIMER (0; 1: timestamps
#   of events to the millisecond instead of the core's 20 ms tick), RINGLB_DIR_PARAMS and
#   RINGLB_DIR_VARS (params and variables of the default domain, "name=value;name=value").
# The config is the installed one plus: ringlb's lua.conf.xml (module and
# script directories pointed at this tree), the ringlb variables, a SIP
# profile "ringlbtest" on 127.0.0.1:5090 (no auth, blind registration) whose
# calls go to the context "ringlbtest" (tests/fs/conf), and sessions-per-second
# 1000. Nothing here ships.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
FS_PREFIX=${FS_PREFIX:-/opt/freeswitch-test}
FS_DIR=${FS_DIR:-/var/tmp/ringlb-fs}
SO_DIR=$(cd "${SO_DIR:-$root/build/lua5.3}" && pwd)
conf=$FS_DIR/conf
pidfile=$FS_DIR/run/freeswitch.pid

cli() { "$FS_PREFIX/bin/fs_cli" -H 127.0.0.1 -P 8021 -p ClueCon -t 5000 -x "$*"; }

# dir_entries TAG SECTION "name=value;..." adds <TAG name= value=/> lines at the top of the
# default domain's <SECTION> in directory/default.xml.
dir_entries() {
	local tag=$1 section=$2 list=$3 kv add=""
	[ -n "$list" ] || return 0
	local IFS=';'
	for kv in $list; do
		add="$add      <$tag name=\"${kv%%=*}\" value=\"${kv#*=}\"/>\n"
	done
	awk -v open="<$section>" -v add="$add" '{ print } index($0, open) && !done { printf "%s", add; done = 1 }' \
		"$conf/directory/default.xml" >"$conf/directory/default.xml.new"
	mv "$conf/directory/default.xml.new" "$conf/directory/default.xml"
}

setup() {
	local luaconf=${1:-$root/freeswitch-conf/autoload_configs/lua.conf.xml}
	[ -x "$FS_PREFIX/bin/freeswitch" ] || { echo "switch.sh: no FreeSWITCH in $FS_PREFIX" >&2; exit 2; }
	[ -f "$SO_DIR/ringlb.so" ] || { echo "switch.sh: no $SO_DIR/ringlb.so (./build.sh 5.3)" >&2; exit 2; }
	rm -rf "$conf"
	mkdir -p "$FS_DIR"/{log,db,run,temp}
	cp -a "$FS_PREFIX/etc/freeswitch" "$conf"
	# ringlb's lua.conf.xml, its module directory pointed at this build.
	sed -e "s#value=\"/usr/lib/freeswitch/lua/?.so;;\"#value=\"$SO_DIR/?.so;;\"#" \
		"$luaconf" >"$conf/autoload_configs/lua.conf.xml"
	grep -q "$SO_DIR/?.so" "$conf/autoload_configs/lua.conf.xml" ||
		{ echo "switch.sh: $luaconf has no module-directory to point at $SO_DIR" >&2; exit 2; }
	# ringlb's global variables. The preprocessor drops any line holding
	# <include> or </include> with what else is on it: tags on lines of their own.
	{
		echo "<include>"
		echo "  <X-PRE-PROCESS cmd=\"set\" data=\"ringlb_track=sales\"/>"
		echo "  <X-PRE-PROCESS cmd=\"set\" data=\"ringlb_metrics=127.0.0.1:9361\"/>"
		echo "  <X-PRE-PROCESS cmd=\"set\" data=\"ringlb_fs_tests=$here\"/>"
		for kv in ${RINGLB_VARS:-}; do
			echo "  <X-PRE-PROCESS cmd=\"set\" data=\"$kv\"/>"
		done
		echo "</include>"
	} >"$conf/vars_ringlb_test.xml"
	awk '{ lines[NR] = $0 } /^[[:space:]]*<\/include>[[:space:]]*$/ { last = NR }
		END { for (i = 1; i <= NR; i++) {
			if (i == last) print "  <X-PRE-PROCESS cmd=\"include\" data=\"vars_ringlb_test.xml\"/>"
			print lines[i] } }' "$conf/vars.xml" >"$conf/vars.xml.new"
	mv "$conf/vars.xml.new" "$conf/vars.xml"
	grep -q vars_ringlb_test.xml "$conf/vars.xml" || { echo "switch.sh: vars.xml not patched" >&2; exit 2; }
	sed -i -e 's#<param name="sessions-per-second" value="30"/>#<param name="sessions-per-second" value="1000"/>#' \
		-e "s#<param name=\"loglevel\" value=\"debug\"/>#<param name=\"loglevel\" value=\"${FS_LOGLEVEL:-info}\"/>#" \
		"$conf/autoload_configs/switch.conf.xml"
	# Event and channel timestamps come from the core's timer tick, 20 ms unless 1ms-timer.
	if [ "${FS_1MS_TIMER:-0}" = 1 ]; then
		sed -i 's#<param name="sessions-per-second" value="1000"/>#&<param name="1ms-timer" value="true"/>#' \
			"$conf/autoload_configs/switch.conf.xml"
		grep -q 1ms-timer "$conf/autoload_configs/switch.conf.xml" || { echo "switch.sh: 1ms-timer not set" >&2; exit 2; }
	fi
	# Params and variables of the default domain (directory/default.xml), "name=value;name=value".
	dir_entries param params "${RINGLB_DIR_PARAMS:-}"
	dir_entries variable variables "${RINGLB_DIR_VARS:-}"
	cp "$here/conf/ringlbtest_profile.xml" "$conf/sip_profiles/ringlbtest.xml"
	cp "$here/conf/ringlbtest_dialplan.xml" "$conf/dialplan/ringlbtest.xml"
	echo "switch.sh: config in $conf (lua.conf.xml from $luaconf)"
}

# launch starts the switch in the background and returns at once.
launch() {
	if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
		echo "switch.sh: already running (pid $(cat "$pidfile"))" >&2
		exit 1
	fi
	: >"$FS_DIR/log/freeswitch.log"
	(cd "$FS_DIR" && exec "$FS_PREFIX/bin/freeswitch" -nonat -nonatmap -nc -nf \
		-conf "$conf" -log "$FS_DIR/log" -db "$FS_DIR/db" -run "$FS_DIR/run" -temp "$FS_DIR/temp" \
		-scripts "$root/lua") >"$FS_DIR/freeswitch.out" 2>&1 </dev/null &
}

start() {
	launch
	local t0=$SECONDS
	until cli status 2>/dev/null | grep -q "is ready"; do
		[ $((SECONDS - t0)) -lt 60 ] || { echo "switch.sh: not ready after 60 s" >&2; exit 1; }
		sleep 0.2
	done
	until cli "sofia status" 2>/dev/null | grep -q "ringlbtest.*RUNNING"; do
		[ $((SECONDS - t0)) -lt 60 ] || { echo "switch.sh: profile ringlbtest not running" >&2; exit 1; }
		sleep 0.2
	done
	echo "switch.sh: running (pid $(cat "$pidfile"))"
}

stop() {
	[ -f "$pidfile" ] || return 0
	local pid
	pid=$(cat "$pidfile")
	kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; return 0; }
	kill -TERM "$pid"
	for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
	if kill -0 "$pid" 2>/dev/null; then
		echo "switch.sh: pid $pid ignored SIGTERM for 20 s; SIGKILL" >&2
		kill -KILL "$pid"
		sleep 0.5
	fi
	rm -f "$pidfile"
}

case "${1:-}" in
setup) shift; setup "$@" ;;
start) start ;;
launch) launch ;;
stop) stop ;;
cli) shift; cli "$@" ;;
*) sed -n '2,8p' "$0" >&2; exit 2 ;;
esac
