#!/usr/bin/env python3
"""esl_events.py OUT [SECONDS] - record the switch's channel events and ringlb's own events.

Connects to the test switch's event socket (127.0.0.1:8021, ClueCon), subscribes to
CHANNEL_CREATE, CHANNEL_ANSWER, CHANNEL_HANGUP, CHANNEL_HANGUP_COMPLETE, CUSTOM ringlb::info
and CUSTOM ringlb_test::tracked (fired by track_timed.lua once the tracker's hook is done),
and writes one JSON object of headers per event to OUT until SECONDS (default: until
SIGTERM) have passed. Prints "subscribed" on stdout once events flow. Only the headers
window.py and shared.py read are kept. Standard library only.
"""
import json
import signal
import socket
import sys
import time
import urllib.parse

KEEP = (
    "Event-Name", "Event-Subclass", "Event-Date-Timestamp", "Event-Sequence", "Unique-ID",
    "Call-Direction", "Caller-Channel-Created-Time", "Hangup-Cause", "variable_dialed_user",
    "variable_ringlb_dest", "variable_originating_leg_uuid", "Ringlb-Action", "Ringlb-Members",
    "Ringlb-Member", "Ringlb-Call-UUID", "Ringlb-Balancer", "Ringlb-Reason", "Ringlb-Result",
    "Tracked-Unique-ID", "Tracked-Event", "Tracked-Event-Date", "Tracked-Phase",
)


def read_message(f):
    """Returns the headers and body of one event-socket message."""
    headers = {}
    while True:
        line = f.readline()
        if not line:
            raise EOFError("event socket closed")
        line = line.decode().rstrip("\n")
        if line == "":
            if headers:
                break
            continue
        k, _, v = line.partition(": ")
        headers[k] = v
    body = b""
    n = int(headers.get("Content-Length", "0"))
    if n:
        body = f.read(n)
    return headers, body


def parse_plain(body):
    ev = {}
    for line in body.decode().split("\n"):
        if not line:
            break
        k, _, v = line.partition(": ")
        ev[k] = urllib.parse.unquote(v)
    return ev


def main():
    out = open(sys.argv[1], "w")
    until = time.time() + float(sys.argv[2]) if len(sys.argv) > 2 else None
    s = socket.create_connection(("127.0.0.1", 8021))
    f = s.makefile("rb")
    read_message(f)  # auth/request
    s.sendall(b"auth ClueCon\n\n")
    h, _ = read_message(f)
    if not h.get("Reply-Text", "").startswith("+OK"):
        sys.exit("esl_events: auth failed: %r" % h)
    s.sendall(b"event plain CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE "
              b"CUSTOM ringlb::info ringlb_test::tracked\n\n")
    h, _ = read_message(f)
    if not h.get("Reply-Text", "").startswith("+OK"):
        sys.exit("esl_events: subscribe failed: %r" % h)
    print("subscribed", flush=True)

    def stop(*_):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    if until is not None:
        signal.signal(signal.SIGALRM, stop)
        signal.setitimer(signal.ITIMER_REAL, max(0.001, until - time.time()))
    n = 0
    try:
        while True:
            try:
                h, body = read_message(f)
            except EOFError:
                break
            if h.get("Content-Type") != "text/event-plain":
                continue
            ev = parse_plain(body)
            out.write(json.dumps({k: ev[k] for k in KEEP if k in ev}) + "\n")
            n += 1
    finally:
        out.close()
        print("recorded %d events" % n, flush=True)


if __name__ == "__main__":
    main()
