#!/usr/bin/env python3
"""Compares a SmartBus stop-visits CSV with the observed arrivals the independent reference
(/work/shared/tools/sbeval.py) derives from the same positions file.

usage: compare_visits.py --gtfs DIR --positions CSV --visits VISITS.csv [--sbeval DIR]
Prints: reference arrivals, our visits, matched pairs, differences (ours - reference) median,
p90/p99 of |diff|, and the worst cases."""
import argparse, csv, sys

ap = argparse.ArgumentParser()
ap.add_argument("--gtfs", required=True)
ap.add_argument("--positions", required=True)
ap.add_argument("--visits", required=True)
ap.add_argument("--sbeval", default="/work/shared/tools")
ap.add_argument("--worst", type=int, default=15)
a = ap.parse_args()
sys.path.insert(0, a.sbeval)
import sbeval as S

runs, _ = S.read_runs(a.positions)
trip_ids = {tid for _, tid, _ in runs}
g = S.Gtfs(a.gtfs, trip_ids)
ref, stats = S.ground_truth(g, runs)
ours = {}
for r in csv.DictReader(open(a.visits)):
    key = (r["trip_id"], int(r["stop_sequence"]))
    ours.setdefault(key, []).append((float(r["arrival"]), r["vehicle_id"]))
diffs, missing, worst = [], [], []
for key, (t, stop, vid) in ref.items():
    o = [x for x in ours.get(key, []) if x[1] == vid]
    if not o:
        missing.append(key)
        continue
    d = o[0][0] - t
    diffs.append(d)
    worst.append((abs(d), d, key, vid))
extra = [k for k in ours if k not in ref]
n = len(diffs)
ad = sorted(abs(d) for d in diffs)
sd = sorted(diffs)
q = lambda xs, p: xs[min(len(xs) - 1, int(p * len(xs)))] if xs else float("nan")
print(f"reference arrivals {len(ref)} on {stats.get('trips_observed')} trips; our visits "
      f"{sum(len(v) for v in ours.values())} ({len(ours)} trip-stops)")
print(f"matched {n}; reference without our visit {len(missing)}; ours not in reference {len(extra)}")
print(f"ours - reference: median {q(sd, 0.5):.1f} s; |diff| median {q(ad, 0.5):.1f} p90 {q(ad, 0.9):.1f} "
      f"p99 {q(ad, 0.99):.1f} max {ad[-1] if ad else float('nan'):.1f} s; >60 s: {sum(1 for x in ad if x > 60)}")
for w in sorted(worst, reverse=True)[: a.worst]:
    print("  diff %+.0f s trip %s seq %d vehicle %s" % (w[1], w[2][0], w[2][1], w[3]))
if missing[: a.worst]:
    print("  missing (first):", missing[: a.worst])
