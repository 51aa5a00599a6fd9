#!/usr/bin/env bash
# The golden replay test: the engine's outputs (matches, stop visits, predictions) on fixed
# inputs must not change unless a commit means them to. Each case replays a positions file with
# `smartbus replay` and compares a summary (row counts, match states, visit and prediction
# counts) and a SHA-256 of each output with tests/golden/expected/CASE.txt.
#
# Cases: a simulated demo-city weekday morning (seed 7, one fix per 30 s) with trip ids and with
# them blanked; the WMATA day (../shared/data) with ids and with trip_id/route_id blanked (skipped
# with a message when ../shared/data is absent).
#
# Usage: golden_test.sh BUILD_DIR [CASE...]
#   SMARTBUS_UPDATE_GOLDEN=1 rewrites the expected files (commit them with the reason for the
#   change in the message). Outputs stay in BUILD_DIR/golden/CASE/ for diffing.
set -uo pipefail
BUILD=$(cd "$1" && pwd); shift
root=$(cd "$(dirname "$0")/../.." && pwd)
sb="$BUILD/services/cli/smartbus"
expected_dir="$root/tests/golden/expected"
shared="${SMARTBUS_SHARED_DATA:-$root/../shared/data}"
wmata="$shared/wmata-2026-02-16"
out_root="$BUILD/golden"
mkdir -p "$out_root"
[ -x "$sb" ] || { echo "golden: $sb not built"; exit 1; }

# Writes the summary of one case's outputs in $1 to stdout.
summarize() {
  local d=$1
  echo "matches_rows $(($(wc -l <"$d/matches.csv") - 1))"
  # Match states: the column named "state" in the Matches CSV.
  awk -F, 'NR==1{for(i=1;i<=NF;i++) if($i=="state") c=i; next} c{n[$c]++}
           END{for(s in n) print "state_" s, n[s]}' "$d/matches.csv" | sort
  echo "visits_rows $(($(wc -l <"$d/visits.csv") - 1))"
  echo "predictions_rows $(($(wc -l <"$d/predictions.csv") - 1))"
  for f in matches visits predictions; do
    echo "sha256_$f $(sha256sum "$d/$f.csv" | cut -d' ' -f1)"
  done
}

# run_case NAME GTFS POSITIONS: replays and compares (or updates).
failures=0
run_case() {
  local name=$1 gtfs=$2 positions=$3 d="$out_root/$1"
  mkdir -p "$d"
  if ! "$sb" replay --gtfs "$gtfs" --positions "$positions" --matches "$d/matches.csv" \
      --visits "$d/visits.csv" --predictions "$d/predictions.csv" --quiet >"$d/replay.log" 2>&1; then
    echo "golden: $name: smartbus replay failed:"; cat "$d/replay.log"; failures=$((failures + 1))
    return
  fi
  summarize "$d" >"$d/summary.txt"
  if [ "${SMARTBUS_UPDATE_GOLDEN:-0}" = 1 ]; then
    cp "$d/summary.txt" "$expected_dir/$name.txt"
    echo "golden: $name: expected file updated"
  elif [ ! -f "$expected_dir/$name.txt" ]; then
    echo "golden: $name: no expected file $expected_dir/$name.txt (run with SMARTBUS_UPDATE_GOLDEN=1)"
    failures=$((failures + 1))
  elif diff -u "$expected_dir/$name.txt" "$d/summary.txt" >"$d/diff.txt"; then
    echo "golden: $name: identical"
  else
    echo "golden: $name: CHANGED (outputs in $d):"; cat "$d/diff.txt"
    failures=$((failures + 1))
  fi
}

# Blanks trip_id and route_id (by header name) of a positions CSV.
blank_ids() {
  awk -F, -v OFS=, 'NR==1{for(i=1;i<=NF;i++){if($i=="trip_id")t=i; if($i=="route_id")r=i}; print; next}
                    {if(t)$t=""; if(r)$r=""; print}' "$1"
}

want() { [ $# -eq 0 ] || [[ " $* " == *" $case "* ]]; }
cases=("$@")
sim="$out_root/sim"
mkdir -p "$sim"
for case in demo_ids demo_blind wmata_ids wmata_blind; do
  want "${cases[@]}" || continue
  case $case in
    demo_ids|demo_blind)
      flag=""; [ $case = demo_blind ] && flag="--no-trip-ids"
      if ! "$sb" sim --gtfs "$root/data/demo-city" --date 20261123 --start 06:30 --end 09:30 \
          --interval 30 --seed 7 $flag --out "$sim/$case.csv" --quiet >"$sim/$case.log" 2>&1; then
        echo "golden: $case: smartbus sim failed:"; cat "$sim/$case.log"; failures=$((failures + 1))
        continue
      fi
      run_case $case "$root/data/demo-city" "$sim/$case.csv" ;;
    wmata_ids|wmata_blind)
      if [ ! -f "$wmata/positions.csv" ]; then
        echo "golden: $case: SKIPPED: $wmata/positions.csv is absent (../shared/data not here)"
        continue
      fi
      positions="$wmata/positions.csv"
      if [ $case = wmata_blind ]; then
        blank_ids "$wmata/positions.csv" >"$sim/wmata_blind.csv"; positions="$sim/wmata_blind.csv"
      fi
      run_case $case "$wmata/gtfs" "$positions" ;;
  esac
done
[ $failures -eq 0 ] || { echo "golden: $failures case(s) failed"; exit 1; }
echo "golden: ok"
