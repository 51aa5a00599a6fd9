#!/usr/bin/env bash
# A bus loses its signal for 10 minutes and uploads the reports of the gap after its first live
# report (what a JT/T 808 terminal's 0x0704 blind-area upload does), offline:
#   smartbus sim (demo city, 07:00-08:30, no trip ids) -> the bus with the most stops in
#   07:40-07:50 has its rows of that window moved after its first row from 07:50 on ->
#   smartbus replay --arrival-order (the server's order, same backfill as smartbusd) ->
#   smartbus report --vehicle BUS: the stops it served in the gap are listed once each, with
#   arrival times within 20 s of the simulator's truth on average; the Matches CSV shows every
#   moved row as out_of_order (the live state never went back to them).
# Usage: backfill_report_test.sh BUILD_DIR
set -euo pipefail
BUILD=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
sb="$BUILD/services/cli/smartbus"
[ -x "$sb" ] || { echo "backfill_report_test: $sb not built"; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
feed="$root/data/demo-city"
"$sb" sim --gtfs "$feed" --date 20261123 --start 07:00 --end 08:30 --no-trip-ids --quiet \
  --out "$dir/fixes.csv" --visits "$dir/true_visits.csv"
python3 - "$dir" <<'PY'
import csv, sys, collections
d = sys.argv[1]
rows = list(csv.DictReader(open(f"{d}/fixes.csv")))
truth = list(csv.DictReader(open(f"{d}/true_visits.csv")))
t0 = min(int(r["timestamp"]) for r in rows)
# 07:00 is t0 (the first fix), so the gap 07:40-07:50 is t0+2400 .. t0+3000.
gap_from, gap_to = t0 + 2400, t0 + 3000
n = collections.Counter(v["vehicle_id"] for v in truth
                        if gap_from + 60 <= int(v["arrival"]) < gap_to - 60)
bus = n.most_common(1)[0][0]
held, out, done = [], [], False
for r in rows:
    t = int(r["timestamp"])
    if r["vehicle_id"] == bus and gap_from <= t < gap_to:
        held.append(r); continue
    out.append(r)
    if r["vehicle_id"] == bus and not done and t >= gap_to:
        out.extend(held); done = True
with open(f"{d}/arrival_order.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=rows[0].keys()); w.writeheader(); w.writerows(out)
open(f"{d}/bus", "w").write(f"{bus} {gap_from} {gap_to} {len(held)}\n")
PY
read -r bus gap_from gap_to late < "$dir/bus"
"$sb" replay --gtfs "$feed" --positions "$dir/arrival_order.csv" --arrival-order --quiet \
  --matches "$dir/matches.csv" --visits "$dir/visits.csv"
"$sb" report --gtfs "$feed" --visits "$dir/visits.csv" --vehicle "$bus" \
  --from "$gap_from" --to "$gap_to" --json > "$dir/report.json"
"$sb" report --gtfs "$feed" --visits "$dir/visits.csv" --vehicle "$bus" \
  --from "$gap_from" --to "$gap_to"
python3 - "$dir" "$bus" "$gap_from" "$gap_to" "$late" <<'PY'
import csv, json, sys
d, bus, gap_from, gap_to, late = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rep = json.load(open(f"{d}/report.json"))["visits"]
first_seq = {}
for v in csv.DictReader(open(f"{d}/true_visits.csv")):
    k = v["trip_id"]; first_seq[k] = min(first_seq.get(k, 1e9), int(v["stop_sequence"]))
truth = [v for v in csv.DictReader(open(f"{d}/true_visits.csv"))
         if v["vehicle_id"] == bus and gap_from < int(v["arrival"]) < gap_to
         and int(v["stop_sequence"]) != first_seq[v["trip_id"]]]
got = {(v["trip_id"], v["stop_id"]): v for v in rep}
keys = [(v["trip_id"], v["stop_id"]) for v in rep]
assert len(keys) == len(set(keys)), f"a stop visit listed twice: {keys}"
errs = []
for t in truth:
    g = got.get((t["trip_id"], t["stop_id"]))
    assert g, f"missing visit of {bus} at stop {t['stop_id']} (trip {t['trip_id']})"
    errs.append(abs(g["arrival"] - int(t["arrival"])))
late_rows = sum(1 for m in csv.DictReader(open(f"{d}/matches.csv"))
                if m["vehicle_id"] == bus and m["reason"] == "out_of_order")
mean = sum(errs) / len(errs)
print(f"bus {bus}: {late} reports uploaded late ({late_rows} out_of_order in the matches), "
      f"{len(truth)} stops served in the gap, all listed once, mean |arrival - truth| {mean:.1f} s, "
      f"max {max(errs):.0f} s")
assert late_rows == late, f"{late_rows} of {late} late rows were out_of_order"
assert len(truth) >= 3 and mean < 20, "gap visits too far from the truth"
PY
echo "backfill_report_test: OK"
