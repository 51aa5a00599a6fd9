#!/usr/bin/env bash
# smartbusd load benchmarks over real gRPC on loopback, with Redis persistence on.
#   bench/server/run_server_bench.sh BUILD_DIR [gateway|single|streams|all]
# Starts a throwaway redis-server (appendonly yes, appendfsync everysec: deploy/redis.conf's
# durability) on a free port and a fresh smartbusd (--clock=fixes, all six NYC feeds, Redis) for
# each run, runs build/bench/server/server_load against it, prints its JSON line, stops both.
# SERVER_FLAGS adds smartbusd flags to every run (e.g. SERVER_FLAGS=--ack=persisted);
# GW_SECONDS shortens the gateway run (default 20).
set -euo pipefail
BUILD=${1:-build}
WHAT=${2:-all}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
NYC=../shared/data/nyc-bus-2026-09
FEEDS=$(ls $NYC/nyc_bus_{bk,bx,m,qns,si,busco}.zip | paste -sd, -)
SHARDS=${SHARDS:-2}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run() {  # run NAME SERVER_FLAGS -- LOAD_FLAGS
  local name=$1; shift
  local sflags=()
  while [ "$1" != "--" ]; do sflags+=("$1"); shift; done; shift
  local dir rport sport rpid spid
  dir=$(mktemp -d); rport=$(free_port); sport=$(free_port)
  redis-server --port "$rport" --bind 127.0.0.1 --dir "$dir" --save "" --appendonly yes \
    --appendfsync everysec --daemonize no >"$dir/redis.log" 2>&1 &
  rpid=$!
  for _ in $(seq 1 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
  "$BUILD/services/server/smartbusd" --gtfs="$FEEDS" --listen=127.0.0.1:$sport \
    --redis=redis://127.0.0.1:$rport --clock=fixes --shards=$SHARDS "${sflags[@]}" \
    2>"$dir/smartbusd.log" &
  spid=$!
  for _ in $(seq 1 600); do grep -q "serving on" "$dir/smartbusd.log" && break; sleep 0.1; done
  echo "== $name" >&2
  "$BUILD/bench/server/server_load" --server=127.0.0.1:$sport --gtfs="$FEEDS" \
    --server_pid=$spid "$@" || true
  kill -TERM $spid; wait $spid || true
  redis-cli -p "$rport" info memory | grep used_memory_human >&2 || true
  kill $rpid; wait $rpid 2>/dev/null || true
  rm -rf "$dir"
}

case $WHAT in gateway|all)
  # shellcheck disable=SC2086
  run gateway-100 ${SERVER_FLAGS:-} -- --mode=gateway --batch=100 --streams=${GW_STREAMS:-4} \
    --window=${GW_WINDOW:-16} --vehicles=10000 --seconds=${GW_SECONDS:-20} ;;
esac
case $WHAT in single|all)
  run gateway-1 -- --mode=gateway --batch=1 --streams=8 --window=256 --vehicles=10000 --seconds=20 ;;
esac
case $WHAT in streams|all)
  run streams-10k -- --mode=streams --vehicles=10000 --interval_s=10 --seconds=60 \
    --query_rate=2000 --channels=16 ;;
esac
