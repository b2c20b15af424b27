#!/usr/bin/env bash
# Measures self-healing against this machine's own limits, in one run:
#   1. raw sequential write/read bandwidth of the data directory (direct I/O)
#   2. a 5-OSD cluster, size-3 pool filled with DATA_MIB of 4 MiB objects
#   3. client load with no recovery: random 4 MiB reads, then 4 MiB writes
#   4. OSD loss, no client load: kill -9 an OSD, mark it out, time until every
#      PG is active+clean; recovery rate = the lost OSD's bytes / that time
#   5. OSD loss under the same client load as (3): client MB/s during recovery
#      as a ratio of (3), and time to active+clean
# Targets (issue 3): recovery >= 40% of raw disk write bandwidth; client
# throughput during recovery >= 60% of the same load without recovery.
# Not a test: nothing is asserted.
#
# Usage: bench/recovery_bench.sh [BUILD_DIR] [DATA_MIB] [SECONDS]
#        (defaults: build 4096 10; SECONDS is each client-load phase)
# Environment: BENCH_DIR (default: a temp dir under /var/tmp, removed after).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
DATA_MIB=${2:-4096}
SECS=${3:-10}
BIN=$PWD/$BUILD/bin
DIR=${BENCH_DIR:-$(mktemp -d /var/tmp/cairn-bench-XXXXXX)}
cleanup() { "$BIN/cairn" down --dir "$DIR/cluster" >/dev/null 2>&1 || true; rm -rf "$DIR"; }
trap cleanup EXIT
say() { echo "== $*" >&2; }
CTL() { "$BIN/cairnctl" -c "$DIR/cluster/cairn.conf" "$@"; }

# Sets RAW_W, RAW_R and LOOP.
source bench/machine_limits.sh  # (we are in the repo root)
measure_machine_limits "$DIR"

say "starting a 3-monitor, 5-OSD cluster (no gateways)"
"$BIN/cairn" up --dir "$DIR/cluster" --osds 5 --no-gateways >/dev/null
CTL pool create bench --size 3 --pg 64 >/dev/null

now() { date +%s.%N; }
# Seconds until every PG is active+clean, showing `status`'s recovery line.
wait_clean() {
  local t0 last=0
  t0=$(now)
  while true; do
    local j
    j=$(CTL status --format json 2>/dev/null || echo '{}')
    if python3 -c 'import json,sys; j=json.loads(sys.argv[1]); s=j.get("pgs_by_state",{})
sys.exit(0 if j.get("pgs",0)>0 and list(s)==["active+clean"] else 1)' "$j"; then
      break
    fi
    local t
    t=$(now)
    if python3 -c "import sys; sys.exit(0 if $t - $last >= 2 else 1)"; then
      last=$t
      python3 -c 'import json,sys; j=json.loads(sys.argv[1]); r=j.get("recovery")
s=", ".join(f"{n} {k}" for k, n in j.get("pgs_by_state",{}).items())
print("   ", s, "|", "recovering %.0f MB/s, %d objects left" % (r["bytes_per_sec"]/1e6, r["objects_left"]) if r else "")' "$j" >&2 || true
    fi
    sleep 0.5
  done
  python3 -c "print(f'{$(now) - $t0:.1f}')"
}
# Bytes held by osd.$1 (the sum of its PGs' sizes): what its loss re-replicates.
osd_bytes() {
  CTL pg ls --format json | python3 -c 'import json,sys; o=int(sys.argv[1])
print(sum(r.get("bytes",0) for r in json.load(sys.stdin) if o in r.get("up",[])))' "$1"
}
lose_osd() {
  local id=$1
  kill -9 "$(cat "$DIR/cluster/run/osd.$id.pid")"
  CTL osd down "$id" >/dev/null
  CTL osd out "$id" >/dev/null
}
load() {  # phase-name -> "read_MBps write_MBps"
  say "client load ($1): random 4 MiB reads, 8 in flight, ${SECS}s; then 4 MiB writes, 8 in flight, ${SECS}s"
  local r w
  r=$(CTL bench rand bench --prefix fill --threads 8 --seconds "$SECS" --format json)
  w=$(CTL bench write bench --prefix "load-$1" --size 4M --threads 8 --seconds "$SECS" --format json)
  python3 -c 'import json,sys; print(json.loads(sys.argv[1])["mb_per_s"], json.loads(sys.argv[2])["mb_per_s"])' "$r" "$w"
}

