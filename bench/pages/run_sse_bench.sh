#!/usr/bin/env bash
# 100 open display boards on the live demo: smartbusd on the demo city (embedded store,
# --clock=fixes), the simulator streaming the weekday morning at 4x real time (after a 30-minute
# warm-up sent at full speed), and N Server-Sent-Events boards (bench/pages/sse_clients.mjs)
# open for D seconds, spread over the stops of Central Station and the busiest stops.
# Measures smartbusd's CPU (utime+stime from /proc over the D seconds, % of one core) and memory
# (VmRSS at the end, VmHWM), and what the boards received.
#   bash bench/pages/run_sse_bench.sh [BUILD] [N=100] [D=60]
set -euo pipefail
BUILD=${1:-build}; N=${2:-100}; D=${3:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
SBD=$BUILD/services/server/smartbusd; SB=$BUILD/services/cli/smartbus
work=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
g=$(port); h=$(port)
"$SBD" --gtfs data/demo-city --listen 127.0.0.1:$g --http_listen 127.0.0.1:$h --clock=fixes \
  --http_threads $((N + 16)) >"$work/sbd.log" 2>&1 &
sbd=$!; pids+=($sbd)
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:$h/readyz >/dev/null && break; sleep 0.2; done
"$SB" sim --gtfs data/demo-city --date 20261123 --start 06:50 --fast-until 07:20 \
  --server 127.0.0.1:$g --speed 4 >"$work/sim.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do grep -q "warm-up sent" "$work/sim.log" 2>/dev/null && break; sleep 0.1; done
stops=1000,1001,1002,1003,1010,1015,1020,1030
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' /proc/$sbd/stat; }
c0=$(cpu); t0=$(date +%s.%N)
node bench/pages/sse_clients.mjs http://127.0.0.1:$h "$stops" "$N" "$D" >"$work/clients.json"
c1=$(cpu); t1=$(date +%s.%N)
rss=$(awk '/VmRSS/{print $2}' /proc/$sbd/status); hwm=$(awk '/VmHWM/{print $2}' /proc/$sbd/status)
fixes=$(curl -sf http://127.0.0.1:$h/api/v1/status | python3 -c 'import json,sys; print(json.load(sys.stdin).get("fixes_accepted","?"))')
python3 - "$c0" "$c1" "$t0" "$t1" "$ticks" "$rss" "$hwm" "$fixes" "$work/clients.json" <<'PY'
import json, sys
c0, c1, t0, t1, tck = map(float, sys.argv[1:6])
rss, hwm = int(sys.argv[6]), int(sys.argv[7])
cl = json.load(open(sys.argv[9]))
print(json.dumps({"loadavg_1m_at_end": float(open("/proc/loadavg").read().split()[0]), "cpu_pct_of_one_core": round(100 * (c1 - c0) / tck / (t1 - t0), 1),
                  "rss_mib": round(rss / 1024, 1), "peak_rss_mib": round(hwm / 1024, 1),
                  "fixes_accepted_total": sys.argv[8], "boards": cl}))
PY
