#!/usr/bin/env bash
# The shared filesystem as users drive it: two FUSE mounts of one filesystem
# (two cairn-fuse processes, as two nodes would have), ordinary tools, errnos,
# locks across mounts, fio with verify, many small files, subvolume quotas,
# an MDS failover under writes (locks kept), write-back buffering (close and
# fsync store; a killed cairn-fuse's unstored writes report EIO at close),
# a local read cache read through FUSE passthrough, and a full cluster
# restart.
# Usage: fs_test.sh BIN_DIR [SMALL_FILES]
set -euo pipefail
BIN=${1:?usage: fs_test.sh BIN_DIR [SMALL_FILES]}
SMALL_FILES=${2:-${CAIRN_FS_SMALL_FILES:-50000}}
DIR=$(mktemp -d /tmp/cairn-fs-XXXXXX)
chmod 0755 "$DIR"  # unprivileged users must reach the mounts for the EACCES checks
A=$DIR/a
B=$DIR/b
FAILED=0
# From /proc/mounts: stat-ing a mount whose daemon is gone would block.
mounted() { grep -q " $1 fuse" /proc/mounts; }
HOLDER=""  # a background lock holder: it keeps ctest's output pipe open
cleanup() {
  set +e
  [ -n "$HOLDER" ] && kill "$HOLDER" 2>/dev/null
  for job in $(jobs -p); do kill "$job" 2>/dev/null; done  # background readers and writers
  for m in "$A" "$B" "$DIR/sub" "$DIR/c" "$DIR/rc"; do mounted "$m" && fusermount3 -u -z "$m"; done
  "$BIN/cairn" down --dir "$DIR" >/dev/null 2>&1
  if [ "$FAILED" = 0 ]; then rm -rf "$DIR"; else echo "kept $DIR for inspection"; fi
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  FAILED=1
  tail -n 15 "$DIR"/log/mds.*.log "$DIR"/log/fuse*.log 2>/dev/null
  exit 1
}
ctl() { "$BIN/cairnctl" -c "$DIR/cairn.conf" "$@"; }
step() { echo "[$(date +%T)] $*"; }
for tool in fio setfattr getfattr setpriv fusermount3 fincore; do
  command -v $tool >/dev/null || fail "$tool is missing: run scripts/install-deps.sh"
done
[ -e /dev/fuse ] || fail "/dev/fuse is missing"

step "cluster with two MDSes"
"$BIN/cairn" up --dir "$DIR" >/dev/null || fail "cairn up"
mkdir -p "$A" "$B" "$DIR/sub" "$DIR/src"
ctl fs mount "$A" >/dev/null || fail "mount A"
ctl fs mount "$B" >/dev/null || fail "mount B"
mounted "$A" && mounted "$B" || fail "not mounted"
if ctl fs mount "$A" 2>/dev/null; then fail "a second mount on the same directory was accepted"; fi
if ctl fs mount "$DIR/nope" 2>/dev/null; then fail "mount on a missing directory was accepted"; fi
if ctl fs mount "$DIR/src" --fs nosuchfs 2>/dev/null; then fail "mount of a missing filesystem was accepted"; fi
ctl fs status | grep -q "active on" || fail "fs status: $(ctl fs status)"
ctl fs status --format json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["state"]=="active" and len(d["sessions"])>=2, d' \
  || fail "fs status json"

step "one mount writes, the other sees it at once"
echo "written on A" > "$A/hello"
[ "$(cat "$B/hello")" = "written on A" ] || fail "B does not read A's file"
mkdir "$A/dir"; mv "$A/hello" "$A/dir/renamed"
[ -f "$B/dir/renamed" ] && [ ! -e "$B/hello" ] || fail "B does not see A's rename"
rm "$B/dir/renamed"
[ ! -e "$A/dir/renamed" ] || fail "A still sees B's unlink"
head -c 20000000 /dev/urandom > "$DIR/blob"
cp "$DIR/blob" "$A/blob"
cmp "$DIR/blob" "$B/blob" || fail "20 MB file differs between mounts"
# Overwrite in place on B: A must see the new bytes on its next open.
printf 'XYZ' | dd of="$B/blob" bs=1 seek=1000 conv=notrunc status=none
printf 'XYZ' | dd of="$DIR/blob" bs=1 seek=1000 conv=notrunc status=none
cmp "$DIR/blob" "$A/blob" || fail "A read stale data after B's overwrite (close-to-open)"

