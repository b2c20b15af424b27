# Shared setup for the block tests (sourced, not run): a private cluster in
# $DIR, gateways started by pid, cleanup of mounts/mappings on exit.
# The sourcing script sets BIN and calls nbd_setup.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FAILED=0
PIDS=()
MAPPED=()
MOUNTS=()
cleanup() {
  set +e
  for m in "${MOUNTS[@]}"; do mountpoint -q "$m" && umount "$m"; done
  for d in "${MAPPED[@]}"; do ctl rbd unmap "$d" >/dev/null 2>&1; done
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  "$BIN/cairn" down --dir "$DIR" >/dev/null 2>&1
  if [ "$FAILED" = 0 ]; then rm -rf "$DIR"; else echo "kept $DIR for inspection"; fi
}
fail() { echo "FAIL: $*"; FAILED=1; tail -20 "$DIR"/nbd*.log 2>/dev/null; exit 1; }
ctl() { "$BIN/cairnctl" -c "$DIR/cairn.conf" "$@"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
step() { echo "[$(date +%T)] $*"; }

nbd_setup() {
  DIR=$(mktemp -d /tmp/cairn-$1-XXXXXX)
  trap cleanup EXIT
  "$BIN/cairn" up --dir "$DIR" >/dev/null || fail "cairn up"
  ctl pool create rbd --size 3 --pg 16 >/dev/null || fail "pool create"
}

# Starts a gateway; sets NBD_PID, NBD_PORT, NBD_HTTP, NBD_URI. A given port
# reuses it (a restarted gateway at the same address).
start_nbd() {
  local id=$1 lease=$2
  NBD_PORT=${3:-$(free_port)}; NBD_HTTP=$(free_port)
  "$BIN/cairn-nbd" --id "$id" --addr 127.0.0.1:$NBD_PORT --http 127.0.0.1:$NBD_HTTP \
    --conf "$DIR/cairn.conf" --lease-ms "$lease" >>"$DIR/nbd$id.log" 2>&1 &
  NBD_PID=$!
  PIDS+=($NBD_PID)
  NBD_URI=nbd://127.0.0.1:$NBD_PORT
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$NBD_HTTP/healthz" >/dev/null && return 0
    sleep 0.1
  done
  fail "cairn-nbd $id did not become healthy"
}

# qemu-io against an export; fails the test on any error or pattern mismatch.
qio_ok() {
  local uri=$1; shift
  local out
  out=$(qemu-io -f raw "$uri" "$@" 2>&1) || fail "qemu-io $uri: $out"
  if echo "$out" | grep -qiE "fail|error|mismatch|pattern"; then fail "qemu-io $uri: $out"; fi
}

can_map() { [ -e /dev/fuse ] && command -v nbdfuse >/dev/null && losetup -f >/dev/null 2>&1; }
