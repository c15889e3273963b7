#!/usr/bin/env python3
"""window.py EVENTS.jsonl - the tracker's window, from events recorded by esl_events.py.

For every leg to a user that ringlb did not place (an outbound channel with dialed_user
and no ringlb_dest: a direct call), it measures how long after the channel was created
(Caller-Channel-Created-Time) its CHANNEL_CREATE was fired, the tracker began
(track_timed.lua's start mark, after mod_lua made its Lua state) and the count landed
(the done mark; the earlier of the CHANNEL_CREATE hook's and, with the directory's
execute_on_originate, the run on the new leg's). For every group offer (ringlb::info attempt) it looks for a direct leg
to the same member that was up at that moment: "known" when its count had landed
before the offer (ringlb chose the member knowing it was busy: every other member was
at least as loaded), "window" when the leg existed but its count had not landed yet.
Prints a summary; with --json, one JSON object instead.
"""
import json
import sys
from collections import defaultdict


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def stats(xs):
    if not xs:
        return "n=0"
    ms = lambda v: "%.2f" % (v / 1000.0)
    return "n=%d p50 %s p90 %s p99 %s max %s ms" % (
        len(xs), ms(pct(xs, 50)), ms(pct(xs, 90)), ms(pct(xs, 99)), ms(max(xs)))


def user_of(member):
    u = member
    if u.startswith("user/"):
        u = u[5:]
    return u.split("@")[0]


def main():
    path = [a for a in sys.argv[1:] if not a.startswith("--")][0]
    evs = [json.loads(l) for l in open(path) if l.strip()]
    legs = {}  # uuid -> dict
    marks = defaultdict(dict)  # (uuid, event) -> phase -> ts
    attempts = []
    hook_runs, waits = [], []
    for e in evs:
        name = e.get("Event-Name")
        ts = int(e.get("Event-Date-Timestamp", "0"))
        if name == "CHANNEL_CREATE":
            uid = e["Unique-ID"]
            direct = (e.get("Call-Direction") == "outbound" and e.get("variable_dialed_user")
                      and not e.get("variable_ringlb_dest"))
            legs[uid] = {"user": e.get("variable_dialed_user"), "direct": bool(direct),
                         "created": int(e.get("Caller-Channel-Created-Time", "0")), "fired": ts,
                         "hangup": None}
        elif name == "CHANNEL_HANGUP_COMPLETE":
            if e.get("Unique-ID") in legs:
                legs[e["Unique-ID"]]["hangup"] = ts
        elif name == "CUSTOM" and e.get("Event-Subclass") == "ringlb_test::tracked":
            key = (e.get("Tracked-Unique-ID"), e.get("Tracked-Event"))
            phase = e.get("Tracked-Phase")
            if phase not in marks[key] or ts < marks[key][phase]:
                marks[key][phase] = ts  # the earliest, should it run twice
            marks[key]["fired"] = int(e.get("Tracked-Event-Date", "0"))
        elif name == "CUSTOM" and e.get("Event-Subclass") == "ringlb::info" and e.get("Ringlb-Action") == "attempt":
            attempts.append((ts, user_of(e.get("Ringlb-Members", ""))))
    for key, m in marks.items():
        if "start" in m and "done" in m and key[1] != "ORIGINATE":
            hook_runs.append(m["done"] - m["start"])
            waits.append(m["start"] - m["fired"])
    d_fire, d_start, d_done, g_fire = [], [], [], []
    before_create = 0
    for uid, l in legs.items():
        m = marks.get((uid, "CHANNEL_CREATE"), {})
        o = marks.get((uid, "ORIGINATE"), {})
        l["start"], l["done"] = m.get("start"), m.get("done")
        if o.get("done") and (l["done"] is None or o["done"] < l["done"]):
            l["start"], l["done"] = o.get("start"), o["done"]
        if not l["direct"]:
            if l["user"]:
                g_fire.append(l["fired"] - l["created"])
            continue
        d_fire.append(l["fired"] - l["created"])
        if l["start"]:
            d_start.append(l["start"] - l["created"])
        if l["done"]:
            d_done.append(l["done"] - l["created"])
            if l["done"] <= l["fired"]:
                before_create += 1
    by_user = defaultdict(list)
    for l in legs.values():
        if l["direct"]:
            by_user[l["user"]].append(l)
    known, window, setup, window_ages, setup_ages = 0, 0, 0, [], []
    for t, u in attempts:
        for l in by_user.get(u, []):
            if l["created"] <= t and (l["hangup"] is None or t < l["hangup"]):
                if l["done"] is not None and l["done"] <= t:
                    known += 1
                elif l["fired"] <= t:
                    window += 1  # its CHANNEL_CREATE (and INVITE) had gone: it rang uncounted
                    window_ages.append(t - l["created"])
                else:
                    setup += 1  # not yet rung: both calls were being placed at once
                    setup_ages.append(t - l["created"])
                break
    ndirect = sum(1 for l in legs.values() if l["direct"])
    res = {
        "direct_legs": ndirect, "group_offers": len(attempts),
        "counted_before_channel_create": before_create,
        "offers_to_member_with_counted_direct_call": known,
        "offers_in_window": window,
        "window_offer_ages_ms": [round(a / 1000.0, 2) for a in window_ages],
        "offers_during_setup": setup,
        "setup_offer_ages_ms": [round(a / 1000.0, 2) for a in setup_ages],
    }
    if "--json" in sys.argv:
        print(json.dumps(res))
        return
    print("direct legs %d, group offers %d" % (ndirect, len(attempts)))
    print("leg created -> CHANNEL_CREATE fired:   " + stats(d_fire))
    print("leg created -> tracker hook starts:    " + stats(d_start))
    print("leg created -> count landed:           " + stats(d_done))
    print("counted before the leg's CHANNEL_CREATE (before its INVITE): %d of %d" % (before_create, ndirect))
    print("ringlb's own legs, created -> CHANNEL_CREATE fired: " + stats(g_fire))
    print("tracker hook, every channel event: queue wait + Lua state %s; script %s" % (stats(waits), stats(hook_runs)))
    print("group offers to a member whose direct call was up: %d counted before the offer (ringlb knew); "
          "%d rang uncounted (the window)%s; %d while the leg was still being set up, not yet rung%s" % (
              known, window, (", offered %s ms after the leg was created" % res["window_offer_ages_ms"]) if window else "",
              setup, (", offered %s ms after" % res["setup_offer_ages_ms"]) if setup else ""))


if __name__ == "__main__":
    main()
