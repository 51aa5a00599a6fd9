#!/usr/bin/env bash
# Must-show of issue 6: the operator analytics from the LIVE server equal `smartbus report` over
# the visits file `smartbus replay` writes for the same fixes.
#
#   bench/analytics/compare_live_vs_report.sh [BUILD_DIR] [DATA_DIR]
#
# Starts smartbusd --clock fixes (embedded store, or Redis with REDIS_URL=redis://host:port)
# on the WMATA trace's GTFS, pushes the trace in ONE ordered stream (gateway batches, one
# message in flight), asks `smartbus analytics routes --json`, runs `smartbus replay --visits` +
# `smartbus report --json` on the same fixes, and compares per route (C53, D40, D96):
# on_time_pct / early_pct / late_pct (within 1 percentage point), headway_cv, route segment
# speed (Σ distance / Σ time over its segments) and mean_occupancy (crowding; within 2 %).
# Prints a table and exits 0 when everything agrees, 1 otherwise.
set -euo pipefail
BUILD=${1:-build}
DATA=${2:-$(cd "$(dirname "$0")/../../.." && pwd)/shared/data/wmata-2026-02-16}
SB=$BUILD/services/cli/smartbus
SBD=$BUILD/services/server/smartbusd
for f in "$SB" "$SBD" "$DATA/positions.csv"; do
  [ -e "$f" ] || { echo "missing $f (build smartbus and smartbusd; WMATA data)"; exit 2; }
done
WORK=$(mktemp -d /tmp/sb-analytics-XXXXXX)
SERVER_PID=""
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

ARGS=(--gtfs "$DATA/gtfs" --listen 127.0.0.1:0 --clock fixes)
[ -n "${REDIS_URL:-}" ] && ARGS+=(--redis "$REDIS_URL")
"$SBD" "${ARGS[@]}" > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  grep -q "serving on" "$WORK/server.log" 2>/dev/null && break
  sleep 0.1
done
PORT=$(sed -n 's/.*serving on .*(port \([0-9]*\)[,)].*/\1/p' "$WORK/server.log" | head -1)
[ -n "$PORT" ] || { echo "smartbusd did not start:"; cat "$WORK/server.log"; exit 1; }
ADDR=127.0.0.1:$PORT

"$SB" push --positions "$DATA/positions.csv" --speed 0 --batch 100 --window 1 --server "$ADDR" \
  --quiet
# The store is written behind (within a second): wait until the visit count is stable.
prev=-1
for _ in $(seq 1 50); do
  n=$("$SB" analytics routes --server "$ADDR" --json | python3 -c \
      'import json,sys; print(json.load(sys.stdin)["visits_held"])')
  [ "$n" = "$prev" ] && break
  prev=$n
  sleep 0.5
done
"$SB" analytics routes --server "$ADDR" --json > "$WORK/live.json"
"$SB" replay --gtfs "$DATA/gtfs" --positions "$DATA/positions.csv" --visits "$WORK/visits.csv" \
  --quiet
"$SB" report --gtfs "$DATA/gtfs" --visits "$WORK/visits.csv" --json > "$WORK/report.json"

python3 - "$WORK/live.json" "$WORK/report.json" <<'PY'
import json, sys
live = {r["route_id"]: r for r in json.load(open(sys.argv[1]))["routes"]}
off = {r["route_id"]: r for r in json.load(open(sys.argv[2]))["routes"]}
def speed(r):
    d = sum(s["distance_m"] * s["traversals"] for s in r["segments"])
    t = sum(s["mean_time_s"] * s["traversals"] for s in r["segments"])
    return d / t * 3.6 if t else None
ok = True
print("%-5s %-14s %12s %12s %10s" % ("route", "figure", "live", "report", "diff"))
for rid in ("C53", "D40", "D96"):
    if rid not in live or rid not in off:
        print(rid, "missing", "live" if rid not in live else "report"); ok = False; continue
    L, O = live[rid], off[rid]
    # Both print RouteFigures (analytics.proto's JSON mapping): figures in on_time, headways,
    # passengers; absent when unknown.
    def fig(r, group, name):
        return r.get(group, {}).get(name)
    rows = [("visits", L["visits"], O["visits"], "count"),
            ("on_time_pct", fig(L, "on_time", "on_time_pct"), fig(O, "on_time", "on_time_pct"), "pp"),
            ("early_pct", fig(L, "on_time", "early_pct"), fig(O, "on_time", "early_pct"), "pp"),
            ("late_pct", fig(L, "on_time", "late_pct"), fig(O, "on_time", "late_pct"), "pp"),
            ("headway_cv", fig(L, "headways", "cv"), fig(O, "headways", "cv"), "rel"),
            ("excess_wait_s", L.get("excess_wait_s"), O.get("excess_wait_s"), "info"),
            ("speed_kmh", speed(L), speed(O), "rel"),
            ("mean_occupancy", fig(L, "passengers", "mean_occupancy"),
             fig(O, "passengers", "mean_occupancy"), "rel")]
    segs_l = {(s["from_stop_id"], s["to_stop_id"]): s["mean_speed_kmh"] for s in L["segments"]}
    segs_o = {(s["from_stop_id"], s["to_stop_id"]): s["mean_speed_kmh"] for s in O["segments"]}
    worst = max((abs(segs_l[k] - segs_o[k]) / segs_o[k] for k in segs_o if k in segs_l),
                default=0.0)
    for name, a, b, kind in rows:
        if a is None or b is None:
            good = a is None and b is None; diff = "-"
        elif kind == "pp":
            d = abs(a - b); good = d <= 1.0; diff = "%.3f pp" % d
        elif kind == "rel":
            d = abs(a - b) / abs(b) if b else abs(a); good = d <= 0.02; diff = "%.3f %%" % (100 * d)
        else:
            good = True; diff = "%.3g" % abs(a - b)
        ok &= good
        print("%-5s %-14s %12.4f %12.4f %10s %s" % (rid, name, a if a is not None else float("nan"),
              b if b is not None else float("nan"), diff, "" if good else "  <-- OUT OF TOLERANCE"))
    print("%-5s %-14s %12d %12d  worst per-segment speed diff %.3f %%" %
          (rid, "segments", len(segs_l), len(segs_o), 100 * worst))
print("AGREE" if ok else "DISAGREE")
sys.exit(0 if ok else 1)
PY
