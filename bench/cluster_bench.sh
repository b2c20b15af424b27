#!/usr/bin/env bash
# Measures the object cluster against this machine's own limits, in one run:
#   1. raw sequential write/read bandwidth of the data directory (direct I/O)
#   2. loopback TCP bandwidth
#   3. `cairnctl bench` through a 3-OSD size-3 pool: 4 MiB writes/reads with
#      16 in flight, 4 KiB writes/reads with 64 in flight
# and prints MB/s, ops/s, latencies and the ratios against (1) and (2), plus
# the daemons' resident memory. Not a test: nothing is asserted.
#
# Usage: bench/cluster_bench.sh [BUILD_DIR] [SECONDS]   (defaults: build 10)
# Environment: BENCH_DIR (default: a temp dir under /var/tmp, removed after).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
SECS=${2:-10}
BIN=$PWD/$BUILD/bin
DIR=${BENCH_DIR:-$(mktemp -d /var/tmp/cairn-bench-XXXXXX)}
cleanup() { "$BIN/cairn" down --dir "$DIR/cluster" >/dev/null 2>&1 || true; rm -rf "$DIR"; }
trap cleanup EXIT
say() { echo "== $*" >&2; }

# Sets RAW_W, RAW_R and LOOP.
source bench/machine_limits.sh  # (we are in the repo root)
measure_machine_limits "$DIR"

say "starting a 3-monitor, 3-OSD cluster"
"$BIN/cairn" up --dir "$DIR/cluster" >/dev/null
CTL() { "$BIN/cairnctl" -c "$DIR/cluster/cairn.conf" "$@"; }
CTL pool create bench --size 3 --pg 64 >/dev/null
sleep 2

run() {  # mode size threads extra... -> JSON summary
  local mode=$1 size=$2 threads=$3; shift 3
  say "cairnctl bench $mode size=$size threads=$threads for ${SECS}s"
  CTL bench "$mode" bench --seconds "$SECS" --size "$size" --threads "$threads" --format json "$@"
}
W4M=$(run write 4M 16 --no-cleanup --prefix big)
R4M=$(run seq 4M 16 --prefix big)
W4K=$(run write 4K 64 --no-cleanup --prefix small)
R4K=$(run rand 4K 64 --prefix small)

RSS=$(for f in "$DIR"/cluster/run/*.pid; do
  n=$(basename "$f" .pid); p=$(cat "$f")
  echo "$n=$(awk '/VmRSS/ {print int($2/1024)}' /proc/"$p"/status 2>/dev/null)MiB"
done | tr '\n' ' ')

python3 - "$RAW_W" "$RAW_R" "$LOOP" "$W4M" "$R4M" "$W4K" "$R4K" "$RSS" <<'EOF'
import json, sys
raw_w, raw_r, loop = map(float, sys.argv[1:4])
w4m, r4m, w4k, r4k = (json.loads(a) for a in sys.argv[4:8])
rss = sys.argv[8]
def row(name, j, target):
    l = j["lat_ms"]
    return (f"| {name} | {j['mb_per_s']:.1f} | {j['iops']:.0f} | {l['p50']:.2f} | {l['p99']:.2f} | {target} |")
print()
print(f"machine: raw disk write {raw_w:.0f} MB/s, raw disk read {raw_r:.0f} MB/s (O_DIRECT), loopback TCP {loop:.0f} MB/s")
print()
print("| workload | MB/s | ops/s | p50 ms | p99 ms | ratio vs target |")
print("| --- | ---: | ---: | ---: | ---: | --- |")
print(row("4 MiB write, 16 in flight", w4m,
          f"{w4m['mb_per_s'] / (raw_w / 3) * 100:.0f}% of raw write/3 (target >= 75%)"))
print(row("4 MiB read, 16 in flight", r4m,
          f"{r4m['mb_per_s'] / raw_r * 100:.0f}% of raw read (target >= 100%)"))
print(row("4 KiB write, 64 in flight", w4k, f"{w4k['iops'] / 3000 * 100:.0f}% of 3,000 ops/s"))
print(row("4 KiB read, 64 in flight", r4k, f"{r4k['iops'] / 15000 * 100:.0f}% of 15,000 ops/s"))
print()
print(f"resident memory after the run: {rss}")
EOF
