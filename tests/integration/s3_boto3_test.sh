#!/usr/bin/env bash
# boto3 against cairn-s3 (s3_boto3_test.py): listing and pagination over
# thousands of keys, multipart with UploadPartCopy, conditionals, and the S3
# error codes. Starts its own cluster with `cairn up`.
# Usage: s3_boto3_test.sh BIN_DIR
set -euo pipefail
BIN=${1:?usage: s3_boto3_test.sh BIN_DIR}
DIR=$(mktemp -d /tmp/cairn-s3boto-XXXXXX)
FAILED=1
cleanup() {
  "$BIN/cairn" down --dir "$DIR" >/dev/null 2>&1 || true
  if [ "$FAILED" = 0 ]; then rm -rf "$DIR"; else echo "kept $DIR for inspection"; fi
}
trap cleanup EXIT
python3 -c 'import boto3' || { echo "FAIL: boto3 is not installed (scripts/install-deps.sh)"; exit 1; }
"$BIN/cairn" up --dir "$DIR" --mons 1 --osds 3 >/dev/null || { echo "FAIL: cairn up"; exit 1; }
timeout 600 python3 "$(dirname "$0")/s3_boto3_test.py" "$DIR/cluster.json" "$BIN/cairnctl" "$DIR/cairn.conf"
FAILED=0