step "page cache: kept across opens of an unchanged file, dropped once another mount changes it"
resident() { fincore --bytes --noheadings --output RES "$1" | tr -d ' '; }
head -c 8388608 /dev/urandom > "$DIR/cached"
cp "$DIR/cached" "$A/cached"
cat "$A/cached" > /dev/null
cat "$A/cached" > /dev/null  # a second epoch: the pages must survive this open
[ "$(resident "$A/cached")" = 8388608 ] \
  || fail "A dropped its page cache of an unchanged file on open ($(resident "$A/cached") bytes cached)"
cmp "$DIR/cached" "$B/cached" || fail "B reads A's file wrong"
printf 'XYZ' | dd of="$B/cached" bs=1 seek=5000000 conv=notrunc status=none
printf 'XYZ' | dd of="$DIR/cached" bs=1 seek=5000000 conv=notrunc status=none
[ "$(resident "$A/cached")" = 0 ] || fail "A kept cached pages of a file B changed"
cmp "$DIR/cached" "$A/cached" || fail "A read stale data after B's overwrite of a cached file"
[ "$(resident "$A/cached")" = 8388608 ] || fail "A did not cache the file again"
rm "$A/cached"

step "a source tree with symlinks and hard links: untar, diff -r"
mkdir -p "$DIR/src/tree/a/b/c" "$DIR/src/tree/empty"
for i in $(seq 1 40); do head -c $((i * 997)) /dev/urandom > "$DIR/src/tree/a/f$i"; done
cp -r "$BIN/../../common" "$DIR/src/tree/code" 2>/dev/null || cp /etc/*.conf "$DIR/src/tree/a/b/" 2>/dev/null || true
ln -s ../f1 "$DIR/src/tree/a/b/link-to-f1"
ln -s /nonexistent/target "$DIR/src/tree/dangling"
ln "$DIR/src/tree/a/f2" "$DIR/src/tree/a/b/c/hard-f2"
chmod 0640 "$DIR/src/tree/a/f3"; chmod 0750 "$DIR/src/tree/a/b"
(cd "$DIR/src" && tar cf "$DIR/tree.tar" tree)
tar xf "$DIR/tree.tar" -C "$A" || fail "untar onto the mount"
diff -r --no-dereference "$DIR/src/tree" "$B/tree" || fail "diff -r after untar"
[ "$(stat -c %h "$B/tree/a/f2")" = 2 ] || fail "hard link count"
[ "$(stat -c %i "$B/tree/a/f2")" = "$(stat -c %i "$B/tree/a/b/c/hard-f2")" ] || fail "hard link inode"
[ "$(readlink "$B/tree/a/b/link-to-f1")" = "../f1" ] || fail "readlink"
[ "$(stat -c %a "$B/tree/a/f3")" = 640 ] || fail "mode after untar"
[ "$(find "$B/tree" | wc -l)" = "$(find "$DIR/src/tree" | wc -l)" ] || fail "find counts differ"
du -s "$B/tree" >/dev/null || fail "du"

step "chmod chown touch truncate ln mv xattrs sparse files"
f=$A/attrs
echo data > "$f"
chmod 0600 "$f"; chown 1234:5678 "$f"
[ "$(stat -c '%a %u %g' "$B/attrs")" = "600 1234 5678" ] || fail "chmod/chown: $(stat -c '%a %u %g' "$B/attrs")"
touch -d "2001-02-03 04:05:06" "$f"
[ "$(stat -c %Y "$B/attrs")" = "$(date -d '2001-02-03 04:05:06' +%s)" ] || fail "touch -d"
truncate -s 3 "$f"; [ "$(cat "$B/attrs")" = "dat" ] || fail "truncate shrink"
truncate -s 10 "$f"; [ "$(od -An -c "$B/attrs" | tr -d ' \n')" = 'dat\0\0\0\0\0\0\0' ] || fail "truncate grow reads zeros"
setfattr -n user.model -v resnet50 "$f"
[ "$(getfattr --absolute-names --only-values -n user.model "$B/attrs")" = resnet50 ] || fail "xattr across mounts"
getfattr --absolute-names -d "$B/attrs" | grep -q 'user.model="resnet50"' || fail "listxattr"
setfattr -x user.model "$f"
if getfattr --absolute-names -n user.model "$B/attrs" 2>/dev/null; then fail "removed xattr still there"; fi
truncate -s 1G "$A/sparse"
printf 'end' | dd of="$A/sparse" bs=1 seek=$((1024 * 1024 * 1024 - 3)) conv=notrunc status=none
[ "$(stat -c %s "$B/sparse")" = 1073741824 ] || fail "sparse size"
[ "$(dd if="$B/sparse" bs=1M skip=500 count=1 status=none | tr -d '\0' | wc -c)" = 0 ] || fail "hole is not zeros"
[ "$(tail -c 3 "$B/sparse")" = end ] || fail "sparse tail"
ln -s attrs "$A/sym"; ln "$A/attrs" "$A/hard"; mv "$A/hard" "$A/dir/"
[ "$(stat -c %h "$B/attrs")" = 2 ] || fail "link count after mv"

step "errno checks (incl. EACCES as an unprivileged user)"
python3 - "$A" "$B" <<'PY' || fail "errno checks"
import errno, os, sys
a, b = sys.argv[1], sys.argv[2]
def expect(code, fn, *args):
    try:
        fn(*args)
    except OSError as e:
        if e.errno != code:
            sys.exit(f"{fn.__name__}{args}: got {errno.errorcode[e.errno]}, want {errno.errorcode[code]}")
        return
    sys.exit(f"{fn.__name__}{args}: succeeded, want {errno.errorcode[code]}")
os.makedirs(f"{a}/e/full/x")
open(f"{a}/e/file", "w").close()
expect(errno.ENOENT, os.stat, f"{b}/e/missing")
expect(errno.ENOENT, open, f"{b}/e/missing/x")
expect(errno.EEXIST, os.mkdir, f"{b}/e/full")
expect(errno.ENOTEMPTY, os.rmdir, f"{b}/e/full")
expect(errno.EISDIR, os.unlink, f"{b}/e/full")
expect(errno.ENOTDIR, os.rmdir, f"{b}/e/file")
expect(errno.ENOTDIR, os.mkdir, f"{b}/e/file/sub")
expect(errno.EISDIR, open, f"{b}/e/full", "w")
expect(errno.ENAMETOOLONG, os.mkdir, f"{b}/e/" + "n" * 256)
expect(errno.EINVAL, os.rename, f"{b}/e/full", f"{b}/e/full/x/inside")
os.mkdir(f"{a}/e/notempty"); open(f"{a}/e/notempty/f", "w").close()
expect(errno.ENOTEMPTY, os.rename, f"{b}/e/full", f"{b}/e/notempty")
expect(errno.EISDIR, os.rename, f"{b}/e/file", f"{b}/e/full")
expect(errno.ENOTDIR, os.rename, f"{b}/e/full", f"{b}/e/file")
expect(errno.EPERM, os.link, f"{b}/e/full", f"{b}/e/dirlink")
expect(errno.ENODATA, os.getxattr, f"{b}/e/file", "user.none")
expect(errno.EEXIST, os.symlink, "x", f"{b}/e/file")
PY
mkdir "$A/private"; chmod 0700 "$A/private"; echo secret > "$A/private/s"
if setpriv --reuid=65534 --regid=65534 --clear-groups cat "$B/private/s" 2>/dev/null; then
  fail "an unprivileged user read a 0700 directory"
fi
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups cat "$B/private/s" 2>&1 || true)
[[ "$out" == *"Permission denied"* ]] || fail "EACCES not reported: $out"
mkdir "$A/shared"; chmod 1777 "$A/shared"
setpriv --reuid=65534 --regid=65534 --clear-groups sh -c "echo mine > $B/shared/nobody" || fail "write as nobody"
[ "$(stat -c %u "$A/shared/nobody")" = 65534 ] || fail "owner of a file created as nobody"

step "locks across mounts, O_APPEND from two clients, rename over and unlink of open files"
python3 - "$A" "$B" <<'PY' || fail "locks/append/open-file semantics"
import fcntl, os, sys
a, b = sys.argv[1], sys.argv[2]
open(f"{a}/lockfile", "w").close()
fa, fb = open(f"{a}/lockfile", "r+"), open(f"{b}/lockfile", "r+")
fcntl.flock(fa, fcntl.LOCK_EX)
try:
    fcntl.flock(fb, fcntl.LOCK_EX | fcntl.LOCK_NB); sys.exit("flock: both mounts got LOCK_EX")
except BlockingIOError:
    pass
fcntl.flock(fa, fcntl.LOCK_UN)
fcntl.flock(fb, fcntl.LOCK_EX | fcntl.LOCK_NB)
fcntl.flock(fb, fcntl.LOCK_UN)
fcntl.lockf(fa, fcntl.LOCK_EX, 100, 0)
try:
    fcntl.lockf(fb, fcntl.LOCK_SH | fcntl.LOCK_NB, 10, 50); sys.exit("fcntl: overlapping range granted")
except OSError:
    pass
fcntl.lockf(fb, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 200)  # disjoint
fa.close()  # closing drops the POSIX locks
fcntl.lockf(fb, fcntl.LOCK_EX | fcntl.LOCK_NB, 100, 0)
fb.close()
fa = os.open(f"{a}/appendlog", os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o644)
fb = os.open(f"{b}/appendlog", os.O_WRONLY | os.O_APPEND)
for i in range(100):
    os.write(fa, b"A" * 100); os.write(fb, b"B" * 100)
os.close(fa); os.close(fb)
data = open(f"{a}/appendlog", "rb").read()
if len(data) != 20000 or data.count(b"A") != 10000:
    sys.exit(f"O_APPEND: {len(data)} bytes, {data.count(b'A')} A")
for k in range(0, 20000, 100):
    if len(set(data[k:k + 100])) != 1: sys.exit(f"O_APPEND: interleaved record at {k}")
with open(f"{a}/victim", "wb") as f: f.write(b"x" * 300000)
held = open(f"{b}/victim", "rb")
os.unlink(f"{a}/victim")
if os.path.exists(f"{b}/victim"): sys.exit("unlinked file still visible")
if len(held.read()) != 300000: sys.exit("unlinked-but-open file lost its data")
held.close()
with open(f"{a}/target", "wb") as f: f.write(b"old")
old = open(f"{b}/target", "rb")
with open(f"{a}/incoming", "wb") as f: f.write(b"new")
os.rename(f"{a}/incoming", f"{a}/target")
if old.read() != b"old": sys.exit("open handle lost the replaced file")
if open(f"{b}/target", "rb").read() != b"new": sys.exit("rename over an open file")
PY

step "fio with verify: sequential and random"
for rw in write randwrite; do
  fio --name=v$rw --directory="$A" --rw=$rw --bs=$([ $rw = write ] && echo 1M || echo 4k) \
    --size=32M --ioengine=psync --verify=crc32c --do_verify=1 --verify_fatal=1 --verify_state_save=0 \
    --filename=fio-$rw >"$DIR/fio-$rw.log" 2>&1 || { cat "$DIR/fio-$rw.log"; fail "fio $rw verify"; }
  grep -q "err= 0" "$DIR/fio-$rw.log" || fail "fio $rw reported errors"
done
cmp "$A/fio-randwrite" "$B/fio-randwrite" || fail "fio file differs between mounts"

step "$SMALL_FILES small files in nested directories: create, list, stat, read, delete"
python3 - "$A" "$B" "$SMALL_FILES" <<'PY' || fail "small-file workload"
import os, sys, time
from concurrent.futures import ThreadPoolExecutor
a, b, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
dirs = [f"d{i // 1000:03d}/e{(i // 100) % 10}" for i in range(0, n, 100)]
def mk(d):
    os.makedirs(f"{a}/small/{d}")
    for k in range(100):
        with open(f"{a}/small/{d}/f{k}", "w") as f: f.write(f"{d}/{k}\n")
t = time.time()
with ThreadPoolExecutor(8) as ex: list(ex.map(mk, dirs))
created = time.time() - t
count = sum(len(files) for _, _, files in os.walk(f"{b}/small"))
if count != len(dirs) * 100: sys.exit(f"listed {count} files, want {len(dirs) * 100}")
def check(d):
    for k in range(100):
        p = f"{b}/small/{d}/f{k}"
        if os.stat(p).st_size != len(f"{d}/{k}\n"): raise SystemExit(f"size of {p}")
        if open(p).read() != f"{d}/{k}\n": raise SystemExit(f"content of {p}")
with ThreadPoolExecutor(8) as ex: list(ex.map(check, dirs))
def rm(d):
    for k in range(100): os.unlink(f"{b}/small/{d}/f{k}")
    os.rmdir(f"{b}/small/{d}")
t = time.time()
with ThreadPoolExecutor(8) as ex: list(ex.map(rm, dirs))
for top in os.listdir(f"{a}/small"): os.rmdir(f"{a}/small/{top}")
os.rmdir(f"{a}/small")
print(f"  {len(dirs) * 100} files: created in {created:.1f} s, deleted in {time.time() - t:.1f} s")
PY

step "subvolumes: quota, EDQUOT, EXDEV, mount as root"
ctl fs subvolume create vol1 --size 8M --files 50 >/dev/null || fail "subvolume create"
if ctl fs subvolume create vol1 2>/dev/null; then fail "duplicate subvolume accepted"; fi
[ "$(ctl fs subvolume getpath vol1)" = /volumes/vol1 ] || fail "getpath"
ctl fs mount "$DIR/sub" --subvolume vol1 >/dev/null || fail "mount subvolume"
if ctl fs mount "$DIR/src" --subvolume nosuch 2>/dev/null; then fail "mount of a missing subvolume accepted"; fi
head -c 5000000 /dev/urandom > "$DIR/sub/five"
if head -c 5000000 /dev/urandom > "$DIR/sub/six" 2>"$DIR/edquot.err"; then fail "byte quota not enforced"; fi
grep -q "quota exceeded" "$DIR/edquot.err" || fail "quota error is not EDQUOT: $(cat "$DIR/edquot.err")"
[ -f "$B/volumes/vol1/five" ] || fail "subvolume content not visible from the root mount"
python3 -c "
import errno, os, sys
try: os.rename('$B/tree/a/f5', '$B/volumes/vol1/f5')
except OSError as e: sys.exit(0 if e.errno == errno.EXDEV else 1)
sys.exit(1)" || fail "rename into a subvolume did not give EXDEV"
rm -f "$DIR/sub/six"
ctl fs subvolume resize vol1 --size 64M >/dev/null || fail "subvolume resize"
head -c 5000000 /dev/urandom > "$DIR/sub/six" || fail "write after resize"
ctl fs subvolume ls --format json | python3 -c '
import json, sys
v = [s for s in json.load(sys.stdin) if s["name"] == "vol1"][0]
assert v["used_bytes"] >= 10000000 and v["quota_bytes"] == 64 << 20, v' || fail "subvolume ls usage"
fusermount3 -u "$DIR/sub" || fail "unmount subvolume"
# The fstab / mount(8) form, as a CSI node plugin or /etc/fstab would use it.
# (`fuse.cairn-fuse` as the type finds cairn-fuse on mount's own PATH; the
# TYPE#SOURCE form names the binary where it is.)
mount -t fuse "$BIN/cairn-fuse#cairnfs/vol1" "$DIR/sub" -o "conf=$DIR/cairn.conf,_netdev" \
  || fail "mount -t fuse cairn-fuse#cairnfs/vol1"
cmp <(cat "$DIR/sub/five") <(cat "$B/volumes/vol1/five") || fail "fstab-style subvolume mount content"
umount "$DIR/sub" || fail "umount of the fstab-style mount"
ctl fs subvolume rm vol1 >/dev/null || fail "subvolume rm"
[ ! -e "$B/volumes/vol1" ] || fail "subvolume still there after rm"

step "MDS failover under writes: kill -9 the active MDS"
active=$(ctl fs status --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["name"])')
pid=$(python3 -c "import json; print([g['pid'] for g in json.load(open('$DIR/cluster.json'))['gateways'] if g['type']+'.'+str(g['id'])=='$active'][0])")
mkdir "$A/failover" "$A/failover/moved"
# Creates and renames; every acknowledged one must survive the failover.
# The MDS answers them before they are journaled: those it had answered
# when it died come back because the client resends them to the new MDS.
( for i in $(seq 1 300); do
    echo "$i" > "$A/failover/f$i" || exit 1
    if [ $((i % 3)) = 0 ]; then mv "$A/failover/f$i" "$A/failover/moved/r$i" || exit 1; fi
    echo "$i" >> "$DIR/acked"
  done ) &
writer=$!
# Locks held on A across the failover: the new MDS must not hand them to B.
: > "$A/failover-flock"; : > "$A/failover-posix"
python3 - "$A/failover-flock" "$A/failover-posix" "$DIR/locked" <<'PY' &
import fcntl, sys, time
f, g = open(sys.argv[1], "r+"), open(sys.argv[2], "r+")
fcntl.flock(f, fcntl.LOCK_EX)
fcntl.lockf(g, fcntl.LOCK_EX, 100, 0)
open(sys.argv[3], "w").close()
time.sleep(600)
PY
HOLDER=$!
for _ in $(seq 1 100); do [ -e "$DIR/locked" ] && break; sleep 0.1; done
[ -e "$DIR/locked" ] || fail "could not take the locks before the failover"
sleep 1
kill -9 "$pid"
acked=$(tail -n 1 "$DIR/acked" 2>/dev/null || echo 0)
[ "$acked" -gt 0 ] || fail "no create finished before the MDS was killed"
# Everything whose syscalls had returned before the kill, seen from the other mount.
for i in $(seq 1 "$acked"); do
  if [ $((i % 3)) = 0 ]; then want="$B/failover/moved/r$i"; else want="$B/failover/f$i"; fi
  [ "$(cat "$want" 2>/dev/null)" = "$i" ] || fail "$want, created before the MDS was killed, is missing after failover"
done
wait $writer || fail "a create or rename failed during MDS failover (must stall, not fail)"
try_locks() {  # prints which of the two locks B gets now
  python3 - "$B/failover-flock" "$B/failover-posix" <<'PY'
import fcntl, sys
f, g = open(sys.argv[1], "r+"), open(sys.argv[2], "r+")
got = []
try:
    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB); got.append("flock")
except BlockingIOError:
    pass
try:
    fcntl.lockf(g, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 50); got.append("posix")
except OSError:
    pass
print(" ".join(got) or "none")
PY
}
got=$(try_locks)
[ "$got" = none ] || fail "locks held on A were granted to B after the MDS failover: $got"
kill "$HOLDER"; wait "$HOLDER" 2>/dev/null || true
HOLDER=""
got=$(try_locks)
[ "$got" = "flock posix" ] || fail "locks not free on B after A's holder exited: $got"
[ "$(ls "$B/failover" | wc -l)" = 201 ] || fail "entries lost over the failover: $(ls "$B/failover" | wc -l)"
[ "$(ls "$B/failover/moved" | wc -l)" = 100 ] || fail "renames lost over the failover"
for i in 1 151 299; do [ "$(cat "$B/failover/f$i")" = "$i" ] || fail "content of f$i after failover"; done
[ "$(cat "$B/failover/moved/r300")" = 300 ] || fail "content of a renamed file after failover"
new=$(ctl fs status --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["name"])')
[ "$new" != "$active" ] || fail "the standby did not take over"
cmp "$DIR/blob" "$B/blob" || fail "data after failover"
"$BIN/cairn" start --dir "$DIR" "$active" >/dev/null || fail "restart $active as standby"

step "an OSD killed mid-write: writes stall through the failure, data intact"
osd_pid=$(python3 -c "import json; print([o['pid'] for o in json.load(open('$DIR/cluster.json'))['osds'] if o['id']==1][0])")
head -c 64000000 /dev/urandom > "$DIR/osdkill"
( cp "$DIR/osdkill" "$A/osdkill" && sync "$A/osdkill" ) &
writer=$!
sleep 0.5
kill -9 "$osd_pid"
wait $writer || fail "a write failed while an OSD died"
cmp "$DIR/osdkill" "$B/osdkill" || fail "data written across an OSD failure differs"
"$BIN/cairn" start --dir "$DIR" osd.1 >/dev/null || fail "restart osd.1"
cmp "$DIR/osdkill" "$A/osdkill" || fail "data after the OSD came back"

step "restart-safe mount: kill -9 and SIGTERM cairn-fuse under I/O, take over the live mount"
cat > "$DIR/io_loop.py" <<'PY'
import os, sys, time
d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(d, exist_ok=True)
held = open(f"{d}/held", "w+")  # stays open across the daemon's restart
for i in range(n):
    with open(f"{d}/f{i}", "w") as f: f.write(str(i) * 100)
    if open(f"{d}/f{i}").read() != str(i) * 100: sys.exit(f"f{i} read back wrong")
    held.write(f"{i}\n"); held.flush()
    time.sleep(0.02)
held.seek(0)
if held.read().split() != [str(i) for i in range(n)]: sys.exit("the held file lost writes")
PY
fuse_pid() { ps -eo pid,args | awk -v m="$1" '$2 ~ /cairn-fuse$/ && $3 == m {print $1}'; }
for sig in KILL TERM; do
  pid=$(fuse_pid "$A")
  [ -n "$pid" ] || fail "no cairn-fuse serves $A"
  timeout 300 python3 "$DIR/io_loop.py" "$A/restart-$sig" 150 &
  loop=$!
  sleep 1
  kill -$sig "$pid"
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  mounted "$A" || fail "the mount went away with cairn-fuse (SIG$sig)"
  ctl fs mount "$A" | grep -q "resumed serving" || fail "no takeover after SIG$sig"
  wait $loop || fail "I/O failed across a cairn-fuse restart (SIG$sig): it must stall, not fail"
done
if ctl fs mount "$A" 2>/dev/null; then fail "a second daemon was started on a served mount"; fi

step "write-back: small writes, fsync and close store; a killed cairn-fuse's unstored writes and a refused write fail the close"
head -c 8000000 /dev/urandom > "$DIR/small-writes"
dd if="$DIR/small-writes" of="$A/small-writes" bs=4k status=none || fail "4 KiB writes"
cmp "$DIR/small-writes" "$B/small-writes" || fail "4 KiB writes closed on A differ on B"
# A mount that keeps unstored bytes for a minute: only fsync or close stores them.
mkdir -p "$DIR/c"
ctl fs mount "$DIR/c" -o writeback_age_ms=60000 >/dev/null || fail "mount C"
head -c 5242880 /dev/urandom > "$DIR/wb-synced"
python3 - "$DIR/c/wb" "$DIR/wb-synced" "$DIR/wb-ready" "$DIR/wb-go" "$B/wb" <<'PY' &
import os, sys, time
path, synced, ready, go, other = sys.argv[1:]
data = open(synced, "rb").read()
f = open(path, "wb")
f.write(data)
f.flush(); os.fsync(f.fileno())
# fsync stored it: another node reads it while the file is still open here.
if open(other, "rb").read(len(data)) != data: sys.exit("fsynced data not readable from another mount")
f.write(os.urandom(1 << 20)); f.flush()  # acknowledged, buffered in cairn-fuse
reader = open(path, "rb")  # could not write: its close has nothing to report
open(ready, "w").close()
deadline = time.time() + 300
while not os.path.exists(go):
    if time.time() > deadline: sys.exit("never told to go on")
    time.sleep(0.05)
reader.close()
try:
    f.close()
except OSError as e:
    if e.errno != 5: sys.exit(f"close failed with {e}, want EIO")
    sys.exit(0)
sys.exit("close succeeded although cairn-fuse was killed holding unstored writes")
PY
wb_writer=$!
for _ in $(seq 1 100); do [ -e "$DIR/wb-ready" ] && break; sleep 0.1; done
[ -e "$DIR/wb-ready" ] || fail "the write-back writer did not get going"
pid=$(ps -eo pid,args | awk -v m="$DIR/c" '$2 ~ /cairn-fuse$/ && $3 == m {print $1}')
[ -n "$pid" ] || fail "no cairn-fuse serves $DIR/c"
kill -9 "$pid"
for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
ctl fs mount "$DIR/c" | grep -q "resumed serving" || fail "no takeover of C"
touch "$DIR/wb-go"
wait $wb_writer || fail "write-back: killed cairn-fuse's unstored writes"
cmp -n 5242880 "$DIR/wb-synced" "$B/wb" || fail "fsynced data changed after cairn-fuse was killed"
echo after > "$DIR/c/wb-after" && [ "$(cat "$B/wb-after")" = after ] || fail "C does not work after the takeover"
ctl fs umount "$DIR/c" >/dev/null || fail "umount C"
# A background write the cluster refuses is reported by close.
ctl pool set cairnfs.data max_bytes 1 >/dev/null || fail "pool quota"
for _ in $(seq 1 60); do echo x | ctl obj put cairnfs.data quota-probe - >/dev/null 2>&1 || break; sleep 0.5; done
if echo x | ctl obj put cairnfs.data quota-probe - >/dev/null 2>&1; then fail "the data pool never became full"; fi
python3 - "$A/wb-enospc" <<'PY' || fail "a refused background write"
import errno, os, sys
try:
    with open(sys.argv[1], "wb") as f:
        f.write(os.urandom(2 << 20))  # buffered in cairn-fuse: accepted
except OSError as e:
    if e.errno != errno.ENOSPC: sys.exit(f"got {e}, want ENOSPC")
    sys.exit(0)
sys.exit("close succeeded although the cluster refused the writes")
PY
ctl pool set cairnfs.data max_bytes 0 >/dev/null || fail "pool quota off"
for _ in $(seq 1 60); do echo x | ctl obj put cairnfs.data quota-probe - >/dev/null 2>&1 && break; sleep 0.5; done
head -c 3000000 /dev/urandom > "$DIR/after-full"
cp "$DIR/after-full" "$A/after-full" && cmp "$DIR/after-full" "$B/after-full" || fail "writes after the pool had room again"

step "read cache: an unchanged file's later opens read its local copy (FUSE passthrough), without cairn-fuse"
mkdir -p "$DIR/rc"
ctl fs mount "$DIR/rc" -o read_cache="$DIR/rc-cache",read_cache_mb=256 >/dev/null || fail "mount with a read cache"
head -c 30000000 /dev/urandom > "$DIR/dataset"
cp "$DIR/dataset" "$A/dataset"
cmp "$DIR/dataset" "$DIR/rc/dataset" || fail "first epoch through the read-cache mount"
[ -n "$(ls "$DIR/rc-cache")" ] || fail "the first epoch left no local copy"
rc_pid=$(ps -eo pid,args | awk -v m="$DIR/rc" '$2 ~ /cairn-fuse$/ && $3 == m {print $1}')
[ -n "$rc_pid" ] || fail "no cairn-fuse serves $DIR/rc"
( sleep 20; kill -CONT "$rc_pid" ) >/dev/null 2>&1 &  # never leave it stopped
python3 - "$DIR/rc/dataset" "$DIR/dataset" "$rc_pid" <<'PY' || fail "passthrough reads of the local copy"
import errno, os, signal, sys, time
path, want, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
f = open(path, "rb")
with open("/proc/sys/vm/drop_caches", "w") as d: d.write("1")
os.kill(pid, signal.SIGSTOP)  # every read below must bypass the daemon
start = time.monotonic()
try:
    data = f.read()
finally:
    took = time.monotonic() - start
    os.kill(pid, signal.SIGCONT)
if took > 10: sys.exit(f"reads waited {took:.0f} s for the stopped cairn-fuse: not served from the local copy")
if data != open(want, "rb").read(): sys.exit("the local copy read back wrong")
# Writing needs the page cache mode: refused while local-copy readers are open here...
try:
    open(path, "r+b")
    sys.exit("a write open was accepted beside a passthrough reader")
except OSError as e:
    if e.errno != errno.ETXTBSY: sys.exit(f"write open beside a passthrough reader: {e}, want ETXTBSY")
f.close()
open(path, "r+b").close()  # ...and fine once they closed
PY
# A cairn-fuse taking the mount over keeps to the modes of the files its
# predecessor opened: readers join the inherited passthrough, writers wait.
python3 - "$DIR/rc/dataset" "$DIR/dataset" "$DIR/rc-ready" "$DIR/rc-go" <<'PY' &
import errno, os, sys, time
path, want, ready, go = sys.argv[1:]
expect = open(want, "rb").read()
f = open(path, "rb")
open(ready, "w").close()
deadline = time.time() + 300
while not os.path.exists(go):
    if time.time() > deadline: sys.exit("never told to go on")
    time.sleep(0.05)
with open(path, "rb") as g:
    if g.read() != expect: sys.exit("a reader after the takeover read wrong data")
try:
    open(path, "r+b")
    sys.exit("after the takeover, a write open was accepted beside an inherited passthrough reader")
except OSError as e:
    if e.errno != errno.ETXTBSY: sys.exit(f"write open after the takeover: {e}, want ETXTBSY")
if f.read() != expect: sys.exit("the inherited passthrough reader read wrong data")
f.close()
open(path, "r+b").close()
PY
rc_reader=$!
for _ in $(seq 1 100); do [ -e "$DIR/rc-ready" ] && break; sleep 0.1; done
kill -9 "$rc_pid"
for _ in $(seq 1 50); do kill -0 "$rc_pid" 2>/dev/null || break; sleep 0.1; done
ctl fs mount "$DIR/rc" > "$DIR/rc-takeover" 2>&1
grep -q "resumed serving" "$DIR/rc-takeover" || fail "no takeover of the read-cache mount: $(cat "$DIR/rc-takeover")"
grep -q "read cache in $DIR/rc-cache" "$DIR/rc-takeover" || fail "the successor dropped the mount's read cache option"
touch "$DIR/rc-go"
wait $rc_reader || fail "passthrough opens across a cairn-fuse takeover"
# Changed on another node: the next open reads the new bytes, not the stale copy.
printf 'CHANGED' | dd of="$A/dataset" bs=1 seek=1000 conv=notrunc status=none
printf 'CHANGED' | dd of="$DIR/dataset" bs=1 seek=1000 conv=notrunc status=none
cmp "$DIR/dataset" "$DIR/rc/dataset" || fail "the read-cache mount read a stale copy after a change on another node"
cmp "$DIR/dataset" "$DIR/rc/dataset" || fail "second read after the change"
ctl fs umount "$DIR/rc" >/dev/null || fail "umount the read-cache mount"

step "full restart: unmount, cairn down, cairn up, mount, compare"
find "$A/tree" -type f -exec md5sum {} + | sort > "$DIR/before.md5"
fusermount3 -u "$A" && fusermount3 -u "$B" || fail "unmount"
"$BIN/cairn" down --dir "$DIR" >/dev/null || fail "cairn down"
"$BIN/cairn" up --dir "$DIR" >/dev/null || fail "cairn up again"
ctl fs mount "$A" >/dev/null || fail "mount after restart"
(cd / && find "$A/tree" -type f -exec md5sum {} + | sort) > "$DIR/after.md5"
diff "$DIR/before.md5" "$DIR/after.md5" || fail "content changed over a restart"
diff -r --no-dereference "$DIR/src/tree" "$A/tree" || fail "tree changed over a restart"
cmp "$DIR/blob" "$A/blob" || fail "blob changed over a restart"
ctl fs umount "$A" >/dev/null || fail "cairnctl fs umount"
if ctl fs umount "$A" 2>/dev/null; then fail "umount of an unmounted directory succeeded"; fi
echo "PASS"
