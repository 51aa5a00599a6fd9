#!/usr/bin/env bash
# make test-sanitize: every test under AddressSanitizer + UndefinedBehaviorSanitizer, then the
# server and store tests (threads: shards, store writer, watch hub, gRPC) under ThreadSanitizer.
# Any report fails the run. Build dirs: build-asan, build-tsan (ccache makes reruns cheap).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSMARTBUS_SANITIZE=address,undefined \
  "${launcher[@]}" >/dev/null
cmake --build build-asan -j"$JOBS"
bash tests/run_tests.sh build-asan

cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSMARTBUS_SANITIZE=thread \
  "${launcher[@]}" >/dev/null
tsan_targets="server_test ingest_test limits_test auth_test store_writer_test store_contract_test"
# shellcheck disable=SC2086
cmake --build build-tsan -j"$JOBS" --target $tsan_targets
CTEST_REGEX=${TSAN_TESTS:-"ServerTest|ServerBackPressure|Ingest|LimitsTest|AuthTest|StoreWriter|StoreContract"} \
  bash tests/run_tests.sh build-tsan
