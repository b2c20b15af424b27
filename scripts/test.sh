#!/usr/bin/env bash
# Installs dependencies, builds and runs every test (unit + integration).
# Extra arguments go to ctest (e.g. -R Raft, -L integration).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
BUILD_DIR=${BUILD_DIR:-build}
cd "$BUILD_DIR"
ctest --output-on-failure -j "$(nproc)" --timeout 900 "$@"
