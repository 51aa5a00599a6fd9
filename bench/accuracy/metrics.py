#!/usr/bin/env python3
"""Figures of one test set of the accuracy suite, and the suite's table.

usage:
  metrics.py row --name NAME --gtfs TRUTH_GTFS --positions POSITIONS_WITH_IDS --matches MATCHES
                 --ours-pred CSV --ours-score JSON --anchor-pred CSV --anchor-score JSON
                 [--sim-truth TRUTH.csv] [--blind] --out ROW.json
  metrics.py table ROW.json...                      # markdown table on stdout
  metrics.py check ROW.json KEY OP VALUE...          # exit 1 naming each figure that fails
                                                     # (OP: >= or <=)

Definitions
  blind agreement  (--blind sets) share of fixes more than 120 s after their (vehicle, trip)'s
                   first fix whose trip in the matches equals the agency's / simulator's trip
                   (bench/tracking/trip_agreement.py).
  off route        share of the fixes of buses really in service on their trip that the tracker
                   matched `off_route`; "lost" adds those it did not call in service at all
                   (unassigned, layover). Really in service: simulated sets, the simulator's truth
                   phase is moving or dwell; WMATA, the fix carries a trip_id, lies within
                   IN_SERVICE_OFFSET_M of that trip's GTFS shape and more than IN_SERVICE_END_M
                   from both of its terminals.
  MAE/RMSE         score.py per bucket of observed horizon, ours / the delay-propagation anchor
                   (baselines.py --oba-out, given the trip ids) on the same fixes.
  reversal rate    per (vehicle, trip, stop) the predictions made < 30 min ahead in made_at
                   order; a reversal is a change of > 30 s against the direction of the previous
                   change of > 30 s; rate = reversals / consecutive pairs.
"""
import argparse
import contextlib
import csv
import io
import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tracking"))
sys.path.insert(0, os.environ.get("SMARTBUS_TOOLS", os.path.join(HERE, "..", "..", "..", "shared", "tools")))
import trip_agreement  # noqa: E402
import sbeval  # noqa: E402

IN_SERVICE_OFFSET_M = 40.0   # a fix this close to its trip's real shape is on the route
IN_SERVICE_END_M = 150.0     # away from terminals, where a bus may lay over off the shape
REVERSAL_S = 30.0
BUCKETS = ["0-3", "3-6", "6-10", "10-15", "15-20", "20-30"]


def in_service_fixes(gtfs_dir, positions, sim_truth):
    """Set of (vehicle, timestamp) of fixes of buses really in service on their trip."""
    out = set()
    if sim_truth:
        for r in csv.DictReader(open(sim_truth, newline="")):
            if r["phase"] in ("moving", "dwell") and r["trip_id"]:
                out.add((r["vehicle_id"], int(r["timestamp"])))
        return out
    rows = [r for r in csv.DictReader(open(positions, newline="")) if r["trip_id"]]
    gtfs = sbeval.Gtfs(gtfs_dir, {r["trip_id"] for r in rows})
    for r in rows:
        geom = gtfs.trip_geom(r["trip_id"]) if r["trip_id"] in gtfs.trips else None
        if geom is None:
            continue
        x, y = geom.path.proj.xy(float(r["lat"]), float(r["lon"]))
        lo, hi = geom.stop_dist[0] + IN_SERVICE_END_M, geom.stop_dist[-1] - IN_SERVICE_END_M
        segs = range(geom.path.n_seg)
        if any(lo < s < hi for _, s, _ in geom.path.candidates(x, y, IN_SERVICE_OFFSET_M, segs)):
            out.add((r["vehicle_id"], int(r["timestamp"])))
    return out


def off_route(matches, service):
    n = off = lost = 0
    for r in csv.DictReader(open(matches, newline="")):
        if (r["vehicle_id"], int(r["timestamp"])) not in service:
            continue
        n += 1
        off += r["state"] == "off_route"
        lost += r["state"] != "in_service"
    return 100.0 * off / max(n, 1), 100.0 * lost / max(n, 1), n


def reversal_rate(pred_csv):
    series = {}
    with open(pred_csv, newline="") as f:
        for r in csv.DictReader(f):
            made, pred = float(r["made_at"]), float(r["predicted_arrival"])
            if pred - made >= 1800:
                continue
            key = (r["vehicle_id"], r["trip_id"], r["stop_sequence"] or r["stop_id"])
            series.setdefault(key, []).append((made, pred))
    pairs = rev = 0
    for s in series.values():
        s.sort()
        last_dir = 0
        for (_, a), (_, b) in zip(s, s[1:]):
            pairs += 1
            d = b - a
            if abs(d) > REVERSAL_S:
                sign = 1 if d > 0 else -1
                rev += last_dir == -sign
                last_dir = sign
    return 100.0 * rev / max(pairs, 1)


