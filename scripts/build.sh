#!/usr/bin/env bash
# Configures and builds Cairn with Ninja (and ccache when present).
#   BUILD_DIR   build directory (default: build)
#   BUILD_TYPE  CMake build type (default: RelWithDebInfo)
#   SANITIZE=1  ASan + UBSan build
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo}
SAN=OFF
[ "${SANITIZE:-0}" = "1" ] && SAN=ON
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" -DCAIRN_SANITIZE="$SAN" >/dev/null
ninja -C "$BUILD_DIR" -j "${JOBS:-$(nproc)}"
