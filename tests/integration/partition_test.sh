#!/usr/bin/env bash
# Network partitions, with every daemon on its own "host": a network namespace
# wired to a bridge that lives in a namespace of its own. Partitions are nft
# rules on that bridge that silently drop packets between two groups of
# hosts, as a broken switch would (nothing is added to the root namespace).
#
#   (a) an OSD (primary of some PGs) and a client lose the monitors but still
#       reach every OSD: the monitors mark the OSD down (missed beacons), its
#       PGs re-peer without it, the isolated OSD acks nothing, and every
#       acknowledged write survives on every replica after healing;
#   (b) the monitor leader is cut off from everyone: the other two elect a
#       leader and commit map changes, the old leader commits nothing, client
#       I/O continues, and after healing all three serve the same map;
#   (c) no monitor can reach anyone: reads and writes go on with the last
#       map, nothing is marked down, map changes wait;
#   (d) an OSD reaches the monitors and clients but none of its peers: its
#       peers' failure reports mark it down, it stays down (no flapping)
#       while cut off, I/O continues, and it comes back after healing.
#
# Usage: partition_test.sh BIN_DIR. Needs root, `ip netns` and nft; exits 77
# (ctest: skipped) without them. CAIRN_TEST_KEEP=1 keeps the logs;
# CAIRN_PARTITION_SCENARIOS="a d" runs only some scenarios.
set -euo pipefail
BIN=${1:?usage: partition_test.sh BIN_DIR}
skip() { echo "SKIP: $*"; FAILED=0; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
command -v ip >/dev/null || skip "no ip (iproute2)"
command -v nft >/dev/null || skip "no nft (nftables)"

P=cpt$$  # namespace name prefix: unique per run
NET=$P-net
MONS=(mon0 mon1 mon2)
OSDS=(osd0 osd1 osd2 osd3)
declare -A IP=([mon0]=10.231.0.11 [mon1]=10.231.0.12 [mon2]=10.231.0.13
               [osd0]=10.231.0.21 [osd1]=10.231.0.22 [osd2]=10.231.0.23 [osd3]=10.231.0.24
               [cli]=10.231.0.31 [cli2]=10.231.0.32)
HOSTS=("${MONS[@]}" "${OSDS[@]}" cli cli2)
DIR=$(mktemp -d /tmp/cairn-partition-XXXXXX)
mkdir -p "$DIR/log"
FAILED=1  # until the end is reached (or the test is skipped)
declare -A PID=()  # daemon / writer name -> pid

stop_pid() {  # stop_pid PID: SIGTERM, then SIGKILL after 10 s
  local pid=$1
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}
cleanup() {
  set +e
  ip netns exec "$NET" nft flush ruleset 2>/dev/null  # let OSDs tell the monitors they stop
  local name stoppers=()
  for name in "${!PID[@]}"; do [[ $name == w-* ]] && stop_pid "${PID[$name]}"; done
  for name in "${!PID[@]}"; do
    if [[ $name == osd* ]]; then stop_pid "${PID[$name]}" & stoppers+=($!); fi
  done
  [ ${#stoppers[@]} = 0 ] || wait "${stoppers[@]}"
  for name in "${!PID[@]}"; do [[ $name == mon* ]] && stop_pid "${PID[$name]}"; done
  for h in "${HOSTS[@]}" net; do ip netns del "$P-$h" 2>/dev/null; done
  if grep -E "Sanitizer:|: runtime error: " "$DIR"/log/*.log; then
    echo "FAIL: sanitizer reports in daemon logs"
    FAILED=1
  fi
  if [ "$FAILED" = 0 ] && [ -z "${CAIRN_TEST_KEEP:-}" ]; then rm -rf "$DIR"; else echo "kept $DIR for inspection"; fi
  [ "$FAILED" = 0 ] || exit 1
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; FAILED=1; exit 1; }
log() { echo "[$(date +%T)] $*"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
on() { local h=$1; shift; ip netns exec "$P-$h" "$@"; }
ctl() { on cli "$BIN/cairnctl" -c "$DIR/cairn.conf" "$@"; }
now_ms() { date +%s%3N; }

# ---- the network: one bridge, one namespace per host ----
ip netns add "$NET" 2>/dev/null || skip "cannot create network namespaces"
on net nft list ruleset >/dev/null 2>&1 || skip "nft does not work in a network namespace"
ip -n "$NET" link add br0 type bridge
ip -n "$NET" link set br0 up
for h in "${HOSTS[@]}"; do
  ip netns add "$P-$h"
  ip -n "$NET" link add "v-$h" type veth peer name eth0 netns "$P-$h"
  ip -n "$NET" link set "v-$h" master br0
  ip -n "$NET" link set "v-$h" up
  ip -n "$P-$h" addr add "${IP[$h]}/24" dev eth0
  ip -n "$P-$h" link set eth0 up
  ip -n "$P-$h" link set lo up
done
on net nft add table bridge partition
on net nft add chain bridge partition cut '{ type filter hook forward priority 0; policy accept; }'

# cut "A B" "C D": drop everything between the two groups of hosts, both
# ways; heal "A B" "C D" lifts that cut, heal with no argument every cut. The
# rule set is replaced in one nft transaction, so other cuts never blink.
CUTS=()
apply_cuts() {
  local c a b
  {
    echo "flush chain bridge partition cut"
    for c in "${CUTS[@]}"; do
      a=$(for h in ${c%|*}; do printf '%s,' "${IP[$h]}"; done)
      b=$(for h in ${c#*|}; do printf '%s,' "${IP[$h]}"; done)
      echo "add rule bridge partition cut ip saddr { ${a%,} } ip daddr { ${b%,} } drop"
      echo "add rule bridge partition cut ip saddr { ${b%,} } ip daddr { ${a%,} } drop"
    done
  } | on net nft -f -
}
cut() { CUTS+=("$1|$2"); apply_cuts; }
heal() {
  local keep=() c
  if [ $# -gt 0 ]; then
    for c in "${CUTS[@]}"; do [ "$c" = "$1|$2" ] || keep+=("$c"); done
  fi
  CUTS=("${keep[@]}")
  apply_cuts
}

# ---- the cluster: daemons started by hand, each in its host's namespace ----
python3 -c "import secrets; print(secrets.token_hex(32))" > "$DIR/keyring"
chmod 600 "$DIR/keyring"
FSID=$(cat /proc/sys/kernel/random/uuid)
PEERS="" MON_ADDRS=""
for i in 0 1 2; do
  PEERS+="$i=${IP[mon$i]}:6789,"
  MON_ADDRS+="${IP[mon$i]}:6789,"
done
PEERS=${PEERS%,} MON_ADDRS=${MON_ADDRS%,}
printf 'fsid = %s\nmon_addrs = %s\nkey_file = %s\n' "$FSID" "$MON_ADDRS" "$DIR/keyring" > "$DIR/cairn.conf"

start_mon() {
  local i=$1
  # `ip netns exec` execs the daemon, so $! is the daemon itself (a function
  # run in the background would be a subshell, and stopping it would orphan
  # the daemon).
  ip netns exec "$P-mon$i" "$BIN/cairn-mon" --id "$i" --data "$DIR/mon.$i" --addr "${IP[mon$i]}:6789" \
    --http "${IP[mon$i]}:8080" --key "$DIR/keyring" --fsid "$FSID" --peers "$PEERS" \
    >>"$DIR/log/mon.$i.log" 2>&1 &
  PID[mon$i]=$!
}
start_osd() {
  local i=$1
  ip netns exec "$P-osd$i" "$BIN/cairn-osd" --id "$i" --data "$DIR/osd.$i" --addr "${IP[osd$i]}:6800" \
    --http "${IP[osd$i]}:8080" --host "node-$i" --key "$DIR/keyring" --mon "$MON_ADDRS" \
    >>"$DIR/log/osd.$i.log" 2>&1 &
  PID[osd$i]=$!
}
for i in 0 1 2; do start_mon "$i"; done
for i in 0 1 2 3; do start_osd "$i"; done

# wait_for SECONDS WHAT COMMAND...: retries COMMAND every 0.5 s.
wait_for() {
  local secs=$1 what=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || fail "timed out after ${secs}s waiting for $what"
    sleep 0.5
  done
}
status() { ctl --connect-timeout 5 status --format json; }
osd_up() { ctl osd ls --format json | json "[o['up'] for o in d if o['id'] == $1][0]"; }
is_osd_up() { [ "$(osd_up "$1")" = True ]; }
is_osd_down() { [ "$(osd_up "$1")" = False ]; }
all_osds_up() { [ "$(status | json 'd["osds"]["up"]')" = 4 ]; }
healthy() { [ "$(status | json 'd["health"]["status"]')" = HEALTH_OK ]; }
all_pgs_active() {  # every PG served by a current primary, degraded or not
  ctl pg ls --format json | json 'all(p["state"].startswith("active") for p in d)' | grep -qx True
}
epoch() { status | json 'd["epoch"]'; }
leader() { ctl mon ls --format json | json '[m["id"] for m in d if m["role"] == "leader"][0]'; }

wait_for 60 "4 OSDs up" all_osds_up
ctl pool create data --size 3 --min-size 2 --pg 16 >/dev/null || fail "pool create"
wait_for 60 "HEALTH_OK" healthy
log "cluster up: 3 monitors, 4 OSDs, each in its own network namespace"

# start_writer NAME HOST PREFIX [ARGS...]: overwrites PREFIX-0..23 until stopped.
start_writer() {
  local name=$1 host=$2 prefix=$3; shift 3
  ip netns exec "$P-$host" "$BIN/partition_client" write --conf "$DIR/cairn.conf" --pool data \
    --prefix "$prefix" --objects 24 --threads 4 --log "$DIR/$name.acks" \
    --stop-file "$DIR/$name.stop" "$@" >"$DIR/$name.out" 2>&1 &
  PID[w-$name]=$!
}
stop_writers() {
  local name
  for name in "$@"; do touch "$DIR/$name.stop"; done
  for name in "$@"; do
    wait "${PID[w-$name]}" || fail "writer $name exited with an error: $(cat "$DIR/$name.out")"
    unset "PID[w-$name]"
    log "  $(cat "$DIR/$name.out")"
  done
}
# acks_between NAME FROM_MS TO_MS: acknowledged writes in that window.
acks_between() { awk -v a="$2" -v b="$3" '$1 == "ack" && $5 > a && $5 < b' "$DIR/$1.acks" | wc -l; }
verify() {
  local args=() name
  for name in "$@"; do args+=(--log "$DIR/$name.acks"); done
  on cli "$BIN/partition_client" verify --conf "$DIR/cairn.conf" --pool data --all-replicas \
    "${args[@]}" || fail "acknowledged writes missing or different after healing"
}

# ---------------------------------------------------------------------------
# (a) An OSD loses the monitors but reaches its peers and the clients.
# X is the OSD that is primary of the most PGs. Writer a1 (host cli) reaches
# everything; writer a2 (host cli2) is cut off from the monitors together
# with X, so it keeps the old map and keeps sending X's PGs to X.
scenario_a() {
  X=$(ctl pg ls --format json | json \
    'max(range(4), key=lambda o: sum(1 for p in d if p["up"][0] == o))')
  log "(a) osd.$X (primary of $(ctl pg ls --format json | json "sum(1 for p in d if p['up'][0] == $X)") PGs) loses the monitors"
  on cli "$BIN/partition_client" primaries --conf "$DIR/cairn.conf" --pool data --prefix a2 \
    --objects 24 > "$DIR/a2.primaries" || fail "cannot locate a2's objects"
  n_x=$(awk -v x="$X" '$2 == x' "$DIR/a2.primaries" | wc -l)
  [ "$n_x" -gt 0 ] || fail "none of a2's objects is in a PG of osd.$X"
  start_writer a1 cli a1 --read-back
  start_writer a2 cli2 a2 --read-back --op-timeout-s 40
  sleep 3
  T_CUT=$(now_ms)
  cut "osd$X" "${MONS[*]}"
  cut "cli2" "${MONS[*]}"
  wait_for 30 "the monitors to mark osd.$X down" is_osd_down "$X"
  T_DOWN=$(now_ms)
  log "  marked down after $(( (T_DOWN - T_CUT) / 1000 ))s (no beacons from it); osd.$X is still running"
  wait_for 30 "osd.$X's PGs to re-peer without it" all_pgs_active
  sleep 8
  T_HEAL=$(now_ms)
  [ "$(acks_between a1 $((T_DOWN + 2000)) "$T_HEAL")" -gt 0 ] || fail "client I/O stopped while osd.$X was isolated"
  # a2 (old map) sends the objects of X's PGs to X and to no one else, and X
  # cannot get the replicas (in a newer interval) to take them: once the
  # replicas have the new map, none of those writes may be acknowledged.
  by_x=$(awk -v x="$X" -v a=$((T_DOWN + 2000)) -v b="$T_HEAL" \
    'FNR == NR { if ($2 == x) mine[$1] = 1; next } $1 == "ack" && ($2 in mine) && $5 > a && $5 < b' \
    "$DIR/a2.primaries" "$DIR/a2.acks" | wc -l)
  [ "$by_x" = 0 ] || fail "osd.$X acknowledged $by_x write(s) after it was marked down"
  log "  during the partition: a1 acked $(acks_between a1 "$T_DOWN" "$T_HEAL"), a2 acked $(acks_between a2 "$T_DOWN" "$T_HEAL") (none of its $n_x objects on osd.$X), a2 failed $(awk -v a="$T_DOWN" -v b="$T_HEAL" '$1 == "fail" && $4 > a && $4 < b' "$DIR/a2.acks" | wc -l)"
  # Heal osd.X first: it re-peers and serves its PGs again, while a2 (still
  # without monitors, so with the old map) resends its unanswered writes to it.
  heal "osd$X" "${MONS[*]}"
  wait_for 60 "osd.$X to be back up" is_osd_up "$X"
  wait_for 90 "HEALTH_OK after healing (a)" healthy
  log "  healed: osd.$X up again and every PG clean after $(( ($(now_ms) - T_HEAL) / 1000 ))s"
  sleep 3
  heal
  sleep 2
  stop_writers a1 a2
  verify a1 a2
}

# ---------------------------------------------------------------------------
# (b) The monitor leader is cut off from the other monitors, the OSDs and
# client cli. Client cli2 reaches only it.
scenario_b() {
  L=$(leader)
  OTHERS=$(for m in "${MONS[@]}"; do [ "$m" = "mon$L" ] || printf '%s ' "$m"; done)
  printf 'fsid = %s\nmon_addrs = %s\nkey_file = %s\n' "$FSID" "${IP[mon$L]}:6789" "$DIR/keyring" > "$DIR/minority.conf"
  digest() { on "$1" "$BIN/partition_client" digest --conf "$DIR/cairn.conf" --mon "${IP[$2]}:6789"; }
  log "(b) mon.$L (the leader) is cut off from the other monitors and the OSDs"
  start_writer b1 cli b1 --read-back
  sleep 2
  E0=$(epoch)
  cut "mon$L" "$OTHERS ${OSDS[*]} cli"
  cut "cli2" "$OTHERS"
  T_CUT=$(now_ms)
  MINORITY_BEFORE=$(digest cli2 "mon$L") || fail "cannot read mon.$L's map"
  new_leader() { local l; l=$(leader) && [ "$l" != "$L" ]; }
  wait_for 30 "the majority to elect a new leader" new_leader
  log "  the majority elected mon.$(leader)"
  ctl pool create majority --size 3 --pg 8 >/dev/null || fail "the majority cannot commit a pool create"
  echo "written during the partition" | ctl obj put majority o1 - || fail "write to the new pool"
  if on cli2 timeout 10 "$BIN/cairnctl" -c "$DIR/minority.conf" --connect-timeout 5 \
      pool create minority --size 3 --pg 8 >/dev/null 2>&1; then
    fail "mon.$L committed a pool create without a quorum"
  fi
  MINORITY_AFTER=$(digest cli2 "mon$L") || fail "cannot read mon.$L's map"
  [ "$MINORITY_BEFORE" = "$MINORITY_AFTER" ] || fail "mon.$L's map changed without a quorum: $MINORITY_BEFORE -> $MINORITY_AFTER"
  role=$(on cli2 "$BIN/cairnctl" -c "$DIR/minority.conf" --connect-timeout 5 mon ls --format json |
    json "[m['role'] for m in d if m['id'] == $L][0]") || fail "mon ls via mon.$L"
  [ "$role" != leader ] || fail "mon.$L still claims to lead without a quorum"
  T_HEAL=$(now_ms)
  [ "$(acks_between b1 $((T_CUT + 3000)) "$T_HEAL")" -gt 0 ] || fail "client I/O stopped during the monitor partition"
  log "  minority mon.$L: map unchanged ($MINORITY_AFTER = epoch crc), role $role; b1 acked $(acks_between b1 "$T_CUT" "$T_HEAL") meanwhile"
  heal
  same_map() {
    local d0 d1 d2
    d0=$(digest cli mon0) && d1=$(digest cli mon1) && d2=$(digest cli mon2) &&
      [ "$d0" = "$d1" ] && [ "$d1" = "$d2" ] && [ "$d0" != "$MINORITY_BEFORE" ]
  }
  wait_for 30 "all monitors to serve the same map" same_map
  pools=$(ctl pool ls --format json | json '" ".join(sorted(p["name"] for p in d))')
  [ "$pools" = "data majority" ] || fail "pools after healing: $pools"
  [ "$(ctl obj get majority o1 -)" = "written during the partition" ] || fail "object written during (b) lost"
  wait_for 60 "HEALTH_OK after healing (b)" healthy
  # The pool create is the only change: no OSD was marked down although the
  # monitor some of them were talking to vanished.
  [ "$(epoch)" = $((E0 + 1)) ] || fail "map epoch went from $E0 to $(epoch) across (b): an OSD flapped?"
  log "  healed: all monitors serve map $(digest cli mon0) after $(( ($(now_ms) - T_HEAL) / 1000 ))s; pools: $pools"
  stop_writers b1
  verify b1
}

# ---------------------------------------------------------------------------
# (c) No monitor reaches anyone (not even each other): no quorum, so nothing
# can be marked down; the data path goes on with the last map.
scenario_c() {
  log "(c) every monitor is cut off from everyone"
  start_writer c1 cli c1 --read-back
  sleep 2
  E0=$(epoch)
  T_CUT=$(now_ms)
  cut "mon0" "mon1 mon2 ${OSDS[*]} cli cli2"
  cut "mon1" "mon2 ${OSDS[*]} cli cli2"
  cut "mon2" "${OSDS[*]} cli cli2"
  sleep 8
  if on cli timeout 10 "$BIN/cairnctl" -c "$DIR/cairn.conf" --connect-timeout 3 \
      pool create nomons --size 3 --pg 8 >/dev/null 2>&1; then
    fail "a map change committed without reachable monitors"
  fi
  T_HEAL=$(now_ms)
  n=$(acks_between c1 $((T_CUT + 7000)) "$T_HEAL")
  [ "$n" -gt 0 ] || fail "client I/O stopped without monitors"
  log "  without monitors: c1 acked $n writes (each read back) in the last $(( (T_HEAL - T_CUT - 7000) / 1000 ))s; pool create fails"
  heal
  wait_for 60 "HEALTH_OK after healing (c)" healthy
  [ "$(epoch)" = "$E0" ] || fail "the map changed across a partition of the monitors: epoch $E0 -> $(epoch)"
  log "  healed: HEALTH_OK after $(( ($(now_ms) - T_HEAL) / 1000 ))s, map still at epoch $E0 (no OSD was marked down)"
  stop_writers c1
  verify c1
}

# ---------------------------------------------------------------------------
# (d) An OSD reaches the monitors and the clients but none of its peers (a
# broken link between racks): its heartbeats alone would keep it "up" and
# its PGs stalled. Its peers report it; it is marked down, stays down (no
# flapping) while cut off, and comes back once healed.
scenario_d() {
  X=$(ctl pg ls --format json | json \
    'max(range(4), key=lambda o: sum(1 for p in d if o in p["up"]))')
  local others=""
  for o in "${OSDS[@]}"; do [ "$o" = "osd$X" ] || others+="$o "; done
  log "(d) osd.$X (in $(ctl pg ls --format json | json "sum(1 for p in d if $X in p['up'])") PGs) loses its peers but keeps the monitors"
  start_writer d1 cli d1 --read-back
  sleep 3
  T_CUT=$(now_ms)
  cut "osd$X" "$others"
  wait_for 40 "the monitors to mark osd.$X down on its peers' reports" is_osd_down "$X"
  T_DOWN=$(now_ms)
  log "  marked down after $(( (T_DOWN - T_CUT) / 1000 ))s (its peers' reports; it still heartbeats the monitors)"
  wait_for 30 "osd.$X's PGs to re-peer without it" all_pgs_active
  # It boots again and again (it is alive); the monitors refuse while its peers cannot reach it.
  for _ in 1 2 3 4 5 6 7 8; do
    sleep 1
    is_osd_down "$X" || fail "osd.$X came back up while still cut off from its peers (flapping)"
  done
  T_HEAL=$(now_ms)
  n=$(acks_between d1 $((T_DOWN + 2000)) "$T_HEAL")
  [ "$n" -gt 0 ] || fail "client I/O stopped while osd.$X was cut off from its peers"
  log "  while cut off: stayed down, d1 acked $n writes"
  heal
  wait_for 60 "osd.$X to be back up" is_osd_up "$X"
  wait_for 90 "HEALTH_OK after healing (d)" healthy
  log "  healed: osd.$X up again and every PG clean after $(( ($(now_ms) - T_HEAL) / 1000 ))s"
  stop_writers d1
  verify d1
}

for s in ${CAIRN_PARTITION_SCENARIOS:-a b c d}; do "scenario_$s"; done
FAILED=0
log "PASS"
