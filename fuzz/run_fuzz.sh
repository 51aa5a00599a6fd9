#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in BUILD (default build-fuzz) and runs each for
# FUZZ_SECONDS (default 60), JOBS at a time (default 1), each with a seed corpus made from
# ../shared/data when present (fuzz/corpus/<target>/ keeps what the runs found). Crashes land in
# fuzz/artifacts/<target>/ and fail the run; each becomes a regression test.
#   make fuzz FUZZ_SECONDS=600
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-60}
JOBS=${JOBS:-1}
SHARED=${SMARTBUS_SHARED_DATA:-../shared/data}
TARGETS=${FUZZ_TARGETS:-"gtfs_csv_fuzz gtfs_feed_fuzz positions_csv_fuzz store_codec_fuzz jt808_frame_fuzz gtfs_rt_feed_fuzz http_query_fuzz"}
if [ -z "${SKIP_BUILD:-}" ]; then  # SKIP_BUILD=1: the targets are built already
  cmake -S . -B "$BUILD" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  # shellcheck disable=SC2086
  cmake --build "$BUILD" -j2 --target $TARGETS
fi

seed() {  # target -> seed corpus dir
  local t=$1 d=fuzz/corpus/$1
  mkdir -p "$d"
  case $t in
    gtfs_csv_fuzz)
      for f in "$SHARED"/wmata-2026-02-16/gtfs/*.txt; do [ -f "$f" ] && head -c 4096 "$f" > "$d/$(basename "$f")"; done ;;
    gtfs_feed_fuzz)
      if [ -d "$SHARED/wmata-2026-02-16/gtfs" ]; then
        local g=$SHARED/wmata-2026-02-16/gtfs
        { head -c 2000 "$g/agency.txt"; printf '\0'; head -n 5 "$g/routes.txt"; printf '\0';
          head -n 20 "$g/stops.txt"; printf '\0'; head -c 2000 "$g/calendar.txt"; printf '\0';
          head -n 5 "$g/trips.txt"; printf '\0'; head -n 40 "$g/stop_times.txt"; } > "$d/wmata-dir"
      fi ;;
    positions_csv_fuzz)
      [ -f "$SHARED/wmata-2026-02-16/positions.csv" ] && head -n 200 "$SHARED/wmata-2026-02-16/positions.csv" > "$d/wmata" ;;
    store_codec_fuzz)
      printf '7124\tT1\tR1\tS1\t3\t4\t20260216\t1771243200\t1771243200\t1771243210.5\t1771243230\t2\t-1\t15\t1' > "$d/visit"
      printf '38.9\t-77.0\t90\t5.5\tT1\tR1\t1\t\t\t12\t8' > "$d/position" ;;
    gtfs_rt_feed_fuzz)
      for f in "$SHARED"/gtfs-rt-snapshots/*/*.pb; do [ -f "$f" ] && cp "$f" "$d/"; done ;;
    http_query_fuzz)  # request targets of the README's curl lines and the pages, and a date
      printf '/api/v1/stops/1000/arrivals?limit=5&route_ids=R1,R2\nSun, 06 Nov 1994 08:49:37 GMT' > "$d/arrivals"
      printf '/api/v1/vehicles?south=38.8&west=-77.1&north=39&east=-76.9' > "$d/vehicles"
      printf '/api/v1/plan?from_lat=38.9&from_lon=-77.03&to_stop=S%%202&depart_after=1771243200' > "$d/plan"
      printf '/api/v1/analytics/advice?route_id=R1&from=0&to=1771243200&window.from=1' > "$d/advice"
      printf '/api/v1/heatmap?from=1771243200&to=1771246800&cell_m=250' > "$d/heatmap"
      printf '/api/v1/stops/near?lat=40&lon=-75&radius_m=500&limit=3\nSunday, 06-Nov-94 08:49:37 GMT' > "$d/near"
      printf '/api/v1/trips/T%%2F1/cancel?reason=x' > "$d/cancel" ;;
    jt808_frame_fuzz)
      [ -f "$SHARED/jt808-samples/frames.tsv" ] && cut -f2 "$SHARED/jt808-samples/frames.tsv" | head -n 60 | xxd -r -p > "$d/frames" 2>/dev/null || true ;;
  esac
  echo "$d"
}

run() {
  local t=$1 corpus art
  corpus=$(seed "$t")
  art=fuzz/artifacts/$t/
  mkdir -p "$art"
  "$BUILD/fuzz/$t" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="$art" -print_final_stats=1 "$corpus" > "fuzz/artifacts/$t.log" 2>&1
  local rc=$?
  local execs
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "fuzz/artifacts/$t.log" | grep -o '[0-9]*$' || echo '?')
  echo "$t: ${SECONDS_EACH}s, $execs executions, exit $rc, crashes: $(ls "$art" | wc -l)"
  return $rc
}

fail=0
running=0
for t in $TARGETS; do
  run "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then wait -n || fail=1; running=$((running - 1)); fi
done
while [ "$running" -gt 0 ]; do wait -n || fail=1; running=$((running - 1)); done
exit $fail
