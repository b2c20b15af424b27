#!/usr/bin/env bash
# Installs dependencies, builds, and starts a local Cairn cluster (3 monitors,
# 3 OSDs) in the background under $CAIRN_DIR (default: ./cluster).
# Stop it with: build/bin/cairn down --dir ./cluster
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${SANITIZE:-0}" = "1" ]; then
  export BUILD_DIR=${BUILD_DIR:-build-asan}
else
  export BUILD_DIR=${BUILD_DIR:-build}
fi
./scripts/install-deps.sh
./scripts/build.sh
CAIRN_DIR=${CAIRN_DIR:-$PWD/cluster}
exec "$BUILD_DIR/bin/cairn" up --dir "$CAIRN_DIR" "$@"
