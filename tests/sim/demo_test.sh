#!/usr/bin/env bash
# Runs `make demo`'s script for a few seconds (DEMO_SECONDS) and checks what a user sees:
# the board of Central Station with buses on it, the simulator's fixes all accepted, exit 0,
# and nothing left running. Usage: demo_test.sh BUILD_DIR
set -uo pipefail
BUILD=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
DEMO_SECONDS=${DEMO_TEST_SECONDS:-14} bash "$root/deploy/demo.sh" "$BUILD" >"$out" 2>&1 </dev/null
rc=$?
fail() { echo "demo_test: $*"; echo "---- demo output ----"; cat "$out"; exit 1; }
[ "$rc" = 0 ] || fail "exit code $rc, want 0"
if grep -q "SmartBus live demo" "$out"; then
  grep -q "Central Station (code 21000)" "$out" || fail "no arrivals board for Central Station"
  grep -Eq "^  (1|2|3|4|6X) +[A-Z].* 10[0-9][0-9] " "$out" || fail "no bus (vehicle 10xx) on the board"
  grep -Eq "sim: sent [1-9][0-9]* fixes, server accepted [1-9][0-9]*, rejected 0" "$out" ||
    fail "the simulator's fixes were not all accepted"
  grep -q "arrivals 1000" "$out" || fail "no example commands printed"
else
  grep -q "trip assigned correctly" "$out" || fail "offline demo printed no result"
fi
# Nothing the demo started is still running: smartbusd's port is closed, the temp dir gone.
addr=$(grep -o 'smartbusd on 127\.0\.0\.1:[0-9]*' "$out" | head -1 | cut -d' ' -f2)
if [ -n "$addr" ] && python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)" \
    "${addr##*:}" 2>/dev/null; then
  fail "smartbusd still listening on $addr after the demo ended"
fi
dir=$(grep -o '/tmp/smartbus-demo\.[A-Za-z0-9]*' "$out" | head -1)
if [ -n "$dir" ] && [ -d "$dir" ]; then fail "temp dir $dir left behind"; fi
echo "demo_test: ok"
