#!/usr/bin/env python3
"""cpu.py HZ CALLS < batches - cpu.sh's summary, from its batch lines on stdin:

    MODE VARIANT ok failed batch_s batch_ticks idle_s idle_ticks load1

The switch's idle rate is pooled over every idle window of a mode (ticks / seconds); a batch
costs (batch_ticks - idle rate * batch_s) / ok, in ms of switch CPU per call. Batches come in
pairs (A B, B A, ...): each pair's difference (the mode's second variant minus its first) is
one paired figure. Prints the medians and spreads as markdown rows.
"""
import statistics
import sys

hz = float(sys.argv[1])
rows = [l.split() for l in sys.stdin if l.strip() and not l.startswith("#")]
modes = {}
for r in rows:
    modes.setdefault(r[0], []).append(r)

FIRST = {"ring": "plain", "track": "hooks-off"}


def spread(xs):
    return "%.2f" % statistics.median(xs), "%.2f to %.2f" % (min(xs), max(xs))


print("| mode | variant | batches | calls ok / failed | ms per call, median | spread | idle ms/s | load avg |")
print("|---|---|---:|---|---:|---|---:|---|")
diffs = {}
for mode, rs in modes.items():
    idle_ticks = sum(float(r[7]) for r in rs)
    idle_s = sum(float(r[6]) for r in rs)
    rate = idle_ticks / idle_s  # ticks per second of an idle switch
    per = {}
    order = []
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
        print("| %s | %s | %d | %d / %d | %s | %s | %.1f | %.1f to %.1f |" % (
            mode, variant, len(xs), ok, bad, med, sp, rate * 1000.0 / hz, min(loads), max(loads)))
    first = FIRST.get(mode, order[0][0])
    d = []
    for i in range(0, len(order) - 1, 2):
        (va, ma), (vb, mb) = order[i], order[i + 1]
        if va == vb:
            continue
        d.append(mb - ma if va == first else ma - mb)
    if d:
        diffs[mode] = d
print()
print("| mode | paired difference (second variant - first), ms per call: median | spread | pairs |")
print("|---|---:|---|---:|")
for mode, d in diffs.items():
    med, sp = spread(d)
    print("| %s | %s | %s | %d |" % (mode, med, sp, len(d)))
