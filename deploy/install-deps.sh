#!/usr/bin/env bash
# Installs every Debian 12 package SmartBus needs to build, test and run its demo.
# Idempotent: packages already installed are skipped; with nothing missing it does nothing.
# Runs apt through sudo when not root.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config ninja-build
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libabsl-dev libgeographiclib-dev libhiredis-dev redis-server libzip-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev tzdata
  libboost-dev
  libcurl4-openssl-dev libcpp-httplib-dev prometheus-cpp-dev libspdlog-dev
  libssl-dev openssl
  clang libclang-rt-14-dev lld
  python3 time
  nodejs chromium fonts-wqy-microhei libjs-leaflet libjs-chart.js
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# npm: Debian's package, unless the installed nodejs brings its own (NodeSource's does).
if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# npm packages of the tests (package.json / package-lock.json at the repository root), e.g.
# gtfs-realtime-bindings for the GTFS-RT consumer test, @grpc/grpc-js + @grpc/proto-loader for
# the grpc-js TLS test (tests/server/grpcjs_tls_test.mjs). Skipped without npm (those tests then
# skip with a message); done again only when package-lock.json changed.
root="$(cd "$(dirname "$0")/.." && pwd)"
if command -v npm >/dev/null 2>&1 && [ -f "$root/package-lock.json" ]; then
  if [ ! -f "$root/node_modules/.package-lock.json" ] ||
     [ "$root/package-lock.json" -nt "$root/node_modules/.package-lock.json" ]; then
    echo "install-deps: npm ci (package-lock.json)" >&2
    (cd "$root" && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
