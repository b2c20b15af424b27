#!/usr/bin/env bash
# A mapped device (cairn-rbd-fuse + loop) holding a mounted ext4:
#  1. online growth: `rbd resize` while mounted, the device grows at once,
#     `resize2fs` grows the filesystem (online where CAP_SYS_RESOURCE is
#     granted, else unmounted), df shows it;
#  2. gateway restart: kill -9 cairn-nbd while files are written and
#     fsynced, start a new one at the same address: the helper reconnects
#     (after the dead gateway's lease), the writer only stalls, never sees
#     an error; fsck -n passes and every fsynced file is intact.
# Usage: nbd_attach_test.sh BIN_DIR
BIN=${1:?usage: nbd_attach_test.sh BIN_DIR}
source "$(dirname "$0")/nbd_lib.sh"
if ! can_map || [ ! -x "$BIN/cairn-rbd-fuse" ]; then
  echo "skipped: needs /dev/fuse, a free loop device and cairn-rbd-fuse"
  exit 0
fi
nbd_setup attach
LEASE=2000
ctl rbd create rbd/vol --size 128M >/dev/null || fail "create"
start_nbd 0 $LEASE
PORT=$NBD_PORT; A=$NBD_URI

step "map, mkfs, mount"
dev=$(ctl rbd map rbd/vol --nbd-uri "$A") || fail "map"
MAPPED+=("$dev")
[ "$(blockdev --getsize64 "$dev")" = $((128 << 20)) ] || fail "device size"
mkfs.ext4 -q "$dev" || fail "mkfs"
mkdir -p "$DIR/m"
mount "$dev" "$DIR/m" || fail "mount"
MOUNTS+=("$DIR/m")
head -c 5M /dev/urandom >"$DIR/m/before"
sync -f "$DIR/m/before"
sum_before=$(sha256sum <"$DIR/m/before")
size_kb() { df -k --output=size "$DIR/m" | tail -1 | tr -d ' '; }
old_kb=$(size_kb)

step "online growth"
ctl rbd resize rbd/vol --size 384M || fail "resize while mapped"
[ "$(blockdev --getsize64 "$dev")" = $((384 << 20)) ] || fail "device did not grow: $(blockdev --getsize64 "$dev")"
# ext4's online resize ioctl needs CAP_SYS_RESOURCE; where the sandbox
# withholds it (bit 24 of CapEff), grow offline instead (docs/block.md).
if (( (0x$(awk '/^CapEff/ {print $2}' /proc/self/status) >> 24) & 1 )); then
  resize2fs "$dev" >"$DIR/resize2fs.out" 2>&1 || fail "online resize2fs: $(cat "$DIR/resize2fs.out")"
else
  echo "no CAP_SYS_RESOURCE: online resize2fs is not permitted here; growing offline"
  if resize2fs "$dev" >/dev/null 2>&1; then fail "online resize2fs worked without CAP_SYS_RESOURCE?"; fi
  umount "$DIR/m" || fail "umount for resize"
  e2fsck -fp "$dev" >/dev/null || fail "e2fsck before resize"
  resize2fs "$dev" >"$DIR/resize2fs.out" 2>&1 || fail "resize2fs: $(cat "$DIR/resize2fs.out")"
  mount "$dev" "$DIR/m" || fail "mount after resize"
fi
new_kb=$(size_kb)
echo "filesystem: $old_kb KiB -> $new_kb KiB"
[ "$new_kb" -gt $((old_kb * 2)) ] || fail "df did not grow: $old_kb -> $new_kb"
head -c 200M /dev/zero >"$DIR/m/big" || fail "cannot use the new space"
sync -f "$DIR/m/big"
rm "$DIR/m/big"
if ctl rbd resize rbd/vol --size 64M --allow-shrink 2>/dev/null; then fail "shrank a mapped image"; fi

step "gateway killed and restarted under a writer"
: >"$DIR/synced"
python3 "$HERE/nbd_fsync_writer.py" "$DIR/m/files" "$DIR/synced" "$DIR/stop" 100000 >"$DIR/writer.out" 2>&1 &
WRITER=$!
for _ in $(seq 1 300); do [ "$(wc -l <"$DIR/synced")" -ge 20 ] && break; sleep 0.1; done
kill -9 $NBD_PID
killed=$(wc -l <"$DIR/synced")
killed_at=$(date +%s.%N)
echo "killed cairn-nbd after $killed fsynced files"
sleep 1
start_nbd 1 $LEASE $PORT
for _ in $(seq 1 300); do [ "$(wc -l <"$DIR/synced")" -ge $((killed + 20)) ] && break; sleep 0.1; done
touch "$DIR/stop"
wait $WRITER || fail "writer saw an error: $(cat "$DIR/writer.out")"
after=$(wc -l <"$DIR/synced")
echo "fsynced files: $killed before the kill, $after in all"
[ "$after" -ge $((killed + 20)) ] || fail "writes did not resume after the restart"
awk -v k="$killed_at" 'NR > 1 && $3 - prev > gap { gap = $3 - prev; at = prev - k } { prev = $3 }
  END { printf "longest fsync stall: %.1f s (from %.1f s after the kill)\n", gap, at }' "$DIR/synced"

step "fsck and content"
umount "$DIR/m" || fail "umount"
MOUNTS=()
fsck.ext4 -n -f "$dev" >"$DIR/fsck.out" 2>&1 || fail "fsck: $(cat "$DIR/fsck.out")"
mount "$dev" "$DIR/m" || fail "mount again"
MOUNTS+=("$DIR/m")
[ "$(sha256sum <"$DIR/m/before")" = "$sum_before" ] || fail "file written before the growth differs"
while read -r name sum _; do
  [ "$(sha256sum <"$DIR/m/files/$name" | cut -d' ' -f1)" = "$sum" ] || fail "$name differs"
done <"$DIR/synced"
umount "$DIR/m"
MOUNTS=()
ctl rbd unmap "$dev" || fail "unmap"
MAPPED=()
echo "nbd_attach_test: all checks passed"