def row(a):
    ours, anchor = json.load(open(a.ours_score)), json.load(open(a.anchor_score))
    out = {"name": a.name, "blind": a.blind}
    if a.blind:
        with contextlib.redirect_stdout(io.StringIO()):
            out["agreement_pct"] = 100.0 * trip_agreement.score(a.positions, a.matches, 120)
    service = in_service_fixes(a.gtfs, a.positions, a.sim_truth)
    out["off_route_pct"], out["lost_pct"], out["in_service_fixes"] = off_route(a.matches, service)
    out["buckets"] = []
    for b, c in zip(ours["buckets"], anchor["buckets"]):
        out["buckets"].append({"bucket": b["bucket"], "n": b["n"], "mae": b.get("mae"),
                               "rmse": b.get("rmse"), "p10_p90": b.get("p10_p90_pct"),
                               "anchor_n": c["n"], "anchor_mae": c.get("mae"),
                               "anchor_rmse": c.get("rmse")})
    for key, res in (("ours", ours), ("anchor", anchor)):
        out[key + "_ta"] = res["transitapp"]["score_pct"]
        out[key + "_mbta"] = res["mbta"]["pooled_pct"]
        out[key + "_coverage"] = res["coverage"]["pct"]
    out["ours_p10_p90"] = ours["overall"].get("p10_p90_pct")
    out["ours_reversal_pct"] = reversal_rate(a.ours_pred)
    out["anchor_reversal_pct"] = reversal_rate(a.anchor_pred)
    json.dump(out, open(a.out, "w"), indent=1)


def f(v, spec="%.1f"):
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else spec % v


def ratio(a, b):
    return None if a is None or not b else a / b


def table(paths):
    rows = [json.load(open(p)) for p in paths]
    print("| set | blind agr. % | off route % (lost %) | TA % (anchor) | MBTA % (anchor) "
          "| P10-P90 % | reversals % (anchor) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print("| %s | %s | %s (%s) | %s (%s) | %s (%s) | %s | %s (%s) |" % (
            r["name"], f(r.get("agreement_pct")) if r["blind"] else "ids",
            f(r["off_route_pct"]), f(r["lost_pct"]), f(r["ours_ta"]), f(r["anchor_ta"]),
            f(r["ours_mbta"]), f(r["anchor_mbta"]), f(r["ours_p10_p90"]),
            f(r["ours_reversal_pct"]), f(r["anchor_reversal_pct"])))
    print()
    print("MAE / anchor MAE and RMSE ours vs anchor (s) per bucket of observed horizon (min); "
          "P10-P90 coverage % per bucket")
    print()
    print("| set | " + " | ".join(BUCKETS) + " |")
    print("|---|" + "---|" * len(BUCKETS))
    for r in rows:
        cells = []
        for b in r["buckets"]:
            cells.append("%s; %s/%s; %s" % (f(ratio(b["mae"], b["anchor_mae"]), "%.2f"),
                                           f(b["rmse"], "%.0f"), f(b["anchor_rmse"], "%.0f"),
                                           f(b["p10_p90"], "%.0f")))
        print("| %s | %s |" % (r["name"], " | ".join(cells)))


def check(path, conds):
    r = json.load(open(path))
    bad = []
    for key, op, val in zip(conds[0::3], conds[1::3], conds[2::3]):
        v, lim = r.get(key), float(val)
        ok = v is not None and (v >= lim if op == ">=" else v <= lim)
        print("%s %s: %s %s %s -> %s" % (r["name"], key, f(v, "%.2f"), op, val, "ok" if ok else "FAIL"))
        if not ok:
            bad.append(key)
    if bad:
        sys.exit("%s: below the floor: %s" % (r["name"], ", ".join(bad)))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "table":
        table(sys.argv[2:])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3:])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cmd", choices=["row"])
    for k in ("name", "gtfs", "positions", "matches", "ours-pred", "ours-score", "anchor-pred",
              "anchor-score", "out"):
        ap.add_argument("--" + k, required=True)
    ap.add_argument("--sim-truth")
    ap.add_argument("--blind", action="store_true")
    row(ap.parse_args())


if __name__ == "__main__":
    main()
