#!/usr/bin/env python3
"""ring_timed.py LOG - the table of tests/fs/ring_timed.lua's lines (tests/fs/cpu.sh, TIMED=1):
per script, the calls logged and the median of each part of the caller's thread CPU, in
microseconds, with the quartiles of the script's own total; then the ring script's medians
minus the plain loop's."""
import statistics
import sys
from collections import defaultdict

PARTS = ["total", "require", "ringlb", "events", "api", "originate", "bridge"]


def main():
    runs = defaultdict(lambda: defaultdict(list))
    for line in open(sys.argv[1]):
        fields = line.split()
        if not fields:
            continue
        for kv in fields[1:]:
            k, v = kv.split("=")
            runs[fields[0]][k].append(int(v) / 1000)
    med = {}
    print("| script | calls | " + " | ".join(PARTS) + " | total p25 to p75 |")
    print("|---|---:|" + "---:|" * len(PARTS) + "---|")
    for name, parts in sorted(runs.items()):
        med[name] = {p: statistics.median(parts[p]) for p in PARTS}
        q = statistics.quantiles(parts["total"], n=4) if len(parts["total"]) > 1 else parts["total"] * 3
        print(f"| {name} | {len(parts['total'])} | " + " | ".join(f"{med[name][p]:.0f}" for p in PARTS)
              + f" | {q[0]:.0f} to {q[2]:.0f} |")
    if "ringlb_ring" in med and "plain_ring" in med:
        d = {p: med["ringlb_ring"][p] - med["plain_ring"][p] for p in PARTS}
        print("| ringlb_ring minus plain_ring | | " + " | ".join(f"{d[p]:+.0f}" for p in PARTS) + " | |")
    print()
    print("Microseconds of the caller's thread CPU per call, medians; total is the script's own, "
          "without the originates and the bridges.")


if __name__ == "__main__":
    main()
