#!/usr/bin/env bash
# Installs the Debian packages tether builds with (only those missing) and configures a
# Release build in build/. Idempotent: with everything present it only checks and returns.
#   scripts/setup.sh            packages + configure build/
#   BUILD_DIR=x CMAKE_ARGS=... scripts/setup.sh
#   EXTRA_PACKAGES="clang libclang-rt-dev" scripts/setup.sh   more packages (scripts/fuzz.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(cmake g++ make pkg-config libuv1-dev node-llhttp libgtest-dev libgmock-dev libbenchmark-dev
  python3  # the shell tests pick free ports and check XML with it
  libhiredis-dev redis-server  # the Redis mailbox backend (src/redis/) and its tests
  nginx-light curl)  # tests/deploy_nginx_test.sh: deploy/ as shipped
# shellcheck disable=SC2206
packages+=(${EXTRA_PACKAGES:-})
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  if [[ $(id -u) != 0 ]]; then
    command -v sudo >/dev/null || { echo "setup: need root or sudo to install ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Package lists may be stale or absent on a fresh machine: update once, then install.
  $sudo apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
    $sudo apt-get update >/dev/null
    $sudo apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
  }
fi

build_dir=${BUILD_DIR:-build}
if [[ ! -f $build_dir/CMakeCache.txt ]]; then
  # shellcheck disable=SC2086
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release ${CMAKE_ARGS:-} >/dev/null
  echo "setup: configured $build_dir (Release)"
fi
