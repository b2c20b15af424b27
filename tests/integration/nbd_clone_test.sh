#!/usr/bin/env bash
# Clones through NBD: a clone reads its parent snapshot's data, its writes
# (partial ones, across objects, discards, zeroes) never touch the parent,
# snapshots of clones and clones of clones read right, and after flatten the
# parent snapshot (and image) can go while the clone still reads the same.
# Every step is compared with a local file given the same writes.
# Usage: nbd_clone_test.sh BIN_DIR
BIN=${1:?usage: nbd_clone_test.sh BIN_DIR}
source "$(dirname "$0")/nbd_lib.sh"
for tool in qemu-io qemu-img nbdcopy; do
  command -v $tool >/dev/null || { echo "FAIL: $tool is missing"; exit 1; }
done
nbd_setup clone
M=1048576
ctl rbd create rbd/par --size 24M --object-size 1M >/dev/null || fail "create"
start_nbd 0 3000
A=$NBD_URI

step "parent data and a protected snapshot"
# Objects 0-7 full, a short write in object 20, objects 8-19 and 21-23 holes.
parent_writes=(-c "write -P 0x11 0 $((8 * M))" -c "write -P 0x22 $((20 * M + 100)) 3000")
qio_ok "$A/rbd/par" "${parent_writes[@]}"
truncate -s 24M "$DIR/ref"
qemu-io -f raw "$DIR/ref" "${parent_writes[@]}" >/dev/null
ctl rbd snap create rbd/par@s1 >/dev/null || fail "snap create"
out=$(ctl rbd clone rbd/par@s1 rbd/kid 2>&1) && fail "cloned an unprotected snapshot"
echo "$out" | grep -q "not protected" || fail "unclear error: $out"
ctl rbd snap protect rbd/par@s1 || fail "protect"
ctl rbd clone rbd/par@s1 rbd/kid || fail "clone"
if ctl rbd clone rbd/par@s1 rbd/kid 2>/dev/null; then fail "clone over an existing image"; fi
if ctl rbd clone rbd/par rbd/x 2>/dev/null; then fail "clone without a snapshot"; fi
ctl rbd info rbd/kid | grep -q "parent rbd/par@s1" || fail "info: $(ctl rbd info rbd/kid)"
ctl rbd info rbd/kid --format json | json 'd["parent"]["overlap"]' | grep -qx $((24 * M)) || fail "overlap"
[ "$(ctl rbd children rbd/par@s1)" = "rbd/kid" ] || fail "children: $(ctl rbd children rbd/par@s1)"

step "the parent changes after the snapshot; the clone does not see it"
qio_ok "$A/rbd/par" -c "write -P 0x33 0 $M" -c "write -P 0x33 $((21 * M)) 100"
qemu-img compare -f raw -F raw "$DIR/ref" "$A/rbd/kid" >/dev/null || fail "clone != parent snapshot"

step "clone writes: partial, across objects, discard, zeroes"
kid_writes=(
  -c "write -P 0x44 $((M + 500)) 100"                  # partial: copy-up keeps the rest
  -c "write -P 0x55 $((3 * M - 10)) 20"                # across two objects
  -c "discard $((4 * M)) $M"                           # whole object: must not show parent
  -c "discard $((5 * M + 10)) 20"                      # partial discard
  -c "write -z $((6 * M + 4096)) 8192"                 # zeroes (may punch)
  -c "write -z -u $((7 * M)) $M"                       # zeroes, whole object, punch allowed
  -c "write -P 0x66 $((9 * M)) 4096"                   # where the parent has a hole
  -c "write -P 0x77 $((20 * M)) 50"                    # next to the parent's short data
)
qio_ok "$A/rbd/kid" "${kid_writes[@]}" -c flush
cp "$DIR/ref" "$DIR/kidref"
qemu-io -f raw "$DIR/kidref" "${kid_writes[@]}" >/dev/null
qemu-img compare -f raw -F raw "$DIR/kidref" "$A/rbd/kid" >/dev/null || fail "clone after writes"
qio_ok "$A/rbd/kid" -c "read -P 0x11 $M 500" -c "read -P 0x44 $((M + 500)) 100" \
  -c "read -P 0x11 $((M + 600)) $((M - 600))" -c "read -P 0 $((4 * M)) $M" \
  -c "read -P 0 $((7 * M)) $M" -c "read -P 0x22 $((20 * M + 100)) 3000"
qemu-img compare -f raw -F raw "$DIR/ref" "$A/rbd/par@s1" >/dev/null || fail "parent snapshot changed"
qio_ok "$A/rbd/par" -c "read -P 0x33 0 $M" -c "read -P 0x11 $M $((7 * M))" -c "read -P 0 $((9 * M)) $M"

