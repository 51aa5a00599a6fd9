#!/usr/bin/env bash
# ctest accuracy_suite_fast: runs the fast accuracy suite and checks its figures against floors
# (the figures measured when they were last raised, with a small margin for noise: the suite is
# deterministic, so a drop means a behaviour change). Skips (77) without python3 or the shared
# reference tools; without the WMATA data only the demo set is checked.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:?usage: suite_fast_test.sh BUILD_DIR}
command -v python3 >/dev/null || { echo "SKIP: python3 not installed"; exit 77; }
TOOLS=${SMARTBUS_TOOLS:-$ROOT/../shared/tools}
[ -f "$TOOLS/score.py" ] || { echo "SKIP: reference tools not found in $TOOLS"; exit 77; }
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
rc=0
bash "$ROOT/bench/accuracy/run_suite.sh" "$BUILD" --fast --out "$OUT" >"$OUT/log" 2>&1 || rc=$?
cat "$OUT/table.md" 2>/dev/null || cat "$OUT/log"
if [ $rc = 2 ]; then
  echo "WMATA data absent: only the demo set is checked"
elif [ $rc != 0 ]; then
  tail -20 "$OUT/log"; exit 1
fi
M=$ROOT/bench/accuracy/metrics.py
if [ -f "$OUT/wmata-all3/row.json" ]; then
  python3 "$M" check "$OUT/wmata-all3/row.json" agreement_pct '>=' 95.0 off_route_pct '<=' 0.3 \
      ours_ta '>=' 79.0 ours_mbta '>=' 88.5
fi
python3 "$M" check "$OUT/demo-blind-am/row.json" agreement_pct '>=' 89.5 off_route_pct '<=' 1.5 \
    ours_mbta '>=' 75.5
python3 "$M" check "$OUT/demo-noshape-am/row.json" off_route_pct '<=' 0.5 ours_mbta '>=' 78.0 \
    ours_ta '>=' 64.5
