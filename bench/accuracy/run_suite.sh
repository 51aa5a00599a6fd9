#!/usr/bin/env bash
# The accuracy robustness suite (issue 11): builds test sets with the failure classes of an
# unseen city from data we have, replays each through `smartbus replay`, predicts the same fixes
# with the delay-propagation anchor (../shared/tools/baselines.py --oba-out, given the trip ids),
# scores both with ../shared/tools/score.py and prints one table (bench/accuracy/metrics.py).
#
# usage: bench/accuracy/run_suite.sh BUILD_DIR [--fast] [--out DIR] [--sets a,b,...]
#   --fast  only wmata-all3, demo-noshape-am and demo-blind-am (what `make test` runs, ~1 min)
#   --sets  only these (e.g. demo-day2-cold,demo-day2-paths,demo-blind-day2,demo-blind-day2-paths:
#           day 2 without shapes, and on the paths `smartbus shapes` learned from day 1)
#   --out   work folder (default /tmp/smartbus-accuracy); the table is DIR/table.md
# Data: $SMARTBUS_DATA (default ../shared/data) for WMATA and the NYC Staten Island feed
# (nyc-bus-2026-09, full suite only); the demo city from data/demo-city.
# Exit 2 when the WMATA data is absent (the demo sets still run), 1 on any tool failure.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:?usage: run_suite.sh BUILD_DIR [--fast] [--out DIR] [--sets a,b]}
shift
FAST=0
OUT=/tmp/smartbus-accuracy
SETS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --fast) FAST=1 ;;
    --out) OUT=$2; shift ;;
    --sets) SETS=$2; shift ;;
    *) echo "run_suite.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
BUILD=$(cd "$BUILD" && pwd)
SB=$BUILD/services/cli/smartbus
[ -x "$SB" ] || { echo "run_suite.sh: $SB not built (cmake --build $BUILD --target smartbus)" >&2; exit 1; }
DATA=${SMARTBUS_DATA:-$ROOT/../shared/data}
TOOLS=${SMARTBUS_TOOLS:-$ROOT/../shared/tools}
export SMARTBUS_TOOLS=$TOOLS
[ -f "$TOOLS/score.py" ] || { echo "run_suite.sh: reference tools not found in $TOOLS" >&2; exit 1; }
HERE=$ROOT/bench/accuracy
mkdir -p "$OUT"
ROWS=()

# Test-set parameters, shared by the full and the fast suite.
THIN_S=120            # the held-back city reports about every 2 minutes
DAY1=20261123         # a Monday of the demo city's weekday timetable
DAY2=20261124
EARLY_SHARE=0.2       # a fifth of the buses run early (padded timetable)
PEAK=0.5              # morning peak: half the free-flow speed lost at 08:00

want() { [ -z "$SETS" ] && return 0; [[ ",$SETS," == *",$1,"* ]]; }

# run_set NAME ENGINE_GTFS ENGINE_POSITIONS TRUTH_GTFS TRUTH_POSITIONS BLIND SIM_TRUTH [REPLAY ARGS]
run_set() {
  local name=$1 egtfs=$2 epos=$3 tgtfs=$4 tpos=$5 blind=$6 simtruth=$7
  shift 7
  local d=$OUT/$name
  mkdir -p "$d"
  "$SB" replay --gtfs "$egtfs" --positions "$epos" --matches "$d/matches.csv" \
      --predictions "$d/pred.csv" --quiet "$@"
  python3 "$TOOLS/baselines.py" --gtfs "$egtfs" --positions "$tpos" --oba-out "$d/anchor.csv" >/dev/null
  python3 "$TOOLS/score.py" --gtfs "$tgtfs" --positions "$tpos" --predictions "$d/pred.csv" \
      --json "$d/ours.json" >"$d/ours.txt"
  python3 "$TOOLS/score.py" --gtfs "$tgtfs" --positions "$tpos" --predictions "$d/anchor.csv" \
      --json "$d/anchor.json" >"$d/anchor.txt"
  local extra=()
  [ "$blind" = 1 ] && extra+=(--blind)
  [ -n "$simtruth" ] && extra+=(--sim-truth "$simtruth")
  python3 "$HERE/metrics.py" row --name "$name" --gtfs "$tgtfs" --positions "$tpos" \
      --matches "$d/matches.csv" --ours-pred "$d/pred.csv" --ours-score "$d/ours.json" \
      --anchor-pred "$d/anchor.csv" --anchor-score "$d/anchor.json" --out "$d/row.json" \
      "${extra[@]}"
  ROWS+=("$d/row.json")
  echo "run_suite: $name done" >&2
}

