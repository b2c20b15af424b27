#!/usr/bin/env bash
# Block images and the NBD gateway with the clients users use: nbdinfo,
# nbdcopy, qemu-io, qemu-img, fio (ioengine=nbd), a filesystem on a mapped
# device (nbdfuse + loop), snapshots, the exclusive lock, and bad input from a
# raw protocol client. Starts its own cairn-nbd (random port, killed by pid).
# Usage: nbd_test.sh BIN_DIR
set -euo pipefail
BIN=${1:?usage: nbd_test.sh BIN_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=$(mktemp -d /tmp/cairn-nbd-XXXXXX)
FAILED=0
PIDS=()
MAPPED=()
cleanup() {
  set +e
  mountpoint -q "$DIR/m" && umount "$DIR/m"
  for d in "${MAPPED[@]}"; do ctl rbd unmap "$d" >/dev/null 2>&1; done
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  "$BIN/cairn" down --dir "$DIR" >/dev/null 2>&1
  if [ "$FAILED" = 0 ]; then rm -rf "$DIR"; else echo "kept $DIR for inspection"; fi
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; FAILED=1; tail -20 "$DIR"/nbd*.log 2>/dev/null; exit 1; }
ctl() { "$BIN/cairnctl" -c "$DIR/cairn.conf" "$@"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
step() { echo "[$(date +%T)] $*"; }
for tool in nbdinfo nbdcopy qemu-io qemu-img fio; do
  command -v $tool >/dev/null || fail "$tool is missing: run scripts/install-deps.sh"
done

# Starts a gateway; sets NBD_PID, NBD_PORT, NBD_HTTP.
start_nbd() {
  local id=$1 lease=$2
  NBD_PORT=$(free_port); NBD_HTTP=$(free_port)
  "$BIN/cairn-nbd" --id "$id" --addr 127.0.0.1:$NBD_PORT --http 127.0.0.1:$NBD_HTTP \
    --conf "$DIR/cairn.conf" --lease-ms "$lease" >>"$DIR/nbd$id.log" 2>&1 &
  NBD_PID=$!
  PIDS+=($NBD_PID)
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$NBD_HTTP/healthz" >/dev/null && return 0
    sleep 0.1
  done
  fail "cairn-nbd $id did not become healthy"
}

step "cluster"
"$BIN/cairn" up --dir "$DIR" >/dev/null || fail "cairn up"
ctl pool create rbd --size 3 --pg 16 >/dev/null || fail "pool create"
ctl rbd create rbd/img --size 512M >/dev/null || fail "rbd create"
ctl rbd create rbd/vol --size 128M --object-size 1M >/dev/null || fail "rbd create vol"
[ "$(ctl rbd ls rbd | tr '\n' ' ')" = "img vol " ] || fail "rbd ls: $(ctl rbd ls rbd)"
ctl rbd info rbd/img --format json | json 'd["size"]' | grep -qx 536870912 || fail "rbd info size"
if ctl rbd create rbd/img --size 1G 2>/dev/null; then fail "duplicate create accepted"; fi
if ctl rbd create rbd/bad@x --size 1G 2>/dev/null; then fail "bad name accepted"; fi
if ctl rbd create rbd/x --size 12Q 2>/dev/null; then fail "bad size accepted"; fi

start_nbd 0 3000
A_PID=$NBD_PID; A=nbd://127.0.0.1:$NBD_PORT
curl -sf "http://127.0.0.1:$NBD_HTTP/metrics" | grep -q '^cairn_nbd_connections' || fail "metrics"

step "nbdinfo"
info=$(nbdinfo --json "$A/rbd/img") || fail "nbdinfo"
echo "$info" | json 'd["exports"][0]["export-size"]' | grep -qx 536870912 || fail "size: $info"
for flag in can_flush can_fua can_trim can_zero can_multi_conn can_df; do
  echo "$info" | json "d['exports'][0]['$flag']" | grep -qx True || fail "$flag: $info"
done
echo "$info" | json 'd["exports"][0]["is_read_only"]' | grep -qx False || fail "read-only?"
nbdinfo --list "$A" | grep -q 'rbd/vol' || fail "nbdinfo --list"

step "nbdcopy 256 MiB in and out"
head -c 256M /dev/urandom >"$DIR/in.bin"
nbdcopy --flush "$DIR/in.bin" "$A/rbd/img" || fail "nbdcopy in"
nbdcopy "$A/rbd/img" "$DIR/out.bin" || fail "nbdcopy out"
[ "$(head -c 256M "$DIR/out.bin" | sha256sum)" = "$(sha256sum <"$DIR/in.bin")" ] || fail "checksums differ"
cmp -s <(tail -c +268435457 "$DIR/out.bin") <(head -c 268435456 /dev/zero) || fail "tail not zero"
qemu-img compare -f raw -F raw "$DIR/in.bin" "$A/rbd/img" >/dev/null || fail "qemu-img compare"
rm -f "$DIR/out.bin"

step "qemu-io at unaligned offsets"
qio() { qemu-io -f raw "$A/rbd/vol" "$@" 2>&1; }
out=$(qio -c "write -P 0xab 1000 5000" -c "read -P 0xab 1000 5000" -c "read -P 0 0 1000" \
  -c "write -P 0xcd 1048000 1000" -c "read -P 0xcd 1048000 1000" \
  -c "discard 0 1048576" -c "read -P 0 0 1048000" -c "read -P 0xcd 1048576 424" \
  -c "write -z 3000000 70000" -c "read -P 0 3000000 70000" \
  -c "write -P 0x11 5000000 3000000" -c "write -z -u 5242880 1048576" -c "read -P 0 5242880 1048576" \
  -c "read -P 0x11 5000000 242880" -c "read -P 0x11 6291456 1708544" -c "flush")
echo "$out" | grep -qiE "fail|error|mismatch|pattern" && fail "qemu-io: $out"
map=$(qemu-img map --output=json -f raw "$A/rbd/vol") || fail "qemu-img map"
echo "$map" | json 'sum(1 for e in d if not e["data"]) >= 2' | grep -qx True || fail "no holes: $map"
# Compare against a local file given the same writes.
truncate -s 128M "$DIR/vol.ref"
qemu-io -f raw "$DIR/vol.ref" -c "write -P 0xab 1000 5000" -c "write -P 0xcd 1048000 1000" \
  -c "write -z 0 1048576" -c "write -P 0x11 5000000 3000000" -c "write -z 5242880 1048576" >/dev/null
qemu-img compare -f raw -F raw "$DIR/vol.ref" "$A/rbd/vol" >/dev/null || fail "compare vs local file"

step "fio ioengine=nbd verify=crc32c"
cat >"$DIR/fio.job" <<JOB
[global]
ioengine=nbd
uri=$A/rbd/vol
verify=crc32c
do_verify=1
verify_fatal=1
verify_state_save=0
[seq]
rw=write
bs=1m
size=32m
iodepth=8
[rand]
stonewall
rw=randwrite
bs=4k
size=8m
offset=64m
iodepth=16
JOB
fio --output="$DIR/fio.out" "$DIR/fio.job" >/dev/null 2>&1 || fail "fio: $(tail -20 "$DIR/fio.out")"
grep -q "err= 0" "$DIR/fio.out" || fail "fio errors: $(cat "$DIR/fio.out")"

step "bad input"
NC="python3 $HERE/nbd_client.py 127.0.0.1 $NBD_PORT"
$NC garbage || fail "garbage handshake"
$NC bad_option || fail "bad option"
$NC unknown rbd/nosuch || fail "unknown export"
$NC unknown nopool/img || fail "unknown pool"
$NC past_end rbd/vol || fail "past end"
$NC huge rbd/vol || fail "huge lengths"
nbdinfo "$A/rbd/vol" >/dev/null || fail "server down after bad input"

step "exclusive lock"
$NC hold rbd/vol 6 &
HOLD=$!
sleep 1
start_nbd 1 3000
B_PID=$NBD_PID; B=nbd://127.0.0.1:$NBD_PORT
if nbdinfo "$B/rbd/vol" >/dev/null 2>&1; then fail "second gateway got a locked image"; fi
ctl rbd info rbd/vol | grep -q "locked by nbd.0" || fail "lock owner not shown"
if ctl rbd resize rbd/vol --size 64M --allow-shrink 2>/dev/null; then fail "shrink while locked"; fi
kill -9 $A_PID   # the holder dies with the lock held
wait $HOLD 2>/dev/null || true
ok=0
for _ in $(seq 1 50); do  # free after the 3 s lease
  if nbdinfo "$B/rbd/vol" >/dev/null 2>&1; then ok=1; break; fi
  sleep 0.2
done
[ $ok = 1 ] || fail "lock not taken over after the lease"
A=$B

step "resize"
ctl rbd resize rbd/vol --size 256M >/dev/null || fail "grow"
nbdinfo --size "$A/rbd/vol" | grep -qx 268435456 || fail "size after grow"
if ctl rbd resize rbd/vol --size 64M 2>/dev/null; then fail "shrink without --allow-shrink"; fi
ctl rbd resize rbd/vol --size 128M --allow-shrink >/dev/null || fail "shrink"

step "snapshots"
ctl rbd snap create rbd/img@s1 >/dev/null || fail "snap create"
ctl rbd snap ls rbd/img | grep -q s1 || fail "snap ls"
head -c 8M /dev/urandom >"$DIR/new.bin"
nbdcopy --flush "$DIR/new.bin" "$A/rbd/img" || fail "write after snapshot"
nbdcopy "$A/rbd/img@s1" "$DIR/snap.bin" || fail "read snapshot"
[ "$(head -c 256M "$DIR/snap.bin" | sha256sum)" = "$(sha256sum <"$DIR/in.bin")" ] || fail "snapshot changed"
nbdinfo --json "$A/rbd/img@s1" | json 'd["exports"][0]["is_read_only"]' | grep -qx True || fail "snap rw"
python3 "$HERE/nbd_client.py" 127.0.0.1 $NBD_PORT snap_write rbd/img@s1 || fail "snapshot write not EPERM"
ctl rbd snap protect rbd/img@s1 || fail "protect"
if ctl rbd snap rm rbd/img@s1 2>/dev/null; then fail "removed a protected snapshot"; fi
ctl rbd snap unprotect rbd/img@s1 || fail "unprotect"
ctl rbd snap rollback rbd/img@s1 >/dev/null || fail "rollback"
nbdcopy "$A/rbd/img" "$DIR/rb.bin" || fail "read after rollback"
[ "$(head -c 256M "$DIR/rb.bin" | sha256sum)" = "$(sha256sum <"$DIR/in.bin")" ] || fail "rollback content"
rm -f "$DIR/snap.bin" "$DIR/rb.bin"
if ctl rbd rm rbd/img 2>/dev/null; then fail "removed an image with snapshots"; fi
ctl rbd snap rm rbd/img@s1 || fail "snap rm"

step "filesystem on a mapped device"
if [ -e /dev/fuse ] && command -v nbdfuse >/dev/null && losetup -f >/dev/null 2>&1; then
  dev=$(ctl rbd map rbd/vol --nbd-uri "$A") || fail "map"
  MAPPED+=("$dev")
  ctl rbd showmapped | grep -q "rbd/vol" || fail "showmapped"
  echo "mapped rbd/vol at $dev"
  mkfs.ext4 -q "$dev" || fail "mkfs"
  mkdir -p "$DIR/m"
  mount "$dev" "$DIR/m" || fail "mount"
  mkdir -p "$DIR/m/tree"
  for i in $(seq 1 20); do head -c $((i * 37000)) /dev/urandom >"$DIR/m/tree/f$i"; done
  cp -r "$HERE" "$DIR/m/tree/src"
  (cd "$DIR/m/tree" && find . -type f -exec sha256sum {} + | sort -k2) >"$DIR/sums"
  sync -f "$DIR/m/tree"
  umount "$DIR/m"
  ctl rbd unmap "$dev" || fail "unmap"
  MAPPED=()
  dev=$(ctl rbd map rbd/vol --nbd-uri "$A") || fail "map again"
  MAPPED+=("$dev")
  fsck.ext4 -n "$dev" >/dev/null 2>&1 || fail "fsck"
  mount "$dev" "$DIR/m" || fail "mount again"
  (cd "$DIR/m/tree" && find . -type f -exec sha256sum {} + | sort -k2) | cmp -s - "$DIR/sums" || fail "content differs"
  umount "$DIR/m"
  ctl rbd unmap "$dev" || fail "unmap 2"
  MAPPED=()
else
  echo "skipped: no /dev/fuse, nbdfuse or free loop device"
fi

step "rm and rename"
ctl rbd rename rbd/vol vol2 || fail "rename"
[ "$(ctl rbd ls rbd | tr '\n' ' ')" = "img vol2 " ] || fail "ls after rename"
ctl rbd rm rbd/vol2 || fail "rm"
ctl rbd rm rbd/img || fail "rm img"
[ -z "$(ctl rbd ls rbd)" ] || fail "ls after rm"
left=$(ctl obj ls rbd | grep -c '^rbd_data' || true)
[ "$left" = 0 ] || fail "$left data objects left after rm"
echo "nbd_test: all checks passed"
