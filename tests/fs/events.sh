# events.sh - sourced by the switch tests (tests/fs) that read the switch's events; they set
# here (tests/fs) and FS_DIR first.

# record_events OUT starts esl_events.py in the background, recording the switch's events into
# OUT; it sets esl to its pid and returns once it has subscribed, or fails after 5 s.
record_events() {
	python3 "$here/esl_events.py" "$1" >"$FS_DIR/esl.out" &
	esl=$!
	for _ in $(seq 1 50); do grep -q subscribed "$FS_DIR/esl.out" && return 0; sleep 0.1; done
	kill "$esl" 2>/dev/null || true
	echo "$(basename "$0"): no events from the switch's event socket" >&2
	return 1
}

# stop_events stops the recording record_events started, once it has written what it got.
stop_events() {
	kill "$esl" 2>/dev/null || true
	wait "$esl" 2>/dev/null || true
}