# --- WMATA: the real day, and with shapes removed / thinned / ids blanked -----------------------
W=$DATA/wmata-2026-02-16
WMATA_OK=0
if [ -f "$W/positions.csv" ]; then
  WMATA_OK=1
  S=$OUT/sets
  mkdir -p "$S"
  python3 "$HERE/sets.py" strip-shapes "$W/gtfs" "$S/wmata-noshape"
  python3 "$HERE/sets.py" thin "$W/positions.csv" "$S/wmata-thin.csv" $THIN_S
  python3 "$HERE/sets.py" blank "$W/positions.csv" "$S/wmata-blank.csv"
  python3 "$HERE/sets.py" blank "$S/wmata-thin.csv" "$S/wmata-thin-blank.csv"
  if [ $FAST = 0 ]; then
    want wmata && run_set wmata "$W/gtfs" "$W/positions.csv" "$W/gtfs" "$W/positions.csv" 0 ""
    want wmata-noshape && run_set wmata-noshape "$S/wmata-noshape" "$W/positions.csv" "$W/gtfs" "$W/positions.csv" 0 ""
    want wmata-thin && run_set wmata-thin "$W/gtfs" "$S/wmata-thin.csv" "$W/gtfs" "$S/wmata-thin.csv" 0 ""
    want wmata-blind && run_set wmata-blind "$W/gtfs" "$S/wmata-blank.csv" "$W/gtfs" "$W/positions.csv" 1 ""
    want wmata-noshape-thin && run_set wmata-noshape-thin "$S/wmata-noshape" "$S/wmata-thin.csv" "$W/gtfs" "$S/wmata-thin.csv" 0 ""
  fi
  want wmata-all3 && run_set wmata-all3 "$S/wmata-noshape" "$S/wmata-thin-blank.csv" "$W/gtfs" "$S/wmata-thin.csv" 1 ""
else
  echo "run_suite.sh: $W absent: WMATA sets skipped" >&2
fi

