#!/usr/bin/env bash
# Two cairn-s3 gateways on one cluster (s3_two_gateways_test.py): each sees
# the other's writes at once, and a gateway with short deadlines cuts off
# slowloris-style partial requests. Starts its own cluster with `cairn up`;
# the second gateway is started (and stopped, by PID) by the Python script.
# Usage: s3_two_gateways_test.sh BIN_DIR
set -euo pipefail
BIN=${1:?usage: s3_two_gateways_test.sh BIN_DIR}
DIR=$(mktemp -d /tmp/cairn-s3two-XXXXXX)
FAILED=1
cleanup() {
  "$BIN/cairn" down --dir "$DIR" >/dev/null 2>&1 || true
  if [ "$FAILED" = 0 ]; then rm -rf "$DIR"; else echo "kept $DIR for inspection"; fi
}
trap cleanup EXIT
python3 -c 'import boto3' || { echo "FAIL: boto3 is not installed (scripts/install-deps.sh)"; exit 1; }
"$BIN/cairn" up --dir "$DIR" --mons 1 --osds 3 >/dev/null || { echo "FAIL: cairn up"; exit 1; }
timeout 300 python3 "$(dirname "$0")/s3_two_gateways_test.py" "$DIR" "$BIN"
FAILED=0
