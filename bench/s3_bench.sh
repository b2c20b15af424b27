#!/usr/bin/env bash
# The S3 gateway against the object layer under it and this machine's own
# limits, in one run:
#   1. raw sequential disk write/read (O_DIRECT) and loopback TCP bandwidth
#   2. a 1-monitor, 3-OSD cluster (`cairn up`, which starts cairn-s3)
#   3. the object layer directly (`cairnctl bench` on the gateway's pools):
#      4 MiB writes/reads with 8 in flight (a 16 MiB S3 object is 4 such
#      stripes), 4 KiB writes/reads with 32 in flight
#   4. the same work through S3 with the shared, system-neutral
#      ../shared/bench/s3bench.py (boto3): 4 KiB x 5,000 objects with 32
#      threads, 16 MiB x 64 objects with 8 threads (PUT, GET, LIST, DELETE)
#   5. `aws s3 cp` of a 256 MiB file up and down (if awscli is installed)
# and prints a table of S3 figures with their ratio to the object layer, to
# the machine's limits and to the targets of issue 4. Not a test: nothing is
# asserted. The load generator runs on the same 2 cores as the cluster.
#
# Usage: bench/s3_bench.sh [BUILD_DIR] [SECONDS]   (defaults: build 10)
# Environment: BENCH_DIR (default: a temp dir under /var/tmp, removed after),
#              S3BENCH (default: ../shared/bench/s3bench.py).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
SECS=${2:-10}
BIN=$PWD/$BUILD/bin
S3BENCH=${S3BENCH:-$PWD/../shared/bench/s3bench.py}
[ -f "$S3BENCH" ] || { echo "s3bench.py not found at $S3BENCH (set S3BENCH)" >&2; exit 1; }
python3 -c 'import boto3' || { echo "boto3 is not installed" >&2; exit 1; }
DIR=${BENCH_DIR:-$(mktemp -d /var/tmp/cairn-s3bench-XXXXXX)}
cleanup() { "$BIN/cairn" down --dir "$DIR/cluster" >/dev/null 2>&1 || true; rm -rf "$DIR"; }
trap cleanup EXIT
say() { echo "== $*" >&2; }
. bench/machine_limits.sh
measure_machine_limits "$DIR"

say "starting a 1-monitor, 3-OSD cluster with its S3 gateway"
"$BIN/cairn" up --dir "$DIR/cluster" --mons 1 --osds 3 >/dev/null
eval "$(python3 - "$DIR/cluster/cluster.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["s3"]
print(f'EP={d["endpoint"]} AK={d["access_key"]} SK={d["secret_key"]}')
PY
)"
CTL() { "$BIN/cairnctl" -c "$DIR/cluster/cairn.conf" "$@"; }
# The gateway creates its pools at start; wait until they are in the map.
for _ in $(seq 100); do CTL pool ls 2>/dev/null | grep -q s3-data && break; sleep 0.2; done
sleep 2

run() {  # mode pool size threads extra... -> JSON summary
  local mode=$1 pool=$2 size=$3 threads=$4; shift 4
  say "object layer: cairnctl bench $mode $pool size=$size threads=$threads for ${SECS}s"
  CTL bench "$mode" "$pool" --seconds "$SECS" --size "$size" --threads "$threads" --format json "$@"
}
OW4M=$(run write s3-data 4M 8 --no-cleanup --prefix big)
OR4M=$(run seq s3-data 4M 8 --prefix big)
OW4K=$(run write s3-meta 4K 32 --no-cleanup --prefix small)
OR4K=$(run rand s3-meta 4K 32 --prefix small)

TSV=$DIR/s3bench.tsv
s3b() {  # size count threads
  say "S3: s3bench.py size=$1 count=$2 threads=$3"
  python3 "$S3BENCH" --endpoint "$EP" --access "$AK" --secret "$SK" --bucket "bench-$(echo "$1" | tr A-Z a-z)" \
    --size "$1" --count "$2" --threads "$3" --label "$1" --tsv "$TSV" >&2
}
s3b 4K 5000 32
s3b 16M 64 8

CP_UP=0 CP_DOWN=0
if command -v aws >/dev/null; then
  say "aws s3 cp of 256 MiB up and down"
  export AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK AWS_DEFAULT_REGION=us-east-1
  export AWS_CONFIG_FILE=$DIR/aws-config AWS_SHARED_CREDENTIALS_FILE=$DIR/aws-creds
  printf '[default]\ns3 =\n    signature_version = s3v4\n' > "$AWS_CONFIG_FILE"
  head -c 256M /dev/urandom > "$DIR/cp.bin"
  aws --endpoint-url "$EP" s3 mb s3://cp-bench >/dev/null
  t0=$(date +%s.%N)
  aws --endpoint-url "$EP" s3 cp "$DIR/cp.bin" s3://cp-bench/cp.bin >/dev/null
  t1=$(date +%s.%N)
  aws --endpoint-url "$EP" s3 cp s3://cp-bench/cp.bin "$DIR/cp.out" >/dev/null
  t2=$(date +%s.%N)
  cmp -s "$DIR/cp.bin" "$DIR/cp.out" || say "WARNING: downloaded file differs"
  CP_UP=$(python3 -c "print(f'{256 * 1.048576 / ($t1 - $t0):.0f}')")
  CP_DOWN=$(python3 -c "print(f'{256 * 1.048576 / ($t2 - $t1):.0f}')")
  rm -f "$DIR/cp.bin" "$DIR/cp.out"
