#!/usr/bin/env python3
"""What the engine learned of a feed, from a saved model and a replay (issue 11).

usage:
  learned_params.py model MODEL_FILE          # the GPS noise and chord bends in a model
                                              # (smartbus replay --model-out, or smartbusd's
                                              # model: redis-cli --raw GET <prefix>model:predictor)
  learned_params.py beta POSITIONS MATCHES    # Newson & Krumm's transition beta from a replay:
                                              # median |along - straight| / ln 2 between
                                              # consecutive in-service fixes of one vehicle, trip
The GPS sigma is 1.4826 x the median of the model's "gps" histogram (0.25-m bins), as
GpsNoiseModel computes it before its floor (MatchingOptions::min_sigma_m).
"""
import csv, math, statistics, sys

CLASSES = ["<500 m", "500 m-1 km", "1-2 km", "2-4 km", "4-8 km", ">=8 km"]


def model(path):
    pairs = habit = 0
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        if f[0] == "gps":
            h = [int(x) for x in f[2:]]
            n, seen = sum(h), 0
            for b, c in enumerate(h):
                if seen + c >= n / 2:
                    med = (b + (n / 2 - seen) / c) * 0.25
                    break
                seen += c
            print(f"gps: {f[1]} offsets added, {n} in the window, median {med:.2f} m, "
                  f"sigma {1.4826 * med:.2f} m")
        elif f[0] == "chord":
            h = [int(x) for x in f[3:]]
            need, seen = math.ceil(0.9 * int(f[2])), 0
            for b, c in enumerate(h):
                seen += c
                if seen >= need:
                    break
            print(f"chord {CLASSES[int(f[1])]}: {f[2]} traversals, p90 share {b / 100:.2f}")
        elif f[0] == "chordpair":
            pairs += 1
        elif f[0] == "habit":
            habit = (len(f) - 1) // 2
    print(f"chord stop pairs: {pairs}; departure habit pairs: {habit}")


def beta(positions, matches):
    pos = {(r["vehicle_id"], int(r["timestamp"])): (float(r["lat"]), float(r["lon"]))
           for r in csv.DictReader(open(positions))}
    prev, gaps, dts = {}, [], []
    for r in csv.DictReader(open(matches)):
        v = r["vehicle_id"]
        if r["state"] != "in_service" or not r["dist_along_m"]:
            prev.pop(v, None)
            continue
        t, d = int(r["timestamp"]), float(r["dist_along_m"])
        p = prev.get(v)
        prev[v] = (t, r["trip_id"], d)
        if not p or p[1] != r["trip_id"]:
            continue
        a, b = pos[(v, p[0])], pos[(v, t)]
        dy = (b[0] - a[0]) * 111195
        dx = (b[1] - a[1]) * 111195 * math.cos(math.radians(a[0]))
        gaps.append(abs((d - p[2]) - math.hypot(dx, dy)))
        dts.append(t - p[0])
    gaps.sort()
    n = len(gaps)
    print(f"pairs {n}, median interval {statistics.median(dts):.0f} s, |along - straight| "
          f"p50 {gaps[n // 2]:.1f} m, p90 {gaps[int(0.9 * n)]:.1f} m, "
          f"beta = p50 / ln 2 = {gaps[n // 2] / math.log(2):.1f} m")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "model":
        model(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "beta":
        beta(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
