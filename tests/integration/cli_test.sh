#!/usr/bin/env bash
# The user-facing contract of `cairn` and `cairnctl`, driven exactly as the
# README shows: exit codes, output shapes, restart with data kept.
# Usage: cli_test.sh BIN_DIR
set -euo pipefail
BIN=${1:?usage: cli_test.sh BIN_DIR}
DIR=$(mktemp -d /tmp/cairn-cli-XXXXXX)
FAILED=0
cleanup() {
  "$BIN/cairn" down --dir "$DIR" >/dev/null 2>&1 || true
  # A sanitizer build's findings in a daemon only show in its log.
  if grep -E "Sanitizer:|: runtime error: " "$DIR"/log/*.log; then
    echo "FAIL: sanitizer reports in daemon logs"
    FAILED=1
  fi
  if [ "$FAILED" = 0 ]; then rm -rf "$DIR"; else echo "kept $DIR for inspection"; exit 1; fi
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; FAILED=1; exit 1; }
ctl() { "$BIN/cairnctl" -c "$DIR/cairn.conf" "$@"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

"$BIN/cairn" up --dir "$DIR" >/dev/null || fail "cairn up"
[ -f "$DIR/cairn.conf" ] || fail "no cairn.conf"
python3 - "$DIR/cluster.json" <<'EOF' || fail "cluster.json shape"
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["mons"]) == 3 and len(d["osds"]) == 3, d
for x in d["mons"] + d["osds"]:
    assert x["addr"] and x["http"], x
EOF

# Every daemon serves /metrics and /healthz.
for http in $(python3 -c "import json; d=json.load(open('$DIR/cluster.json')); print(' '.join(x['http'] for x in d['mons']+d['osds']))"); do
  curl -sf "http://$http/healthz" >/dev/null || fail "healthz on $http"
  curl -sf "http://$http/metrics" | grep -q '^process_resident_memory_bytes' || fail "metrics on $http"
done

ctl pool create data --size 3 --pg 16 >/dev/null || fail "pool create"
# Gateways started by `cairn up` (S3, NBD) may have created their own pools.
ctl pool ls --format json | json '"data" in [p["name"] for p in d]' | grep -qx True || fail "pool ls"
head -c 3000000 /dev/urandom > "$DIR/in.bin"
ctl obj put data blob "$DIR/in.bin" || fail "obj put file"
ctl obj get data blob "$DIR/out.bin" || fail "obj get file"
cmp "$DIR/in.bin" "$DIR/out.bin" || fail "content differs"
echo -n "from stdin" | ctl obj put data small - || fail "obj put stdin"
[ "$(ctl obj get data small -)" = "from stdin" ] || fail "obj get stdout"
ctl obj stat data blob --format json | json 'd["size"]' | grep -qx 3000000 || fail "obj stat size"
ctl obj setxattr data small user.k v1 || fail "setxattr"
[ "$(ctl obj getxattr data small user.k)" = "v1" ] || fail "getxattr"
ctl obj omap-set data small a 1 b 2 || fail "omap-set"
ctl obj omap-ls data small | grep -q '^b' || fail "omap-ls"
ctl obj ls data | sort | tr '\n' ' ' | grep -qx 'blob small ' || fail "obj ls"

loc=$(ctl obj locate data blob --format json) || fail "obj locate"
echo "$loc" | json 'len(d["acting"]) == 3 and d["acting"] == d["up"] and "." in d["pg"]' | grep -qx True \
  || fail "locate shape: $loc"

# Status JSON shape and health once PGs settle.
for _ in $(seq 1 60); do
  st=$(ctl status --format json) || fail "status"
  h=$(echo "$st" | json 'd["health"]["status"]')
  [ "$h" = HEALTH_OK ] && break
  sleep 0.5
done
[ "$h" = HEALTH_OK ] || fail "health is $h: $st"
total_pgs=$(ctl pool ls --format json | json 'sum(p["pg_num"] for p in d)')
echo "$st" | json 'd["pgs_by_state"]["active+clean"]' | grep -qx "$total_pgs" || fail "pgs_by_state: $st"

# Bad input: clear message, non-zero exit.
if ctl obj get nopool x - 2>"$DIR/err"; then fail "get from a missing pool succeeded"; fi
grep -q nopool "$DIR/err" || fail "error does not name the pool: $(cat "$DIR/err")"
if ctl obj stat data missing 2>/dev/null; then fail "stat of a missing object succeeded"; fi
if ctl pool create bad/name --size 3 --pg 8 2>/dev/null; then fail "bad pool name accepted"; fi
if ctl pool create p2 --size 0 --pg 8 2>/dev/null; then fail "size 0 accepted"; fi
if ctl bogus-command 2>/dev/null; then fail "unknown command accepted"; fi

# osd out: placement changes, status says so.
ctl osd out 2 >/dev/null || fail "osd out"
ctl osd ls --format json | json '[o for o in d if o["id"] == 2][0]["in"]' | grep -qx False || fail "osd 2 still in"
ctl osd in 2 >/dev/null || fail "osd in"

# Restart: `cairn down` then `cairn up` on the same dir keeps the data.
"$BIN/cairn" down --dir "$DIR" >/dev/null || fail "cairn down"
if pgrep -f "$DIR/" >/dev/null; then fail "daemons left running after down"; fi
"$BIN/cairn" up --dir "$DIR" >/dev/null || fail "cairn up (restart)"
ctl obj get data blob "$DIR/out2.bin" || fail "get after restart"
cmp "$DIR/in.bin" "$DIR/out2.bin" || fail "content differs after restart"
echo "cli_test: all checks passed"
