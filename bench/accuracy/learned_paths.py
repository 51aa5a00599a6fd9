#!/usr/bin/env python3
"""How close learned paths are to the real shapes (issue 11: "within 15 m (median)").

usage: learned_paths.py --real REAL_GTFS_DIR --learned LEARNED_GTFS_DIR [--json OUT]

LEARNED_GTFS_DIR is what `smartbus shapes` wrote (trips.txt with learned shape_ids); REAL_GTFS_DIR
the same feed with its real shapes. Every learned shape is compared with the real shape of the
same trips: points every STEP_M metres along the learned shape, distance of each to the real
shape ("learned -> real": is the learned path on the road), and points every STEP_M along the
part of the real shape between the trips' first and last stop, distance to the learned shape
("real -> learned": does it cover the road, no shortcuts; the whole real shape for a loop). Prints per shape and pooled the
median and P90 of both, and the chord (straight lines between the stops) the same way for
comparison. Python 3 standard library only.
"""
import argparse
import csv
import json
import math
import os
import statistics
import sys

STEP_M = 5.0
R = 6371008.8


def read(path):
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


class Plane:
    def __init__(self, lat0, lon0):
        self.lat0, self.lon0 = lat0, lon0
        self.k = math.cos(math.radians(lat0))

    def xy(self, lat, lon):
        return (math.radians(lon - self.lon0) * R * self.k, math.radians(lat - self.lat0) * R)


def shapes_of(gtfs, plane):
    out = {}
    for r in read(os.path.join(gtfs, "shapes.txt")):
        out.setdefault(r["shape_id"], []).append(
            (int(r["shape_pt_sequence"]), plane.xy(float(r["shape_pt_lat"]), float(r["shape_pt_lon"]))))
    return {k: [p for _, p in sorted(v)] for k, v in out.items()}


def seg_dist(p, a, b):
    ax, ay = a
    bx, by = b
    dx, dy = bx - ax, by - ay
    l2 = dx * dx + dy * dy
    u = 0 if l2 == 0 else max(0.0, min(1.0, ((p[0] - ax) * dx + (p[1] - ay) * dy) / l2))
    return math.hypot(p[0] - ax - u * dx, p[1] - ay - u * dy), u


CELL_M = 100.0
_GRIDS = {}


def grid_of(line):
    """Segments of the polyline by 100-m cell, with each segment's start distance (cached)."""
    g = _GRIDS.get(id(line))
    if g is not None and g[0] is line:
        return g[1], g[2]
    cells, starts, cum = {}, [], 0.0
    for i, (a, b) in enumerate(zip(line, line[1:])):
        starts.append(cum)
        cum += math.hypot(b[0] - a[0], b[1] - a[1])
        x0, x1 = sorted((a[0], b[0]))
        y0, y1 = sorted((a[1], b[1]))
        for cx in range(int(math.floor(x0 / CELL_M)), int(math.floor(x1 / CELL_M)) + 1):
            for cy in range(int(math.floor(y0 / CELL_M)), int(math.floor(y1 / CELL_M)) + 1):
                cells.setdefault((cx, cy), []).append(i)
    _GRIDS[id(line)] = (line, cells, starts)
    return cells, starts


def project(p, line):
    """(distance to the polyline, distance along it of the nearest point)."""
    cells, starts = grid_of(line)
    cx, cy = int(math.floor(p[0] / CELL_M)), int(math.floor(p[1] / CELL_M))
    best, along = float("inf"), 0.0
    r = 0
    while True:
        seen = set()
        for dx in range(-r, r + 1):
            for dy in range(-r, r + 1):
                seen.update(cells.get((cx + dx, cy + dy), ()))
        for i in seen:
            a, b = line[i], line[i + 1]
            d, u = seg_dist(p, a, b)
            if d < best:
                best, along = d, starts[i] + u * math.hypot(b[0] - a[0], b[1] - a[1])
        # Exact once the ring searched reaches past the best distance found (or everything).
        if best <= r * CELL_M or r > 200:
            return best, along
        r = max(1, 2 * r)