step "unprotect and snapshot removal refused while a clone exists"
out=$(ctl rbd snap unprotect rbd/par@s1 2>&1) && fail "unprotected with a clone"
echo "$out" | grep -q "rbd/kid" || fail "unclear error: $out"
if ctl rbd snap rm rbd/par@s1 2>/dev/null; then fail "removed a snapshot with a clone"; fi

step "snapshot of a clone, clone of a clone"
ctl rbd snap create rbd/kid@k1 >/dev/null || fail "snap kid"
ctl rbd snap protect rbd/kid@k1 || fail "protect kid@k1"
ctl rbd clone rbd/kid@k1 rbd/grand || fail "clone of a clone"
qemu-img compare -f raw -F raw "$DIR/kidref" "$A/rbd/grand" >/dev/null || fail "grandchild"
qio_ok "$A/rbd/kid" -c "write -P 0x88 $((2 * M + 7)) 9" -c "discard 0 $M"
qemu-img compare -f raw -F raw "$DIR/kidref" "$A/rbd/kid@k1" >/dev/null || fail "kid@k1 after writes"

step "flatten the clone, then remove the parent snapshot and image"
if ctl rbd flatten rbd/par 2>/dev/null; then fail "flattened a non-clone"; fi
ctl rbd flatten rbd/kid || fail "flatten"
ctl rbd info rbd/kid | grep -q parent && fail "still has a parent"
[ -z "$(ctl rbd children rbd/par@s1)" ] || fail "children after flatten"
ctl rbd snap unprotect rbd/par@s1 || fail "unprotect after flatten"
ctl rbd snap rm rbd/par@s1 || fail "snap rm after flatten"
ctl rbd rm rbd/par || fail "rm parent"
cp "$DIR/kidref" "$DIR/kidref2"
qemu-io -f raw "$DIR/kidref2" -c "write -P 0x88 $((2 * M + 7)) 9" -c "write -z 0 $M" >/dev/null
qemu-img compare -f raw -F raw "$DIR/kidref2" "$A/rbd/kid" >/dev/null || fail "clone after flatten"
qemu-img compare -f raw -F raw "$DIR/kidref" "$A/rbd/kid@k1" >/dev/null || fail "kid@k1 after flatten"
qemu-img compare -f raw -F raw "$DIR/kidref" "$A/rbd/grand" >/dev/null || fail "grandchild after flatten"

step "shrink and grow a clone: the parent does not come back"
ctl rbd flatten rbd/grand || fail "flatten grand"
ctl rbd snap unprotect rbd/kid@k1 || fail "unprotect k1"
ctl rbd snap rm rbd/kid@k1 || fail "snap rm k1"
ctl rbd snap create rbd/kid@k2 >/dev/null && ctl rbd snap protect rbd/kid@k2 || fail "k2"
ctl rbd clone rbd/kid@k2 rbd/small || fail "clone small"
ctl rbd resize rbd/small --size $((2 * M + 100)) --allow-shrink >/dev/null || fail "shrink"
ctl rbd resize rbd/small --size 24M >/dev/null || fail "grow"
ctl rbd info rbd/small --format json | json 'd["parent"]["overlap"]' | grep -qx $((2 * M + 100)) || fail "overlap after shrink"
head -c $((2 * M + 100)) "$DIR/kidref2" >"$DIR/smallref"
truncate -s 24M "$DIR/smallref"
qemu-img compare -f raw -F raw "$DIR/smallref" "$A/rbd/small" >/dev/null || fail "shrunk clone"

step "removing a clone unregisters it"
ctl rbd rm rbd/small || fail "rm clone"
[ -z "$(ctl rbd children rbd/kid@k2)" ] || fail "children after rm"
ctl rbd snap unprotect rbd/kid@k2 || fail "unprotect k2"

step "everything removed leaves no data objects"
ctl rbd snap create rbd/grand@g1 >/dev/null || fail "snap grand"
ctl rbd resize rbd/grand --size $M --allow-shrink >/dev/null || fail "shrink with a snapshot"
qemu-img compare -f raw -F raw "$DIR/kidref" "$A/rbd/grand@g1" >/dev/null || fail "grand@g1 after shrink"
ctl rbd snap rm rbd/grand@g1 || fail "snap rm g1"
ctl rbd snap rm rbd/kid@k2 || fail "snap rm k2"
ctl rbd rm rbd/grand || fail "rm grand"
ctl rbd rm rbd/kid || fail "rm kid"
left=$(ctl obj ls rbd | grep -c '^rbd_data' || true)
[ "$left" = 0 ] || fail "$left data objects left: $(ctl obj ls rbd | grep '^rbd_data' | head)"
echo "nbd_clone_test: all checks passed"
