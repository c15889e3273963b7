#!/usr/bin/env python3
"""cpu.py HZ CALLS < batches - cpu.sh's summary, from its batch lines on stdin:

    MODE VARIANT ok failed batch_s batch_ticks idle_s idle_ticks load1 [ringlb_ms]

The switch's idle rate is pooled over every idle window of a mode (ticks / seconds); a batch
costs (batch_ticks - idle rate * batch_s) / ok, in ms of switch CPU per call. Batches come in
rounds of one batch per variant: within each round, every variant minus the mode's base
variant (plain, off) is one paired figure. ringlb_ms, when the line has it, is the CPU of
ringlb's own threads (the Go runtime's and the workers) during the batch: its ms per call is
printed beside the switch's, with no idle correction (they sleep when no call is made). Prints
the medians and spreads as markdown rows.
"""
import statistics
import sys

hz = float(sys.argv[1])
rows = [l.split() for l in sys.stdin if l.strip() and not l.startswith("#")]
modes = {}
for r in rows:
    modes.setdefault(r[0], []).append(r)

BASE = {"ring": "plain", "track": "off"}


def spread(xs, f="%.2f"):
    return f % statistics.median(xs), (f + " to " + f) % (min(xs), max(xs))


print("| mode | variant | batches | calls ok / failed | ms per call, median | spread | ringlb's threads, ms per call: median | spread | idle ms/s | load avg |")
print("|---|---|---:|---|---:|---|---:|---|---:|---|")
diffs = {}
for mode, rs in modes.items():
    idle_ticks = sum(float(r[7]) for r in rs)
    idle_s = sum(float(r[6]) for r in rs)
    rate = idle_ticks / idle_s  # ticks per second of an idle switch
    per = {}
    order = []
    variants = []
    for r in rs:
        if r[1] not in variants:
            variants.append(r[1])
    for r in rs:
        ok, secs, ticks = int(r[2]), float(r[4]), float(r[5])
        ms = (ticks - rate * secs) * 1000.0 / hz / max(ok, 1)
        per.setdefault(r[1], []).append((ms, r))
        order.append((r[1], ms))
    for variant, xs in per.items():
        ms = [m for m, _ in xs]
        ok = sum(int(r[2]) for _, r in xs)
        bad = sum(int(r[3]) for _, r in xs)
        loads = [float(r[8]) for _, r in xs]
        med, sp = spread(ms)
        own = [float(r[9]) / max(int(r[2]), 1) for _, r in xs if len(r) > 9]
        omed, osp = spread(own, "%.3f") if own else ("-", "-")
        print("| %s | %s | %d | %d / %d | %s | %s | %s | %s | %.1f | %.1f to %.1f |" % (
            mode, variant, len(xs), ok, bad, med, sp, omed, osp, rate * 1000.0 / hz, min(loads), max(loads)))
    base = BASE.get(mode, variants[0])
    n = len(variants)
    for i in range(0, len(order) - n + 1, n):
        rnd = dict(order[i:i + n])
        if base not in rnd:
            continue
        for v, ms in rnd.items():
            if v != base:
                diffs.setdefault((mode, v, base), []).append(ms - rnd[base])
print()
print("| mode | variant | minus | ms per call, median | spread | rounds |")
print("|---|---|---|---:|---|---:|")
for (mode, v, base), d in diffs.items():
    med, sp = spread(d)
    print("| %s | %s | %s | %s | %s | %d |" % (mode, v, base, med, sp, len(d)))
