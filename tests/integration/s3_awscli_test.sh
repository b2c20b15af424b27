#!/usr/bin/env bash
# The S3 gateway through the clients people use: awscli (high-level s3 and
# s3api), presigned URLs with curl, s3cmd, and cairnctl's user commands.
# Starts its own cluster with `cairn up` (which starts cairn-s3).
# Usage: s3_awscli_test.sh BIN_DIR
set -euo pipefail
BIN=${1:?usage: s3_awscli_test.sh BIN_DIR}
DIR=$(mktemp -d /tmp/cairn-s3cli-XXXXXX)
FAILED=0
cleanup() {
  "$BIN/cairn" down --dir "$DIR" >/dev/null 2>&1 || true
  if [ "$FAILED" = 0 ]; then rm -rf "$DIR"; else echo "kept $DIR for inspection"; fi
}
trap 'FAILED=1' ERR
trap cleanup EXIT
fail() { echo "FAIL: $*"; FAILED=1; exit 1; }
step() { echo "--- $*"; }
command -v aws >/dev/null || fail "awscli is not installed (scripts/install-deps.sh)"

"$BIN/cairn" up --dir "$DIR" --mons 1 --osds 3 >/dev/null || fail "cairn up"
[ -x "$BIN/cairn-s3" ] || fail "cairn-s3 not built"
eval "$(python3 - "$DIR/cluster.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["s3"]
print(f'EP={d["endpoint"]} AK={d["access_key"]} SK={d["secret_key"]}')
PY
)"
export AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=$DIR/aws-config AWS_SHARED_CREDENTIALS_FILE=$DIR/aws-creds
# awscli v1 presigns with SigV2 unless told otherwise; the gateway speaks SigV4 only.
printf '[default]\ns3 =\n    signature_version = s3v4\n' > "$AWS_CONFIG_FILE"
AWS_BIN=$(command -v aws)
aws() { timeout 300 "$AWS_BIN" --endpoint-url "$EP" "$@"; }
ctl() { "$BIN/cairnctl" -c "$DIR/cairn.conf" "$@"; }
cd "$DIR"

step "health and metrics"
HTTP=$(python3 -c "import json; print([g for g in json.load(open('$DIR/cluster.json'))['gateways'] if g['type']=='s3'][0]['http'])")
curl -sf "http://$HTTP/healthz" >/dev/null || fail "s3 healthz"

step "mb / ls / cp / rm / rb"
aws s3 mb s3://alpha >/dev/null || fail "mb"
aws s3 ls | grep -q ' alpha$' || fail "ls buckets"
echo "hello cairn" > small.txt
aws s3 cp small.txt s3://alpha/dir/small.txt >/dev/null || fail "cp up"
[ "$(aws s3 cp s3://alpha/dir/small.txt -)" = "hello cairn" ] || fail "cp down"
aws s3 ls s3://alpha/ | grep -q 'PRE dir/' || fail "ls prefixes"
aws s3 ls s3://alpha --recursive | grep -q 'dir/small.txt' || fail "ls recursive"

