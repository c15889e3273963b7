#!/usr/bin/env python3
"""shared.py EVENTS.jsonl SHARED [--json] - offers to agents already on a call, from events
recorded by esl_events.py while two ring groups with agents in common took calls.

SHARED is the shared agents, comma-separated (1003,1004). Events are replayed in the order
the switch fired them (Event-Sequence). An agent is on a call from the moment a group offers
it one (the ringlb::info attempt naming it) until that call's leg to it hangs up
(CHANNEL_HANGUP of the outbound leg with its dialed_user, matched to the offer by
originating_leg_uuid), or until the attempt fails when no leg was made; a leg to an agent
that no offer placed counts from its CHANNEL_CREATE. An offer is busy when the agent is
already on another call at that moment: "talking" when one of those calls was answered,
"ringing" otherwise. An offer made while the agent's last leg was hung up but not yet
destroyed (between CHANNEL_HANGUP and CHANNEL_HANGUP_COMPLETE) is not busy; those are
counted apart. The peak calls of an agent is the most legs to it up at once (CHANNEL_CREATE
to CHANNEL_HANGUP). Members skipped at capacity come from ringlb::info skipped events, which
older modules do not fire.

Prints a summary and a verdict; with --json, one JSON object instead. Exit status: 0 when no
offer was busy, 1 when some were, 2 when the events cannot answer (no offers, a shared
agent never offered by two groups, legs or offers left open).
"""
import collections
import json
import sys


def user_of(member):
    """Returns the user of a member key or dialed user: user/1003@dom -> 1003."""
    u = member.strip()
    if u.startswith("user/"):
        u = u[5:]
    return u.split("@")[0]