fi

RSS=$(for f in "$DIR"/cluster/run/*.pid; do
  n=$(basename "$f" .pid); p=$(cat "$f")
  echo "$n=$(awk '/VmRSS/ {print int($2/1024)}' /proc/"$p"/status 2>/dev/null)MiB"
done | tr '\n' ' ')

python3 - "$RAW_W" "$RAW_R" "$LOOP" "$OW4M" "$OR4M" "$OW4K" "$OR4K" "$TSV" "$CP_UP" "$CP_DOWN" "$RSS" <<'PY'
import json, sys
raw_w, raw_r, loop = map(float, sys.argv[1:4])
ow4m, or4m, ow4k, or4k = (json.loads(a) for a in sys.argv[4:8])
s3 = {}
for line in open(sys.argv[8]):
    label, phase, ops, secs, ops_s, mib_s, p50, p99, errs = line.rstrip("\n").split("\t")
    s3[(label, phase)] = dict(ops=int(ops), ops_s=float(ops_s), mib_s=float(mib_s),
                              p50=float(p50), p99=float(p99), errs=int(errs))
cp_up, cp_down, rss = float(sys.argv[9]), float(sys.argv[10]), sys.argv[11]
MB = 1.048576  # MiB/s -> MB/s
print()
print(f"machine: raw disk write {raw_w:.0f} MB/s, raw disk read {raw_r:.0f} MB/s (O_DIRECT), "
      f"loopback TCP {loop:.0f} MB/s")
print()
print("object layer (cairnctl bench on the gateway's pools):")
for name, j in (("4 MiB write, 8 in flight", ow4m), ("4 MiB read, 8 in flight", or4m),
                ("4 KiB write, 32 in flight", ow4k), ("4 KiB read, 32 in flight", or4k)):
    print(f"  {name}: {j['mb_per_s'] * MB:.1f} MB/s, {j['iops']:.0f} ops/s, "
          f"p50 {j['lat_ms']['p50']:.2f} ms, p99 {j['lat_ms']['p99']:.2f} ms")
print()
print("| S3 workload (s3bench.py) | MB/s | ops/s | p50 ms | p99 ms | errors | vs object layer | vs machine / target |")
print("| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |")
def row(label, phase, name, base, machine):
    r = s3[(label, phase)]
    vs = "" if base is None else f"{base(r) * 100:.0f}%"
    print(f"| {name} | {r['mib_s'] * MB:.1f} | {r['ops_s']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | "
          f"{r['errs']} | {vs} | {machine(r)} |")
row("16M", "PUT", "16 MiB PUT, 8 threads", lambda r: r["mib_s"] / ow4m["mb_per_s"],
    lambda r: f"{r['mib_s'] * MB / (raw_w / 3) * 100:.0f}% of raw write/3 (target: >= 70% of object layer)")
row("16M", "GET", "16 MiB GET, 8 threads", lambda r: r["mib_s"] / or4m["mb_per_s"],
    lambda r: f"{r['mib_s'] * MB / min(raw_r, loop) * 100:.0f}% of min(raw read, loopback) (target: >= 70% of object layer)")
row("4K", "PUT", "4 KiB PUT, 32 threads", lambda r: r["ops_s"] / ow4k["iops"],
    lambda r: f"{r['ops_s'] / 1500 * 100:.0f}% of 1,500 ops/s")
row("4K", "GET", "4 KiB GET, 32 threads", lambda r: r["ops_s"] / or4k["iops"],
    lambda r: f"{r['ops_s'] / 4000 * 100:.0f}% of 4,000 ops/s")
row("4K", "LIST", "LIST 5,000 keys (1,000/page)", None,
    lambda r: f"{r['p50']:.0f} ms per 1,000-key page (target < 50 ms)")
row("4K", "DELETE", "4 KiB DELETE, 32 threads", None, lambda r: "")
row("16M", "DELETE", "16 MiB DELETE, 8 threads", None, lambda r: "")
if cp_up:
    print()
    print(f"aws s3 cp 256 MiB: up {cp_up:.0f} MB/s, down {cp_down:.0f} MB/s")
print()
print(f"resident memory after the run: {rss}")
PY
