#!/usr/bin/env bash
# Measures the shared filesystem against this machine's own limits, in one run:
#   1. the same workloads on a local directory of the data disk (the ceiling),
#      reads both direct (cold) and from the page cache (warm)
#   2. the object layer alone: `cairnctl bench write|seq` on the filesystem's
#      data pool, 4 MiB objects, as much data as fio moves (what cold reads
#      and writes through the mount are held against)
#   3. metadata: ../shared/bench/metabench.py (create, readdir, stat, unlink
#      N files in one directory), single-threaded, on a Cairn mount
#   4. data: fio on the mount — 1 MiB sequential write and read (4 jobs),
#      cold (page cache dropped) and warm (later epochs of the same files),
#      and 4 KiB random read; then one 1 MiB writer and one 4 KiB writer
#      (fsync at the end), what the write-back buffer is for
#   5. the cold and warm reads again through a second mount with a local
#      read cache (-o read_cache=DIR: later epochs read through passthrough)
# and prints each figure with its ratio to its reference, then the issue's
# targets. Not a test: nothing is asserted.
#
# Usage: bench/fs_bench.sh [BUILD_DIR] [FILES] [SIZE_MB]   (defaults: build 5000 256)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
FILES=${2:-5000}
SIZE=${3:-256}
BIN=$PWD/$BUILD/bin
METABENCH=$(cd .. && pwd)/shared/bench/metabench.py
DIR=${BENCH_DIR:-$(mktemp -d /var/tmp/cairn-fsbench-XXXXXX)}
M=$DIR/mnt
cleanup() {
  mountpoint -q "$M" && fusermount3 -u -z "$M"
  mountpoint -q "$DIR/rcmnt" && fusermount3 -u -z "$DIR/rcmnt"
  "$BIN/cairn" down --dir "$DIR/cluster" >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT
say() { echo "== $*" >&2; }
[ -f "$METABENCH" ] || { echo "needs $METABENCH (the shared load generators)"; exit 1; }

fio_mbs() {  # dir rw bs jobs what extra -> MB/s (bw) or IOPS
  local dir=$1 rw=$2 bs=$3 jobs=$4 what=$5
  fio --name=b --directory="$dir" --rw="$rw" --bs="$bs" --size="${SIZE}M" --numjobs="$jobs" \
    --ioengine=psync --group_reporting --output-format=json $6 2>/dev/null |
    python3 -c "import json,sys; j=json.load(sys.stdin)['jobs'][0]; k='read' if 'read' in '$rw' else 'write'; print(round(j[k]['$what'] / (1024 if '$what'=='bw' else 1)))"
}
# Warm reads: fio's default invalidate=1 would drop the page cache that
# serves them; several passes for 5 s (one pass from memory takes ~0.1 s).
WARM="--invalidate=0 --time_based --runtime=5"
meta() {  # dir -> "create readdir stat unlink" ops/s
  python3 "$METABENCH" --dir "$1" --count "$FILES" --size 1024 |
    python3 -c "
import re, sys
text = sys.stdin.read()
vals = [re.search(r'^' + p + r'\s.*?([0-9.]+) files/s', text, re.M) for p in ('create', 'readdir', 'stat', 'delete')]
print(' '.join(v.group(1) if v else '?' for v in vals))"
}

say "local directory on the data disk: $DIR/local"
mkdir -p "$DIR/local"
L_META=$(meta "$DIR/local/meta")
L_SW=$(fio_mbs "$DIR/local" write 1M 4 bw "--end_fsync=1")
L_SR=$(fio_mbs "$DIR/local" read 1M 4 bw "--direct=1")
fio_mbs "$DIR/local" read 1M 4 bw "--invalidate=0" >/dev/null  # fills the page cache
L_WARM=$(fio_mbs "$DIR/local" read 1M 4 bw "$WARM")
L_RR=$(fio_mbs "$DIR/local" randread 4k 1 iops "--direct=1 --runtime=15 --time_based")
L_SW1=$(fio_mbs "$DIR/local" write 1M 1 bw "--end_fsync=1")
L_SW4K=$(fio_mbs "$DIR/local" write 4k 1 bw "--end_fsync=1")
rm -rf "$DIR/local"

say "cluster and mount"
"$BIN/cairn" up --dir "$DIR/cluster" >/dev/null
mkdir -p "$M"
CTL=("$BIN/cairnctl" -c "$DIR/cluster/cairn.conf")
say "object layer: cairnctl bench on cairnfs.data, 4 MiB objects"
objs=$SIZE  # as much as fio moves: 4 jobs x SIZE MiB, in 4 MiB objects
obj_mbs() { python3 -c "import json,sys; print(round(json.load(sys.stdin)['mb_per_s']))"; }
O_W4=$("${CTL[@]}" bench write cairnfs.data -b 4M -t 4 --max-objects "$objs" --seconds 120 \
  --prefix fsb4 --format json 2>/dev/null | obj_mbs)
O_W=$("${CTL[@]}" bench write cairnfs.data -b 4M -t 16 --max-objects "$objs" --seconds 120 \
  --no-cleanup --prefix fsb --format json 2>/dev/null | obj_mbs)
echo 3 > /proc/sys/vm/drop_caches
O_R=$("${CTL[@]}" bench seq cairnfs.data -t 16 --seconds 120 --prefix fsb --format json 2>/dev/null | obj_mbs)
echo 3 > /proc/sys/vm/drop_caches
O_R4=$("${CTL[@]}" bench seq cairnfs.data -t 4 --seconds 120 --prefix fsb --format json 2>/dev/null | obj_mbs)
"${CTL[@]}" fs mount "$M" >/dev/null
C_META=$(meta "$M/meta")
C_SW=$(fio_mbs "$M" write 1M 4 bw "--end_fsync=1")
echo 3 > /proc/sys/vm/drop_caches
C_SR=$(fio_mbs "$M" read 1M 4 bw "")
C_EPOCH=$(fio_mbs "$M" read 1M 4 bw "$WARM")  # the second and later epochs
C_RR=$(fio_mbs "$M" randread 4k 1 iops "--runtime=15 --time_based")
# One writer (a checkpoint stream), then small writes: cairn-fuse's write-back buffer.
C_SW1=$(fio_mbs "$M" write 1M 1 bw "--end_fsync=1")
C_SW4K=$(fio_mbs "$M" write 4k 1 bw "--end_fsync=1")
# The same files through a second mount with a local read cache: the cold
# epoch fills the copies, later epochs read them through FUSE passthrough.
say "read cache mount: cold epoch (fills the local copies), then warm epochs"
RC=$DIR/rcmnt
mkdir -p "$RC"
"${CTL[@]}" fs mount "$RC" -o read_cache="$DIR/rcache",read_cache_mb=$((SIZE * 8)) >/dev/null
echo 3 > /proc/sys/vm/drop_caches
C_RC_SR=$(fio_mbs "$RC" read 1M 4 bw "")
C_RC_EPOCH=$(fio_mbs "$RC" read 1M 4 bw "$WARM")
fusermount3 -u "$RC"

ratio() { python3 -c "a,b='$1','$2'; print('n/a' if '?' in (a+b) or float(b)==0 else f'{float(a)/float(b):.2f}')"; }
read -r lc lr ls lu <<<"$L_META"
read -r cc cr cs cu <<<"$C_META"
printf '\n%-34s %12s %12s %8s\n' "workload" "cairn" "local disk" "ratio"
printf '%-34s %12s %12s %8s\n' "create ${FILES} files (ops/s)" "$cc" "$lc" "$(ratio "$cc" "$lc")"
printf '%-34s %12s %12s %8s\n' "readdir (entries/s)" "$cr" "$lr" "$(ratio "$cr" "$lr")"
printf '%-34s %12s %12s %8s\n' "stat (ops/s)" "$cs" "$ls" "$(ratio "$cs" "$ls")"
printf '%-34s %12s %12s %8s\n' "unlink (ops/s)" "$cu" "$lu" "$(ratio "$cu" "$lu")"
printf '%-34s %12s %12s %8s\n' "seq write 1M x4 (MB/s)" "$C_SW" "$L_SW" "$(ratio "$C_SW" "$L_SW")"
printf '%-34s %12s %12s %8s\n' "seq read 1M x4, cold (MB/s)" "$C_SR" "$L_SR" "$(ratio "$C_SR" "$L_SR")"
printf '%-34s %12s %12s %8s\n' "seq read 1M x4, warm (MB/s)" "$C_EPOCH" "$L_WARM" "$(ratio "$C_EPOCH" "$L_WARM")"
printf '%-34s %12s %12s %8s\n' "rand read 4k (IOPS)" "$C_RR" "$L_RR" "$(ratio "$C_RR" "$L_RR")"
printf '%-34s %12s %12s %8s\n' "read cache: seq read, cold (MB/s)" "$C_RC_SR" "$L_SR" "$(ratio "$C_RC_SR" "$L_SR")"
printf '%-34s %12s %12s %8s\n' "read cache: seq read, warm (MB/s)" "$C_RC_EPOCH" "$L_WARM" "$(ratio "$C_RC_EPOCH" "$L_WARM")"
printf '%-34s %12s %12s %8s\n' "seq write 1M x1 (MB/s)" "$C_SW1" "$L_SW1" "$(ratio "$C_SW1" "$L_SW1")"
printf '%-34s %12s %12s %8s\n' "seq write 4k x1 (MB/s)" "$C_SW4K" "$L_SW4K" "$(ratio "$C_SW4K" "$L_SW4K")"
printf '\n%-34s %12s %12s %12s\n' "object layer, 4 MiB objects (MB/s)" "16 in flight" "4 in flight" ""
printf '%-34s %12s %12s\n' "write" "$O_W" "$O_W4"
printf '%-34s %12s %12s\n' "read (seq)" "$O_R" "$O_R4"

best() { python3 -c "print(max(float('$1' if '$1' else 0), float('$2' if '$2' else 0)))"; }
O_WB=$(best "$O_W" "$O_W4"); O_RB=$(best "$O_R" "$O_R4")
target() {  # name value reference min
  python3 -c "
v, r, m = float('$2'), float('$3'), float('$4')
q = v / r if r else 0
print(f'{\"$1\":<46} {q:6.2f}  (target >= {m:.2f})  {\"met\" if q >= m else \"NOT met\"}')"
}
echo
echo "targets (issue 6)"
target "cold seq read / object layer read (best)" "$C_SR" "$O_RB" 0.6
target "seq write / object layer write (best)" "$C_SW" "$O_WB" 0.6
target "warm seq read / local cached read" "$C_EPOCH" "$L_WARM" 0.8
target "  same, mount with a read cache" "$C_RC_EPOCH" "$L_WARM" 0.8
target "  its cold read / object layer read (best)" "$C_RC_SR" "$O_RB" 0.6
target "creates/s / 2,000" "$cc" 2000 1
target "stats/s / 10,000" "$cs" 10000 1