def analyse(events, shared):
    events = sorted(events, key=lambda e: int(e.get("Event-Sequence", "0")))
    # engaged[agent][key] = {"answered": bool, "leg": uuid or None}; key is the caller's
    # uuid for an offer, ("leg", uuid) for a leg no offer placed.
    engaged = collections.defaultdict(dict)
    legs = {}  # leg uuid -> (agent, key)
    up = collections.defaultdict(set)  # agent -> legs up (created, not hung up)
    hanging = collections.defaultdict(set)  # agent -> legs hung up, not yet destroyed
    peak = collections.Counter()
    offers = collections.Counter()  # (balancer, agent) -> offers
    busy = collections.Counter()  # (balancer, agent, "talking"|"ringing") -> offers
    just_hung = collections.Counter()  # (balancer, agent) -> offers during a hang-up
    groups_of = collections.defaultdict(set)  # agent -> balancers that offered it
    calls = collections.Counter()  # balancer -> ring-start
    results = collections.defaultdict(collections.Counter)  # balancer -> ring-end result
    at_capacity = collections.Counter()  # balancer -> members skipped at capacity
    agent_legs = collections.Counter()
    answered_legs = collections.Counter()
    busy_list = []

    for e in events:
        name = e.get("Event-Name")
        if name == "CUSTOM" and e.get("Event-Subclass") == "ringlb::info":
            act = e.get("Ringlb-Action")
            bal = e.get("Ringlb-Balancer", "")
            call = e.get("Ringlb-Call-UUID", "")
            members = [user_of(m) for m in e.get("Ringlb-Members", "").split(",") if m.strip()]
            if act == "ring-start":
                calls[bal] += 1
            elif act == "ring-end":
                results[bal][e.get("Ringlb-Result", "?")] += 1
                for a in list(engaged):
                    h = engaged[a].get(call)
                    if h is not None and h["leg"] is None:
                        del engaged[a][call]
            elif act == "skipped" and e.get("Ringlb-Reason") == "at_capacity":
                at_capacity[bal] += len(members)
            elif act == "attempt":
                for a in members:
                    offers[(bal, a)] += 1
                    groups_of[a].add(bal)
                    others = [h for k, h in engaged[a].items() if k != call]
                    if others:
                        state = "talking" if any(h["answered"] for h in others) else "ringing"
                        busy[(bal, a, state)] += 1
                        busy_list.append({"seq": int(e.get("Event-Sequence", "0")), "balancer": bal,
                                          "agent": a, "state": state, "calls": len(others)})
                    elif hanging[a]:
                        just_hung[(bal, a)] += 1
                    engaged[a][call] = {"answered": False, "leg": None}
            elif act == "attempt-failed":
                for a in members:
                    h = engaged[a].get(call)
                    if h is not None and h["leg"] is None:
                        del engaged[a][call]
            continue
        uid = e.get("Unique-ID")
        if name == "CHANNEL_CREATE":
            a = e.get("variable_dialed_user")
            if e.get("Call-Direction") != "outbound" or not a:
                continue
            a = user_of(a)
            key = e.get("variable_originating_leg_uuid", "")
            h = engaged[a].get(key)
            if h is None or h["leg"] is not None:
                key = ("leg", uid)
                h = engaged[a][key] = {"answered": False, "leg": None}
            h["leg"] = uid
            legs[uid] = (a, key)
            agent_legs[a] += 1
            up[a].add(uid)
            peak[a] = max(peak[a], len(up[a]))
        elif uid in legs:
            a, key = legs[uid]
            if name == "CHANNEL_ANSWER":
                answered_legs[a] += 1
                if key in engaged[a]:
                    engaged[a][key]["answered"] = True
            elif name == "CHANNEL_HANGUP":
                engaged[a].pop(key, None)
                up[a].discard(uid)
                hanging[a].add(uid)
            elif name == "CHANNEL_HANGUP_COMPLETE":
                up[a].discard(uid)  # a lost CHANNEL_HANGUP must not keep the leg up
                engaged[a].pop(key, None)
                hanging[a].discard(uid)
                del legs[uid]

    agents = sorted(set(a for _, a in offers) | set(agent_legs))
    balancers = sorted(set(b for b, _ in offers) | set(calls))
    n_offers = sum(offers.values())
    n_busy = sum(busy.values())
    problems = []
    if n_offers == 0:
        problems.append("no offers recorded")
    for a in shared:
        if len(groups_of[a]) < 2:
            problems.append("shared agent %s was offered calls by %d group(s), not 2" % (a, len(groups_of[a])))
    open_legs = sum(len(s) for s in up.values())
    if open_legs:
        problems.append("%d legs to agents never hung up in the events" % open_legs)
    return {
        "offers": n_offers,
        "busy": n_busy,
        "busy_talking": sum(n for (_, _, s), n in busy.items() if s == "talking"),
        "busy_ringing": sum(n for (_, _, s), n in busy.items() if s == "ringing"),
        "just_hung_up": sum(just_hung.values()),
        "shared": shared,
        "per_balancer": {b: {
            "calls": calls[b],
            "offers": sum(n for (bb, _), n in offers.items() if bb == b),
            "busy": sum(n for (bb, _, _), n in busy.items() if bb == b),
            "skipped_at_capacity": at_capacity[b],
            "results": dict(results[b]),
        } for b in balancers},
        "per_agent": {a: {
            "offers": sum(n for (_, aa), n in offers.items() if aa == a),
            "busy_talking": sum(n for (_, aa, s), n in busy.items() if aa == a and s == "talking"),
            "busy_ringing": sum(n for (_, aa, s), n in busy.items() if aa == a and s == "ringing"),
            "legs": agent_legs[a],
            "answered": answered_legs[a],
            "peak_calls": peak[a],
            "groups": sorted(groups_of[a]),
        } for a in agents},
        "busy_offers": busy_list,
        "problems": problems,
    }


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 2:
        sys.exit(__doc__.split("\n\n")[0])
    events = [json.loads(l) for l in open(args[0]) if l.strip()]
    shared = [a for a in args[1].split(",") if a]
    r = analyse(events, shared)
    if "--json" in sys.argv:
        print(json.dumps(r, sort_keys=True))
    else:
        for b, v in sorted(r["per_balancer"].items()):
            print("group %-8s calls %3d  offers %3d  busy offers %3d  members skipped at capacity %3d  results %s"
                  % (b, v["calls"], v["offers"], v["busy"], v["skipped_at_capacity"],
                     ", ".join("%s %d" % kv for kv in sorted(v["results"].items()))))
        for a, v in sorted(r["per_agent"].items()):
            print("agent %s%-7s offers %3d  busy: talking %3d ringing %3d  legs %3d  answered %3d  peak calls %d"
                  % (a, " shared" if a in shared else "", v["offers"], v["busy_talking"], v["busy_ringing"],
                     v["legs"], v["answered"], v["peak_calls"]))
        peaks = ", ".join("%s %d" % (a, r["per_agent"].get(a, {}).get("peak_calls", 0)) for a in shared)
        print("busy offers: %d of %d (%.0f %%): %d to an agent talking, %d to an agent ringing; "
              "peak calls per shared agent: %s; offers as the agent's last leg was hanging up (not busy): %d"
              % (r["busy"], r["offers"], 100.0 * r["busy"] / max(r["offers"], 1), r["busy_talking"],
                 r["busy_ringing"], peaks, r["just_hung_up"]))
        for p in r["problems"]:
            print("problem: " + p)
    verdict = sys.stderr if "--json" in sys.argv else sys.stdout
    if r["problems"]:
        print("UNDECIDED: the events cannot answer", file=verdict)
        sys.exit(2)
    if r["busy"]:
        print("FAIL: %d busy offers" % r["busy"], file=verdict)
        sys.exit(1)
    print("PASS: 0 busy offers", file=verdict)


if __name__ == "__main__":
    main()