# --- The demo city with limited-stop routes and early buses, replayed without shapes ----------
S=$OUT/sets
mkdir -p "$S"
python3 "$HERE/sets.py" limited "$ROOT/data/demo-city" "$S/demo-limited" 2>/dev/null
python3 "$HERE/sets.py" strip-shapes "$S/demo-limited" "$S/demo-limited-noshape"
sim_day() {  # sim_day DATE SEED PREFIX [START END]
  local range=()
  [ $# -ge 5 ] && range=(--start "$4" --end "$5")
  "$SB" sim --gtfs "$S/demo-limited" --date "$1" --seed "$2" --interval $THIN_S \
      --early-share $EARLY_SHARE --peak-slowdown $PEAK --no-passengers --quiet \
      "${range[@]}" --out "$S/$3.csv" --truth "$S/$3-truth.csv"
  python3 "$HERE/sets.py" blank "$S/$3.csv" "$S/$3-blank.csv"
}
DG=$S/demo-limited
DN=$S/demo-limited-noshape
if [ $FAST = 1 ]; then
  sim_day $DAY1 1 am 06:00 10:00
  want demo-noshape-am && run_set demo-noshape-am "$DN" "$S/am.csv" "$DG" "$S/am.csv" 0 "$S/am-truth.csv"
  want demo-blind-am && run_set demo-blind-am "$DN" "$S/am-blank.csv" "$DG" "$S/am.csv" 1 "$S/am-truth.csv"
else
  sim_day $DAY1 1 day1
  sim_day $DAY2 2 day2
  want demo-noshape && run_set demo-noshape "$DN" "$S/day1.csv" "$DG" "$S/day1.csv" 0 "$S/day1-truth.csv" \
      --model-out "$OUT/day1.model"
  want demo-blind && run_set demo-blind "$DN" "$S/day1-blank.csv" "$DG" "$S/day1.csv" 1 "$S/day1-truth.csv"
  want demo-day2-cold && run_set demo-day2-cold "$DN" "$S/day2.csv" "$DG" "$S/day2.csv" 0 "$S/day2-truth.csv"
  # Learned paths (issue 11): day 2 on the feed with the paths `smartbus shapes` learned from
  # day 1's fixes (confident ones, as shapes.txt), against day 2 on the shapeless feed.
  if want demo-day2-paths || want demo-blind-day2-paths; then
    "$SB" shapes --gtfs "$DN" --positions "$S/day1.csv" --out "$S/demo-paths-day1" >/dev/null 2>&1
  fi
  want demo-day2-paths && run_set demo-day2-paths "$S/demo-paths-day1" "$S/day2.csv" "$DG" "$S/day2.csv" 0 "$S/day2-truth.csv"
  want demo-blind-day2 && run_set demo-blind-day2 "$DN" "$S/day2-blank.csv" "$DG" "$S/day2.csv" 1 "$S/day2-truth.csv"
  want demo-blind-day2-paths && run_set demo-blind-day2-paths "$S/demo-paths-day1" "$S/day2-blank.csv" "$DG" "$S/day2.csv" 1 "$S/day2-truth.csv"
  if [ -f "$OUT/day1.model" ]; then
    want demo-day2-learned && run_set demo-day2-learned "$DN" "$S/day2.csv" "$DG" "$S/day2.csv" 0 \
        "$S/day2-truth.csv" --model-in "$OUT/day1.model"
  fi
fi

# --- A second city: the NYC Staten Island feed (express SIM routes on motorways) ---------------
# Simulated on its real shapes, replayed without them and blind: many routes share streets (the
# express routes' Manhattan and motorway legs), stops are kilometres apart on the motorways.
NYC_SI=$DATA/nyc-bus-2026-09/nyc_bus_si.zip
NYC_DAY=20260909      # a Wednesday of the fall 2026 timetable
if [ $FAST = 0 ] && { want nyc-si-blind || want nyc-si; }; then
  if [ -f "$NYC_SI" ]; then
    python3 -m zipfile -e "$NYC_SI" "$S/nyc-si"
    python3 "$HERE/sets.py" strip-shapes "$S/nyc-si" "$S/nyc-si-noshape"
    "$SB" sim --gtfs "$S/nyc-si" --date $NYC_DAY --seed 1 --interval $THIN_S \
        --early-share $EARLY_SHARE --peak-slowdown $PEAK --no-passengers --quiet \
        --start 06:30 --end 08:30 --out "$S/nyc-si.csv" --truth "$S/nyc-si-truth.csv"
    python3 "$HERE/sets.py" blank "$S/nyc-si.csv" "$S/nyc-si-blank.csv"
    # With the ids (prediction on a second city's express routes, shapeless, 2-min fixes).
    want nyc-si && run_set nyc-si "$S/nyc-si-noshape" "$S/nyc-si.csv" "$S/nyc-si" "$S/nyc-si.csv" 0 \
        "$S/nyc-si-truth.csv"
    want nyc-si-blind && run_set nyc-si-blind "$S/nyc-si-noshape" "$S/nyc-si-blank.csv" "$S/nyc-si" \
        "$S/nyc-si.csv" 1 "$S/nyc-si-truth.csv"
  else
    echo "run_suite.sh: $NYC_SI absent: the NYC Staten Island set skipped" >&2
  fi
fi

python3 "$HERE/metrics.py" table "${ROWS[@]}" | tee "$OUT/table.md"
[ $WMATA_OK = 1 ] || exit 2
