#!/usr/bin/env bash
# Measures the shared filesystem against this machine's own limits, in one run:
#   1. the same workloads on a local directory of the data disk (the ceiling)
#   2. metadata: ../shared/bench/metabench.py (create, readdir, stat, unlink
#      N files in one directory), single-threaded, on a Cairn mount
#   3. data: fio on the mount — 1 MiB sequential write and read (4 jobs),
#      4 KiB random read, and a re-read of a cached file (training epochs)
# and prints each figure with its ratio to (1). Not a test: nothing is asserted.
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
  "$BIN/cairn" down --dir "$DIR/cluster" >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT
say() { echo "== $*" >&2; }
[ -f "$METABENCH" ] || { echo "needs $METABENCH (the shared load generators)"; exit 1; }

fio_mbs() {  # dir rw bs jobs -> MB/s (or IOPS for 4k)
  local dir=$1 rw=$2 bs=$3 jobs=$4 what=$5
  fio --name=b --directory="$dir" --rw="$rw" --bs="$bs" --size="${SIZE}M" --numjobs="$jobs" \
    --ioengine=psync --group_reporting --output-format=json $6 2>/dev/null |
    python3 -c "import json,sys; j=json.load(sys.stdin)['jobs'][0]; k='read' if 'read' in '$rw' else 'write'; print(round(j[k]['$what'] / (1024 if '$what'=='bw' else 1)))"
}
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
L_RR=$(fio_mbs "$DIR/local" randread 4k 1 iops "--direct=1 --runtime=15 --time_based")
rm -rf "$DIR/local"

say "cluster and mount"
"$BIN/cairn" up --dir "$DIR/cluster" >/dev/null
mkdir -p "$M"
"$BIN/cairnctl" -c "$DIR/cluster/cairn.conf" fs mount "$M" >/dev/null
C_META=$(meta "$M/meta")
C_SW=$(fio_mbs "$M" write 1M 4 bw "--end_fsync=1")
echo 3 > /proc/sys/vm/drop_caches
C_SR=$(fio_mbs "$M" read 1M 4 bw "")
# Second epoch right after the first (fio's default invalidate=1 would drop
# the page cache that serves it).
C_EPOCH=$(fio_mbs "$M" read 1M 4 bw "--invalidate=0")
C_RR=$(fio_mbs "$M" randread 4k 1 iops "--runtime=15 --time_based")

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
printf '%-34s %12s %12s %8s\n' "rand read 4k (IOPS)" "$C_RR" "$L_RR" "$(ratio "$C_RR" "$L_RR")"
printf '%-34s %12s %12s %8s\n' "seq read 1M x4, 2nd epoch (MB/s)" "$C_EPOCH" "$L_SR" "$(ratio "$C_EPOCH" "$L_SR")"
