#!/usr/bin/env bash
# swigrace.sh [RUNS] [THREADS] - mod_lua's SWIG set-up raced in RUNS (1000) fresh processes:
# THREADS (2) threads create their first Lua state at the same moment; then RUNS more where
# one state is made first, alone (as ringlb_startup.lua makes it); then RUNS where every
# state is set up first and the threads make their first session calls at once (SWIG's
# type check reorders a cast list then). Tallies how each process ended: sound lists, a
# list that loops or lost an entry (exit 3), hung (killed after 5 s), crashed (signal).
# Uses the switch's own mod_lua.so from FS_PREFIX (/opt/freeswitch-test).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
FS_PREFIX=${FS_PREFIX:-/opt/freeswitch-test}
runs=${1:-1000} threads=${2:-2}
bin=$(mktemp -d)/swigrace
trap 'rm -rf "$(dirname "$bin")"' EXIT
gcc -O1 -pthread -I/usr/include/lua5.3 "$here/swigrace.c" -o "$bin" -llua5.3 -ldl || exit 2
export LD_LIBRARY_PATH=$FS_PREFIX/lib
exec 2>/dev/null # the shell reports each crashed process; they are counted below
for mode in together alone-first session-calls; do
	flag=
	[ "$mode" = alone-first ] && flag=--serial
	[ "$mode" = session-calls ] && flag=--convert
	ok=0 loop=0 hung=0 crashed=0 other=0
	for _ in $(seq 1 "$runs"); do
		timeout -s KILL 5 "$bin" "$FS_PREFIX/lib/freeswitch/mod/mod_lua.so" "$threads" $flag >/dev/null 2>&1
		case $? in
		0) ok=$((ok + 1)) ;;
		3) loop=$((loop + 1)) ;;
		137) hung=$((hung + 1)) ;;
		13[0-9] | 1[4-5][0-9]) crashed=$((crashed + 1)) ;;
		*) other=$((other + 1)) ;;
		esac
	done
	echo "$mode ($threads threads, $runs processes): sound $ok, looping list $loop, hung $hung, crashed $crashed, other $other"
done
