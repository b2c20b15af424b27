#!/usr/bin/env bash
# Installs every build and test dependency of Cairn from Debian's archive.
# Idempotent: when everything is present it prints one line and exits.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git
  # libraries (DESIGN.md "Decisions already made")
  libboost1.81-dev librocksdb-dev libisal-dev libssl-dev
  nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev libyaml-cpp-dev
  libgtest-dev libgmock-dev
  libfuse3-dev fuse3 libnbd-dev libnbd-bin
  # S3 gateway tests (tests/integration/s3_*): three independent S3 clients
  awscli python3-boto3 s3cmd
  # block/NBD tests (tests/integration/nbd_test.sh): qemu-io/qemu-img, fio's nbd engine
  qemu-utils fio
  # filesystem tests (tests/integration/fs_test.sh): setfattr/getfattr, fincore
  attr util-linux-extra
  # bench/block_bench.sh: `nbdkit memory` as the NBD protocol ceiling
  nbdkit
  # test tools
  python3 curl iproute2 procps psmisc util-linux e2fsprogs
  # network partitions (tests/integration/partition_test.sh): nft rules on a bridge
  nftables
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
