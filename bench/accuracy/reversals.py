#!/usr/bin/env python3
"""Where a set's prediction reversals come from (issue 11, "stable predictions").

usage (DIR: one set's folder of run_suite.sh --out, e.g. /tmp/smartbus-accuracy/nyc-si):
  reversals.py states DIR
      our reversal rate on the (vehicle, trip, stop, made_at) the anchor predicts too, split by
      the tracker's match state at the fixes before and after the reversing change (a trip's
      start shows as layover>in_service), with the anchor's rate on the same keys.
  reversals.py positions --gtfs ENGINE_GTFS --positions POSITIONS_WITH_IDS DIR
      the anchor's own formula (baselines.py --oba-out: delay propagation from a position) driven
      by the anchor tracker's positions and by ours (DIR/matches.csv): the reversals that the
      tracker's positions alone make, whatever the predictor.

Reversal: metrics.py's definition (a change of > 30 s against the direction of the previous
change of > 30 s, per (vehicle, trip, stop), predictions made < 30 min ahead).
"""
import argparse
import bisect
import collections
import csv
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("SMARTBUS_TOOLS", os.path.join(HERE, "..", "..", "..", "shared", "tools")))
import sbeval  # noqa: E402
from baselines import sched_at  # noqa: E402

REVERSAL_S = 30.0
HORIZON_S = 1800


def rate(series):
    """(reversal %, pairs) of {key: [prediction, ...] in made_at order}."""
    pairs = rev = 0
    for s in series.values():
        last = 0
        for a, b in zip(s, s[1:]):
            pairs += 1
            if abs(b - a) > REVERSAL_S:
                sign = 1 if b > a else -1
                rev += last == -sign
                last = sign
    return 100.0 * rev / max(pairs, 1), pairs


def read_pred(path):
    out = {}
    for r in csv.DictReader(open(path, newline="")):
        made, pred = int(r["made_at"]), int(r["predicted_arrival"])
        if pred - made < HORIZON_S:
            out[(r["vehicle_id"], r["trip_id"], r["stop_sequence"] or r["stop_id"], made)] = pred
    return out


def states(d):
    ours, anchor = read_pred(os.path.join(d, "pred.csv")), read_pred(os.path.join(d, "anchor.csv"))
    common = sorted(set(ours) & set(anchor), key=lambda k: (k[:3], k[3]))
    state = {(r["vehicle_id"], int(r["timestamp"])): r["state"]
             for r in csv.DictReader(open(os.path.join(d, "matches.csv"), newline=""))}
    by_key = collections.defaultdict(list)
    for k in common:
        by_key[k[:3]].append(k[3])
    print("anchor on the common keys: %.2f %% of %d pairs" %
          rate({k: [anchor[k + (t,)] for t in ts] for k, ts in by_key.items()}))
    pairs, rev = collections.Counter(), collections.Counter()
    for k, ts in by_key.items():
        last = 0
        for ta, tb in zip(ts, ts[1:]):
            cls = "%s>%s" % (state.get((k[0], ta), "?"), state.get((k[0], tb), "?"))
            pairs[cls] += 1
            step = ours[k + (tb,)] - ours[k + (ta,)]
            if abs(step) > REVERSAL_S:
                sign = 1 if step > 0 else -1
                rev[cls] += last == -sign
                last = sign
    total = sum(pairs.values())
    print("ours on the common keys: %.2f %% of %d pairs" % (100.0 * sum(rev.values()) / max(total, 1), total))
    for cls, n in pairs.most_common():
        print("  %-26s pairs %7d  reversals %6d  = %.2f pp of the rate" % (cls, n, rev[cls], 100.0 * rev[cls] / total))


def positions(gtfs_dir, positions_csv, d):
    runs, _ = sbeval.read_runs(positions_csv)
    gtfs = sbeval.Gtfs(gtfs_dir, {t for _, t, _ in runs})
    ours = {}
    for r in csv.DictReader(open(os.path.join(d, "matches.csv"), newline="")):
        if r["dist_along_m"]:
            ours[(r["vehicle_id"], int(r["timestamp"]))] = (r["trip_id"], float(r["dist_along_m"]))
    series = {name: collections.defaultdict(list) for name in ("the anchor tracker", "our tracker")}
    for vid, tid, fixes in runs:
        geom = gtfs.trip_geom(tid)
        date = gtfs.pick_service_date(tid, fixes[0].t, fixes[-1].t) if geom else None
        if date is None:
            continue
        arr, dep = sbeval.scheduled_times(gtfs, tid, geom, date)
        dist = geom.stop_dist
        tracker = sbeval.Tracker(geom)
        for fx in fixes:
            s = tracker.update(fx)
            o = ours.get((vid, fx.t))
            mine = o[1] if o and o[0] == tid else None
            for name, at in (("the anchor tracker", s), ("our tracker", mine)):
                if at is None or math.isnan(at):
                    continue
                delay = fx.t - sched_at(dist, arr, dep, at)
                if fx.t < dep[0] and delay < 0:
                    delay = 0.0
                for k in range(bisect.bisect_right(dist, at), len(dist)):
                    if arr[k] + delay - fx.t < HORIZON_S:
                        series[name][(vid, tid, k)].append(arr[k] + delay)
    for name, s in series.items():
        print("delay propagation from %s's positions: %.2f %% of %d pairs" % ((name,) + rate(s)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("states")
    p.add_argument("dir")
    p = sub.add_parser("positions")
    p.add_argument("--gtfs", required=True)
    p.add_argument("--positions", required=True)
    p.add_argument("dir")
    a = ap.parse_args()
    if a.cmd == "states":
        states(a.dir)
    else:
        positions(a.gtfs, a.positions, a.dir)


if __name__ == "__main__":
    main()
