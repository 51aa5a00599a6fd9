#!/usr/bin/env python3
"""Builds the test sets of the accuracy suite (bench/accuracy/run_suite.sh) from data we have.

usage:
  sets.py strip-shapes GTFS_DIR OUT_DIR        # the feed without shapes.txt (shape_id and
                                               # shape_dist_traveled blanked)
  sets.py thin POSITIONS.csv OUT.csv SECONDS    # one fix per vehicle per SECONDS at most
  sets.py blank POSITIONS.csv OUT.csv           # trip_id and route_id blanked
  sets.py limited GTFS_DIR OUT_DIR              # demo city + limited-stop variants 1L and 2L

`limited`: for every weekday trip of routes 1 and 2 that leaves in the morning (06:00-10:00) or
evening (15:00-19:00) peak, a limited-stop trip of route 1L/2L leaves 7 minutes later along the
same shape, stopping only where the next stop is >= LIMITED_SPACING_M on from the last one kept
(stops 1.5-2.5 km apart; both routes bend near their first terminal, so the straight line
between two limited stops cuts a corner by ~300 m), with the local running time scaled by
LIMITED_TIME_FACTOR (fewer stops). Such trips have no block: the simulator gives each its own bus.
Python 3 standard library only.
"""
import csv
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tracking"))
from trip_agreement import blank  # noqa: E402  (one blanking for the suite and the bench)

LIMITED_SPACING_M = 1800
LIMITED_TIME_FACTOR = 0.75
LIMITED_OFFSET_S = 7 * 60
PEAKS = [(6 * 3600, 10 * 3600), (15 * 3600, 19 * 3600)]


def read(path):
    with open(path, newline="", encoding="utf-8-sig") as f:
        r = csv.DictReader(f)
        return r.fieldnames, list(r)


def write(path, fields, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def strip_shapes(src, dst):
    os.makedirs(dst, exist_ok=True)
    for name in os.listdir(src):
        if not name.endswith(".txt") or name == "shapes.txt":
            continue
        if name in ("trips.txt", "stop_times.txt"):
            fields, rows = read(os.path.join(src, name))
            col = "shape_id" if name == "trips.txt" else "shape_dist_traveled"
            for r in rows:
                if col in r:
                    r[col] = ""
            write(os.path.join(dst, name), fields, rows)
        else:
            shutil.copyfile(os.path.join(src, name), os.path.join(dst, name))


def thin(src, dst, seconds):
    last = {}
    with open(src, newline="") as f, open(dst, "w", newline="") as g:
        r = csv.DictReader(f)
        w = csv.DictWriter(g, fieldnames=r.fieldnames, lineterminator="\n")
        w.writeheader()
        for row in r:
            t = int(row["timestamp"])
            v = row["vehicle_id"]
            if v in last and t - last[v] < seconds:
                continue
            last[v] = t
            w.writerow(row)


def secs(hms):
    h, m, s = (int(x) for x in hms.split(":"))
    return h * 3600 + m * 60 + s


def hms(t):
    return "%02d:%02d:%02d" % (t // 3600, t // 60 % 60, t % 60)


def limited(src, dst):
    shutil.copytree(src, dst, dirs_exist_ok=True)
    rfields, routes = read(os.path.join(src, "routes.txt"))
    tfields, trips = read(os.path.join(src, "trips.txt"))
    sfields, stop_times = read(os.path.join(src, "stop_times.txt"))
    by_trip = {}
    for st in stop_times:
        by_trip.setdefault(st["trip_id"], []).append(st)
    for rows in by_trip.values():
        rows.sort(key=lambda st: int(st["stop_sequence"]))
    for base in ("1", "2"):
        r = dict(next(x for x in routes if x["route_id"] == base))
        r["route_id"] = r["route_short_name"] = base + "L"
        r["route_long_name"] = r["route_long_name"] + " Limited"
        r["route_desc"] = "Limited stops about 2 km apart along route %s's streets" % base
        routes.append(r)
    new_trips, new_st = [], []
    for t in list(trips):
        if t["route_id"] not in ("1", "2") or t["service_id"] != "WD":
            continue
        sts = by_trip[t["trip_id"]]
        dep0 = secs(sts[0]["departure_time"])
        if not any(lo <= dep0 < hi for lo, hi in PEAKS):
            continue
        keep = [sts[0]]
        for st in sts[1:-1]:
            if float(st["shape_dist_traveled"]) - float(keep[-1]["shape_dist_traveled"]) >= LIMITED_SPACING_M:
                keep.append(st)
        last = sts[-1]
        if len(keep) > 1 and float(last["shape_dist_traveled"]) - float(keep[-1]["shape_dist_traveled"]) < LIMITED_SPACING_M / 2:
            keep.pop()
        keep.append(last)
        nt = dict(t)
        nt["route_id"] = t["route_id"] + "L"
        nt["trip_id"] = t["trip_id"].replace("-%s-" % t["route_id"], "-%sL-" % t["route_id"], 1)
        nt["block_id"] = ""
        new_trips.append(nt)
        start = dep0 + LIMITED_OFFSET_S
        for i, st in enumerate(keep):
            arr = start + round((secs(st["arrival_time"]) - dep0) * LIMITED_TIME_FACTOR)
            ns = dict(st)
            ns["trip_id"] = nt["trip_id"]
            ns["stop_sequence"] = str(i + 1)
            ns["arrival_time"] = ns["departure_time"] = hms(arr)
            ns["timepoint"] = "1" if i in (0, len(keep) - 1) else "0"
            new_st.append(ns)
    write(os.path.join(dst, "routes.txt"), rfields, routes)
    write(os.path.join(dst, "trips.txt"), tfields, trips + new_trips)
    write(os.path.join(dst, "stop_times.txt"), sfields, stop_times + new_st)
    print("limited: %d limited-stop trips added" % len(new_trips), file=sys.stderr)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "strip-shapes":
        strip_shapes(*args)
    elif cmd == "thin":
        thin(args[0], args[1], int(args[2]))
    elif cmd == "blank":
        blank(*args)
    elif cmd == "limited":
        limited(*args)
    else:
        sys.exit(__doc__)
