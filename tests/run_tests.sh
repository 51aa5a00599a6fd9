#!/usr/bin/env bash
# Runs every test with ctest. Starts what the tests need first: a throwaway redis-server on a
# free loopback port (exported as SMARTBUS_TEST_REDIS_PORT), stopped again on exit.
set -euo pipefail
BUILD=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

redis_dir=$(mktemp -d)
redis_pid=""
cleanup() {
  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
  rm -rf "$redis_dir"
}
trap cleanup EXIT

if command -v redis-server >/dev/null; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  redis-server --port "$port" --bind 127.0.0.1 --dir "$redis_dir" --save "" --appendonly no \
    --daemonize no >"$redis_dir/redis.log" 2>&1 &
  redis_pid=$!
  for _ in $(seq 1 50); do
    if redis-cli -p "$port" ping >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
  export SMARTBUS_TEST_REDIS_PORT=$port
  echo "run_tests: redis-server on 127.0.0.1:$port"
fi

# For tests/run_sanitized.sh (optional): CTEST_REGEX only the tests whose names match,
# CTEST_EXCLUDE not those, CTEST_TIMEOUT the timeout of a test without its own (default 300 s).
# CTEST_JOBS tests at once, default 4 on the 2-core machine: the process tests (smartbusd,
# Redis faults, Chromium) mostly wait, so ctest's own CPU was 170 s of a 332-s run at -j2; at
# -j4 the same suite took 226 s (bench/RESULTS.md, "Build and test time").
ctest --test-dir "$BUILD" --output-on-failure -j"${CTEST_JOBS:-4}" --timeout "${CTEST_TIMEOUT:-300}" \
  ${CTEST_REGEX:+-R "$CTEST_REGEX"} ${CTEST_EXCLUDE:+-E "$CTEST_EXCLUDE"}
