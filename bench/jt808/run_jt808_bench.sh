#!/usr/bin/env bash
# JT/T 808 gateway benchmark over loopback: smartbusd (--clock=fixes, all six NYC feeds, the
# embedded store unless REDIS=1) + smartbus-jt808 (--jt808_auto_register) + jt808_load
# (TERMINALS terminals, default 10,000, one report every INTERVAL s, default 10, for RUN_S s,
# default 60). Prints jt808_load's JSON line; figures go to bench/RESULTS.md.
#   bench/jt808/run_jt808_bench.sh BUILD_DIR
set -euo pipefail
BUILD=${1:-build}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
NYC=../shared/data/nyc-bus-2026-09
FEEDS=$(ls $NYC/nyc_bus_{bk,bx,m,qns,si,busco}.zip | paste -sd, -)
TERMINALS=${TERMINALS:-10000}
INTERVAL=${INTERVAL:-10}
RUN_S=${RUN_S:-60}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
dir=$(mktemp -d)
sport=$(free_port); gport=$(free_port)
"$BUILD/services/server/smartbusd" --gtfs="$FEEDS" --listen=127.0.0.1:$sport --clock=fixes \
  --shards=${SHARDS:-2} 2>"$dir/smartbusd.log" &
spid=$!
for _ in $(seq 1 900); do grep -q "serving on" "$dir/smartbusd.log" && break; sleep 0.1; done
"$BUILD/services/jt808/smartbus-jt808" --server=127.0.0.1:$sport \
  --jt808_listen=127.0.0.1:$gport --jt808_auto_register --jt808_registry="$dir/registry.tsv" \
  --stats_interval_s=10 2>"$dir/gateway.log" &
gpid=$!
sleep 1
"$BUILD/bench/jt808/jt808_load" --gateway=127.0.0.1:$gport --gtfs="$FEEDS" \
  --terminals=$TERMINALS --interval_s=$INTERVAL --seconds=$RUN_S \
  --gateway_pid=$gpid --server_pid=$spid || true
tail -2 "$dir/gateway.log" >&2 || true
kill -TERM $gpid; wait $gpid || true
kill -TERM $spid; wait $spid || true
rm -rf "$dir"