def resample(line, lo=0.0, hi=None):
    pts, cum = [], 0.0
    hi = float("inf") if hi is None else hi
    for a, b in zip(line, line[1:]):
        seg = math.hypot(b[0] - a[0], b[1] - a[1])
        t = math.ceil(cum / STEP_M) * STEP_M
        while t <= cum + seg:
            if lo <= t <= hi:
                u = 0 if seg == 0 else (t - cum) / seg
                pts.append((a[0] + u * (b[0] - a[0]), a[1] + u * (b[1] - a[1])))
            t += STEP_M
        cum += seg
    return pts


def pctl(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def compare(line, real, stops):
    """learned->real distances, real->learned distances (real between the first/last stop)."""
    fwd = [project(p, real)[0] for p in resample(line)]
    lo = project(stops[0], real)[1]
    hi = project(stops[-1], real)[1]
    if hi <= lo:  # a loop (first stop = last stop): the whole real shape
        lo, hi = 0.0, None
    back = [project(p, line)[0] for p in resample(real, lo, hi)]
    return fwd, back


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--real", required=True)
    ap.add_argument("--learned", required=True)
    ap.add_argument("--json")
    a = ap.parse_args()
    stops_rows = read(os.path.join(a.real, "stops.txt"))
    lat0 = statistics.mean(float(s["stop_lat"]) for s in stops_rows)
    lon0 = statistics.mean(float(s["stop_lon"]) for s in stops_rows)
    plane = Plane(lat0, lon0)
    stop_xy = {s["stop_id"]: plane.xy(float(s["stop_lat"]), float(s["stop_lon"])) for s in stops_rows}
    real_shapes = shapes_of(a.real, plane)
    learned_shapes = shapes_of(a.learned, plane)
    real_trip = {t["trip_id"]: t.get("shape_id", "") for t in read(os.path.join(a.real, "trips.txt"))}
    learned_of = {}
    for t in read(os.path.join(a.learned, "trips.txt")):
        sid = t.get("shape_id", "")
        if sid in learned_shapes and sid not in real_shapes and sid not in learned_of:
            learned_of[sid] = t["trip_id"]
    first_trip_stops = {}
    for r in read(os.path.join(a.real, "stop_times.txt")):
        first_trip_stops.setdefault(r["trip_id"], []).append((int(r["stop_sequence"]), r["stop_id"]))
    rows, all_fwd, all_back, all_chord = [], [], [], []
    for sid, trip in sorted(learned_of.items()):
        real = real_shapes.get(real_trip.get(trip, ""))
        if not real:
            continue
        stops = [stop_xy[s] for _, s in sorted(first_trip_stops[trip])]
        fwd, back = compare(learned_shapes[sid], real, stops)
        chord, _ = compare(stops, real, stops)
        all_fwd += fwd
        all_back += back
        all_chord += chord
        rows.append({"shape_id": sid, "real_shape_id": real_trip[trip],
                     "median_m": statistics.median(fwd), "p90_m": pctl(fwd, 0.9),
                     "back_median_m": statistics.median(back) if back else None,
                     "back_p90_m": pctl(back, 0.9), "chord_median_m": statistics.median(chord),
                     "chord_p90_m": pctl(chord, 0.9)})
        print("%-28s %-8s learned->real median %5.1f m P90 %6.1f m | real->learned median %5.1f m "
              "P90 %6.1f m | chord median %6.1f m P90 %6.1f m" % (
                  sid, real_trip[trip], rows[-1]["median_m"], rows[-1]["p90_m"],
                  rows[-1]["back_median_m"] or float("nan"), rows[-1]["back_p90_m"],
                  rows[-1]["chord_median_m"], rows[-1]["chord_p90_m"]))
    if not rows:
        print("learned_paths.py: no learned shape to compare", file=sys.stderr)
        return 1
    pooled = {"shapes": len(rows), "median_m": statistics.median(all_fwd), "p90_m": pctl(all_fwd, 0.9),
              "back_median_m": statistics.median(all_back), "back_p90_m": pctl(all_back, 0.9),
              "chord_median_m": statistics.median(all_chord), "chord_p90_m": pctl(all_chord, 0.9)}
    print("pooled (%d shapes): learned->real median %.1f m P90 %.1f m | real->learned median %.1f m "
          "P90 %.1f m | chord median %.1f m P90 %.1f m" % (
              pooled["shapes"], pooled["median_m"], pooled["p90_m"], pooled["back_median_m"],
              pooled["back_p90_m"], pooled["chord_median_m"], pooled["chord_p90_m"]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"pooled": pooled, "shapes": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
