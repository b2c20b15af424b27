#!/usr/bin/env bash
# Configures and builds Cairn with Ninja (and ccache when present).
#   SANITIZE=1  ASan + UBSan build (its own directory, so the release build stays)
#   BUILD_DIR   build directory (default: build, or build-asan with SANITIZE=1)
#   BUILD_TYPE  CMake build type (default: RelWithDebInfo, or Debug with SANITIZE=1)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${SANITIZE:-0}" = "1" ]; then
  SAN=ON
  BUILD_DIR=${BUILD_DIR:-build-asan}
  BUILD_TYPE=${BUILD_TYPE:-Debug}
else
  SAN=OFF
  BUILD_DIR=${BUILD_DIR:-build}
  BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo}
fi
# Let ccache hit across checkouts (CI builds a fresh clone in another folder).
export CCACHE_BASEDIR=$PWD CCACHE_NOHASHDIR=true
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" -DCAIRN_SANITIZE="$SAN" >/dev/null
ninja -C "$BUILD_DIR" -j "${JOBS:-$(nproc)}"