OBJECTS=$((DATA_MIB / 4))
say "filling the pool: $OBJECTS objects of 4 MiB ($DATA_MIB MiB, 3 copies)"
FILL=$(CTL bench write bench --prefix fill --size 4M --threads 16 --max-objects "$OBJECTS" \
  --seconds 100000 --no-cleanup --format json)
wait_clean >/dev/null

read -r BASE_R BASE_W < <(load baseline)

say "losing osd.4 with no client load"
LOST_A=$(osd_bytes 4)
lose_osd 4
T_A=$(wait_clean)
say "active+clean after ${T_A}s"

say "losing osd.3 under client load"
LOST_B=$(osd_bytes 3)
T0=$(now)
lose_osd 3
read -r DUR_R DUR_W < <(load recovery)
T_LOAD=$(python3 -c "print(f'{$(now) - $T0:.1f}')")
T_B_REST=$(wait_clean)
T_B=$(python3 -c "print(f'{$T_LOAD + $T_B_REST:.1f}')")
say "active+clean after ${T_B}s"

python3 - "$RAW_W" "$RAW_R" "$LOOP" "$FILL" "$LOST_A" "$T_A" "$LOST_B" "$T_B" "$T_LOAD" \
  "$BASE_R" "$BASE_W" "$DUR_R" "$DUR_W" "$DATA_MIB" <<'EOF'
import json, sys
raw_w, raw_r, loop = map(float, sys.argv[1:4])
fill = json.loads(sys.argv[4])
lost_a, t_a, lost_b, t_b, t_load = (float(x) for x in sys.argv[5:10])
base_r, base_w, dur_r, dur_w = (float(x) for x in sys.argv[10:14])
data_mib = int(sys.argv[14])
rate_a = lost_a / t_a / 1e6
rate_b = lost_b / t_b / 1e6
print()
print(f"machine: raw disk write {raw_w:.0f} MB/s, raw disk read {raw_r:.0f} MB/s (O_DIRECT), loopback TCP {loop:.0f} MB/s")
print(f"data: {data_mib} MiB in 4 MiB objects, size-3 pool, 5 OSDs (fill at {fill['mb_per_s']:.0f} MB/s)")
print()
print("| measure | value | ratio | target |")
print("| --- | ---: | ---: | --- |")
print(f"| OSD lost, idle: {lost_a/1e9:.2f} GB re-replicated, time to active+clean | {t_a:.1f} s | | |")
print(f"| recovery rate, idle | {rate_a:.0f} MB/s | {rate_a/raw_w:.2f} of raw write | >= 0.40 |")
print(f"| OSD lost under load: {lost_b/1e9:.2f} GB, time to active+clean | {t_b:.1f} s | | |")
print(f"| recovery rate under load | {rate_b:.0f} MB/s | {rate_b/raw_w:.2f} of raw write | |")
print(f"| 4 MiB random reads, 8 in flight: no recovery / during | {base_r:.0f} / {dur_r:.0f} MB/s | {dur_r/base_r:.2f} | >= 0.60 |")
print(f"| 4 MiB writes, 8 in flight: no recovery / during | {base_w:.0f} / {dur_w:.0f} MB/s | {dur_w/base_w:.2f} | >= 0.60 |")
if t_load > t_b - 0.5:
    print("\nnote: recovery under load ended before the load phases did; the 'during' figures include some time without recovery")
EOF
