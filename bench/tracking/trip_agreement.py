#!/usr/bin/env python3
"""Trip-assignment agreement: how often the trip SmartBus chose (matches CSV, from a replay of
the positions with trip_id and route_id blanked) equals the agency's trip_id, counted over the
fixes that come more than --grace seconds after that (vehicle, trip)'s first fix.

usage:
  trip_agreement.py blank POSITIONS.csv OUT.csv            # write the blanked positions
  trip_agreement.py score POSITIONS.csv MATCHES.csv [--grace 120]
"""
import csv, sys, collections

def blank(src, dst):
    with open(src, newline="") as f, open(dst, "w", newline="") as g:
        r = csv.DictReader(f)
        w = csv.DictWriter(g, fieldnames=r.fieldnames)
        w.writeheader()
        for row in r:
            row["trip_id"] = ""
            row["route_id"] = ""
            w.writerow(row)

def score(pos, matches, grace):
    truth = {}
    first = {}
    for row in csv.DictReader(open(pos)):
        key = (row["vehicle_id"], int(row["timestamp"]))
        tid = row["trip_id"]
        truth[key] = tid
        k2 = (row["vehicle_id"], tid)
        first[k2] = min(first.get(k2, key[1]), key[1])
    n = agree = early_n = early_agree = 0
    bad = collections.Counter()
    for row in csv.DictReader(open(matches)):
        key = (row["vehicle_id"], int(row["timestamp"]))
        tid = truth.get(key)
        if not tid:
            continue
        ok = row["trip_id"] == tid
        if key[1] - first[(key[0], tid)] > grace:
            n += 1
            agree += ok
            if not ok:
                bad[(key[0], tid, row["trip_id"])] += 1
        else:
            early_n += 1
            early_agree += ok
    print(f"fixes > {grace} s after their trip's first fix: {n}, agreeing {agree} = {100.0 * agree / max(n, 1):.2f}%")
    print(f"fixes within the first {grace} s: {early_n}, agreeing {early_agree}")
    for (v, t, ours), c in bad.most_common(12):
        print(f"  vehicle {v} agency trip {t}: ours '{ours}' x{c}")
    return agree / max(n, 1)

if __name__ == "__main__":
    if sys.argv[1] == "blank":
        blank(sys.argv[2], sys.argv[3])
    else:
        grace = int(sys.argv[sys.argv.index("--grace") + 1]) if "--grace" in sys.argv else 120
        score(sys.argv[2], sys.argv[3], grace)
