#!/usr/bin/env bash
# Runs the benchmarks whose figures are recorded in bench/RESULTS.md, on the real data in
# ../shared/data (skipped with a message when absent). Usage: bench/run_bench.sh BUILD_DIR [all|quick]
#   quick (default): GTFS load, network build, journey planner, tracker throughput, replay with predictions,
#                    GTFS-RT TripUpdates of 6,000 buses (gtfsrt_bench),
#                    analytics query latency, store write-behind (~2 min on 2 cores)
#   all:             quick + the smartbusd load runs over gRPC (bench/server/run_server_bench.sh)
set -euo pipefail
BUILD=${1:-build}
WHAT=${2:-quick}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
DATA=../shared/data
WMATA=$DATA/wmata-2026-02-16
NYC=$DATA/nyc-bus-2026-09

echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, load $(cut -d' ' -f1-3 /proc/loadavg)"
if [ ! -d "$WMATA" ] || [ ! -d "$NYC" ]; then
  echo "bench: ../shared/data is absent: the benchmarks need the real feeds; nothing run."
  exit 0
fi

echo "== GTFS load (each feed, then all six NYC feeds as one network)"
"$BUILD/bench/gtfs/gtfs_load_bench" --repeat 3 "$WMATA/gtfs" "$NYC"/nyc_bus_{bk,bx,m,qns,si,busco}.zip
"$BUILD/bench/gtfs/gtfs_load_bench" --repeat 3 --together "$NYC"/nyc_bus_{bk,bx,m,qns,si,busco}.zip

echo "== Network build (load + Network::Build), all six NYC feeds"
"$BUILD/bench/network/network_build_bench" "$NYC"/nyc_bus_{bk,bx,m,qns,si,busco}.zip

echo "== Journey planner: index build and 1,000 random earliest-arrival queries, all six NYC feeds"
"$BUILD/bench/planner/planner_bench" --queries 1000 "$NYC"/nyc_bus_{bk,bx,m,qns,si,busco}.zip

echo "== Tracker throughput (WMATA trace x 50 copies, > 1 M fixes)"
"$BUILD/bench/tracking/tracking_bench" "$WMATA"

echo "== Replay of the 5-hour WMATA trace with matches, visits and predictions written"
out=$(mktemp -d)
/usr/bin/time -f "replay: %e s wall, %U s user, %M KiB peak RSS" \
  "$BUILD/services/cli/smartbus" replay --gtfs "$WMATA/gtfs" --positions "$WMATA/positions.csv" \
  --matches "$out/m.csv" --visits "$out/v.csv" --predictions "$out/p.csv" --report "$out/r.json"
rm -rf "$out"

echo "== GTFS-RT TripUpdates, 6,000 buses on the six NYC feeds (build per refresh, bytes, requests/s from the cache)"
"$BUILD/bench/http/gtfsrt_bench" --buses 6000 --builds 10 --seconds 5 --clients 4 \
  --gtfs "$NYC"/nyc_bus_bk.zip,"$NYC"/nyc_bus_bx.zip,"$NYC"/nyc_bus_m.zip,"$NYC"/nyc_bus_qns.zip,"$NYC"/nyc_bus_si.zip,"$NYC"/nyc_bus_busco.zip

echo "== Analytics query latency (simulated 500-bus day)"
"$BUILD/bench/analytics/analytics_bench" --buses 500 --reps 200

echo "== Store write-behind into a real redis-server"
"$BUILD/bench/store/store_writer_bench" --fixes=1000000

if [ "$WHAT" = all ]; then
  echo "== smartbusd over gRPC"
  bash bench/server/run_server_bench.sh "$BUILD" all
fi