step "200 MiB multipart upload and download"
head -c $((200 << 20)) /dev/urandom > big.bin
t0=$(date +%s.%N)
aws s3 cp big.bin s3://alpha/big.bin >/dev/null || fail "cp 200 MiB up"
t1=$(date +%s.%N)
aws s3 cp s3://alpha/big.bin big.out >/dev/null || fail "cp 200 MiB down"
t2=$(date +%s.%N)
cmp big.bin big.out || fail "200 MiB object differs"
python3 -c "print(f'    up {200/($t1-$t0):.0f} MiB/s, down {200/($t2-$t1):.0f} MiB/s')"
etag=$(aws s3api head-object --bucket alpha --key big.bin --query ETag --output text)
[[ "$etag" == *-25\" ]] || [[ "$etag" == *-* ]] || fail "multipart ETag not '<md5>-N': $etag"
rm -f big.out

step "sync"
mkdir -p tree/a/b && for i in 1 2 3; do echo "f$i" > tree/a/b/f$i; done; echo top > tree/top
aws s3 sync tree s3://alpha/tree >/dev/null || fail "sync up"
[ "$(aws s3 ls s3://alpha/tree --recursive | wc -l)" = 4 ] || fail "sync count"
rm -rf tree2 && aws s3 sync s3://alpha/tree tree2 >/dev/null || fail "sync down"
diff -r tree tree2 || fail "sync differs"

step "s3api: metadata, range, conditional, copy, listing, delete-objects"
aws s3api put-object --bucket alpha --key meta.txt --body small.txt --content-type text/x-demo \
  --metadata color=blue >/dev/null || fail "put-object"
out=$(aws s3api head-object --bucket alpha --key meta.txt)
echo "$out" | grep -q '"color": "blue"' || fail "metadata: $out"
echo "$out" | grep -q 'text/x-demo' || fail "content type: $out"
aws s3api get-object --bucket alpha --key meta.txt --range bytes=0-4 r.out >/dev/null || fail "range get"
[ "$(cat r.out)" = "hello" ] || fail "range content: $(cat r.out)"
if aws s3api get-object --bucket alpha --key meta.txt --if-match '"nope"' x.out 2>err.txt; then fail "if-match passed"; fi
grep -q PreconditionFailed err.txt || fail "if-match error: $(cat err.txt)"
aws s3api copy-object --bucket alpha --key copy.txt --copy-source alpha/meta.txt >/dev/null || fail "copy-object"
aws s3api head-object --bucket alpha --key copy.txt | grep -q '"color": "blue"' || fail "copy kept metadata"
n=$(aws s3api list-objects-v2 --bucket alpha --delimiter / --query 'length(CommonPrefixes)' --output text)
[ "$n" = 2 ] || fail "common prefixes: $n"
aws s3api delete-objects --bucket alpha --delete '{"Objects":[{"Key":"copy.txt"},{"Key":"meta.txt"}]}' >/dev/null \
  || fail "delete-objects"
if aws s3api head-object --bucket alpha --key copy.txt 2>/dev/null; then fail "deleted object still there"; fi
if aws s3api get-object --bucket alpha --key nope x.out 2>err.txt; then fail "missing key served"; fi
grep -q NoSuchKey err.txt || fail "NoSuchKey: $(cat err.txt)"
loc=$(aws s3api get-bucket-location --bucket alpha --output text) || fail "get-bucket-location"

step "presigned URL with curl"
url=$(aws s3 presign s3://alpha/dir/small.txt --expires-in 300)
[ "$(curl -sf "$url")" = "hello cairn" ] || fail "presigned GET"
code=$(curl -s -o /dev/null -w '%{http_code}' "${url/X-Amz-Signature=/X-Amz-Signature=0}")
[ "$code" = 403 ] || fail "tampered presigned URL gave $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "$EP/alpha/dir/small.txt")
[ "$code" = 403 ] || fail "anonymous GET of a private object gave $code"

step "cairnctl s3 users"
u=$(ctl s3 user create bob --format json) || fail "user create"
BAK=$(echo "$u" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_key"])')
BSK=$(echo "$u" | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret_key"])')
ctl s3 user ls | grep -q '^bob ' || fail "user ls"
if ctl s3 user create bob 2>/dev/null; then fail "duplicate user accepted"; fi
if AWS_ACCESS_KEY_ID=$BAK AWS_SECRET_ACCESS_KEY=$BSK aws s3 ls s3://alpha 2>err.txt; then
  fail "bob listed admin's bucket"
fi
grep -q AccessDenied err.txt || fail "AccessDenied: $(cat err.txt)"
AWS_ACCESS_KEY_ID=$BAK AWS_SECRET_ACCESS_KEY=$BSK aws s3 mb s3://bobs >/dev/null || fail "bob mb"
if AWS_ACCESS_KEY_ID=$BAK AWS_SECRET_ACCESS_KEY=wrong aws s3 ls 2>err.txt; then fail "bad secret accepted"; fi
grep -q SignatureDoesNotMatch err.txt || fail "SignatureDoesNotMatch: $(cat err.txt)"
ctl s3 user key-rm bob "$BAK" >/dev/null || fail "key-rm"
sleep 6  # the gateway caches keys for 5 s
if AWS_ACCESS_KEY_ID=$BAK AWS_SECRET_ACCESS_KEY=$BSK aws s3 ls 2>err.txt; then fail "removed key accepted"; fi
grep -q InvalidAccessKeyId err.txt || fail "InvalidAccessKeyId: $(cat err.txt)"

step "public-read bucket"
aws s3api create-bucket --bucket pub --acl public-read >/dev/null || fail "create public bucket"
aws s3 cp small.txt s3://pub/open.txt >/dev/null
[ "$(curl -sf "$EP/pub/open.txt")" = "hello cairn" ] || fail "anonymous GET on public-read bucket"
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data x "$EP/pub/anon.txt")
[ "$code" = 403 ] || fail "anonymous PUT gave $code"

if command -v s3cmd >/dev/null; then
  step "s3cmd"
  host=${EP#http://}
  cat > s3cfg <<CFG
[default]
access_key = $AK
secret_key = $SK
host_base = $host
host_bucket = $host
use_https = False
signature_v2 = False
CFG
  s3c() { timeout 120 s3cmd -c "$DIR/s3cfg" "$@"; }
  s3c mb s3://gamma >/dev/null || fail "s3cmd mb"
  head -c 3000000 /dev/urandom > mid.bin
  s3c put mid.bin s3://gamma/mid.bin >/dev/null || fail "s3cmd put"
  s3c ls s3://gamma | grep -q mid.bin || fail "s3cmd ls"
  s3c get s3://gamma/mid.bin mid.out >/dev/null || fail "s3cmd get"
  cmp mid.bin mid.out || fail "s3cmd content differs"
  s3c del s3://gamma/mid.bin >/dev/null || fail "s3cmd del"
  s3c rb s3://gamma >/dev/null || fail "s3cmd rb"
fi

step "rm / rb"
if aws s3 rb s3://alpha 2>err.txt; then fail "non-empty bucket removed"; fi
grep -q BucketNotEmpty err.txt || fail "BucketNotEmpty: $(cat err.txt)"
aws s3 rm s3://alpha --recursive >/dev/null || fail "rm recursive"
aws s3 rb s3://alpha >/dev/null || fail "rb"
if aws s3 ls s3://alpha 2>err.txt; then fail "removed bucket listed"; fi
grep -q NoSuchBucket err.txt || fail "NoSuchBucket: $(cat err.txt)"
curl -sf "http://$HTTP/metrics" | grep -q 'cairn_s3_requests_total{op="PutObject"}' || fail "metrics"
echo "s3_awscli_test: all checks passed"
