#!/usr/bin/env bash
# Block images through the NBD gateway against this machine's own disk, in
# one run:
#   1. fio on a local file (ioengine=libaio, direct=1) in the bench dir
#   2. fio over NBD (ioengine=nbd) on a 4 GiB image in a 3-OSD size-3 pool,
#      served by the gateway `cairn up` starts
#   3. fio over NBD against `nbdkit memory 4G` (the protocol's ceiling on
#      this machine; skipped without nbdkit)
# with the same jobs: a checkpoint-style burst (1 GiB sequential write then
# fsync, in seconds; it also fills the region the other jobs use), then
# 1 MiB sequential write and read (iodepth 16), 4 KiB random write and read
# (iodepth 32) over that first 1 GiB. Prints each figure and its ratio to
# the raw one. Not a test: nothing is asserted.
#
# Usage: bench/block_bench.sh [BUILD_DIR] [SECONDS]   (defaults: build 10)
# Environment: BENCH_DIR (default: a temp dir under /var/tmp, removed after).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
SECS=${2:-10}
BIN=$PWD/$BUILD/bin
DIR=${BENCH_DIR:-$(mktemp -d /var/tmp/cairn-block-bench-XXXXXX)}
cleanup() { "$BIN/cairn" down --dir "$DIR/cluster" >/dev/null 2>&1 || true; rm -rf "$DIR"; }
trap cleanup EXIT
say() { echo "== $*" >&2; }
command -v fio >/dev/null || { echo "fio is missing: run scripts/install-deps.sh" >&2; exit 1; }

# fio_job NAME TARGET_OPTS... -> "MB/s IOPS p99_ms" of the job's main direction
fio_job() {
  local name=$1; shift
  fio --output-format=json --name="$name" "$@" >"$DIR/$name.json" 2>"$DIR/$name.err" ||
    { echo "fio $name failed: $(cat "$DIR/$name.err")" >&2; exit 1; }
  python3 - "$DIR/$name.json" <<'PY'
import json, sys
t = open(sys.argv[1]).read()
j = json.loads(t[t.index("{"):])["jobs"][0]  # the nbd engine prints a line first
d = j["write"] if j["write"]["io_bytes"] > 0 else j["read"]
p99 = d.get("clat_ns", {}).get("percentile", {}).get("99.000000", 0) / 1e6
print(f'{d["bw_bytes"] / 1e6:.1f} {d["iops"]:.0f} {p99:.2f}')
PY
}

# The burst (which also fills the 1 GiB region every later job uses, so
# reads read data, not holes), then the four jobs; prints "job MB/s IOPS p99".
run_suite() {
  local label=$1; shift
  say "$label: checkpoint burst, 1 GiB sequential write + fsync"
  local t0 t1
  t0=$(date +%s.%N)
  fio --name="$label-burst" "$@" --rw=write --bs=4m --iodepth=16 --size=1g --end_fsync=1 \
    >"$DIR/$label-burst.out" 2>&1 || { echo "burst failed: $(cat "$DIR/$label-burst.out")" >&2; exit 1; }
  t1=$(date +%s.%N)
  echo "burst $(python3 -c "print(f'{$t1 - $t0:.2f}')")"
  local common=("$@" --size=1g --time_based=1 --runtime="$SECS" --ramp_time=1)
  local jobs=("seqwrite --rw=write --bs=1m --iodepth=16" "seqread --rw=read --bs=1m --iodepth=16"
              "randwrite --rw=randwrite --bs=4k --iodepth=32" "randread --rw=randread --bs=4k --iodepth=32")
  for j in "${jobs[@]}"; do
    set -- $j
    local name=$1; shift
    say "$label: $name $*"
    fio_job "$label-$name" "${common[@]}" "$@" >"$DIR/$label-$name.res"
    echo "$name $(cat "$DIR/$label-$name.res")"
  done
}

say "raw: fio on a 4 GiB file in $DIR"
RAW=$(run_suite raw --ioengine=libaio --direct=1 --filename="$DIR/raw.img")
rm -f "$DIR/raw.img"

say "starting a 3-monitor, 3-OSD cluster with an NBD gateway"
"$BIN/cairn" up --dir "$DIR/cluster" >/dev/null
CTL() { "$BIN/cairnctl" -c "$DIR/cluster/cairn.conf" "$@"; }
CTL pool create rbd --size 3 --pg 64 >/dev/null
CTL rbd create rbd/bench --size 4G >/dev/null
URI=$(python3 -c "import json; print(json.load(open('$DIR/cluster/cluster.json'))['nbd']['uri'])")
sleep 2
NBD=$(run_suite nbd --ioengine=nbd --uri="$URI/rbd/bench")

# The NBD protocol ceiling: the same jobs against nbdkit's RAM disk.
KIT=""
if command -v nbdkit >/dev/null; then
  KPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  nbdkit --exit-with-parent -f -i 127.0.0.1 -p "$KPORT" memory 4G >"$DIR/nbdkit.log" 2>&1 &
  KPID=$!
  sleep 1
  KIT=$(run_suite nbdkit --ioengine=nbd --uri="nbd://127.0.0.1:$KPORT")
  kill $KPID 2>/dev/null || true
else
  say "nbdkit is missing: no protocol ceiling (scripts/install-deps.sh installs it)"
fi

python3 - "$RAW" "$NBD" "$KIT" <<'PY'
import sys
def parse(t):
    return {l.split()[0]: l.split()[1:] for l in t.splitlines() if l.strip()}
raw, nbd, kit = parse(sys.argv[1]), parse(sys.argv[2]), parse(sys.argv[3])
print("| workload | raw MB/s | raw IOPS | NBD MB/s | NBD IOPS | NBD p99 ms | NBD / raw | nbdkit memory IOPS | NBD / nbdkit |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
names = {"seqwrite": "1 MiB seq write, qd 16", "seqread": "1 MiB seq read, qd 16",
         "randwrite": "4 KiB rand write, qd 32", "randread": "4 KiB rand read, qd 32"}
for k, label in names.items():
    r, n = raw[k], nbd[k]
    ratio = float(n[1]) / float(r[1]) if float(r[1]) else 0
    kc = kr = "-"
    if k in kit:
        kc = kit[k][1]
        kr = f"{float(n[1]) / float(kit[k][1]):.0%}" if float(kit[k][1]) else "-"
    print(f"| {label} | {r[0]} | {r[1]} | {n[0]} | {n[1]} | {n[2]} | {ratio:.0%} | {kc} | {kr} |")
rb, nb = float(raw["burst"][0]), float(nbd["burst"][0])
kb = f'{float(kit["burst"][0]):.2f} s' if "burst" in kit else "-"
print(f"| checkpoint: 1 GiB write + fsync | {rb:.2f} s | | {nb:.2f} s | | | {rb / nb:.0%} | {kb} | |")
PY
