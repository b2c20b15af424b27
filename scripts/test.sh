#!/usr/bin/env bash
# Installs dependencies, builds and runs every test (unit + integration).
# Extra arguments go to ctest (e.g. -R Raft, -L integration).
# SANITIZE=1 builds and tests with ASan + UBSan in build-asan (see build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${SANITIZE:-0}" = "1" ]; then
  export BUILD_DIR=${BUILD_DIR:-build-asan}
else
  export BUILD_DIR=${BUILD_DIR:-build}
fi
./scripts/install-deps.sh
./scripts/build.sh
cd "$BUILD_DIR"
ctest --output-on-failure -j "$(nproc)" --timeout 900 "$@"
