#!/usr/bin/env bash
# Installs the Debian packages mhc-verify needs, skipping what is already there.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libeigen3-dev libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  librapidcheck-dev libgtest-dev libgmock-dev libbenchmark-dev libyaml-cpp-dev libcli11-dev
  nlohmann-json3-dev libfmt-dev libssl-dev openssl
  clang libclang-rt-14-dev libomp-dev
  python3 python3-grpcio python3-protobuf python3-numpy python3-torch
  chromium
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "mhc-verify: installing ${missing[*]}" >&2
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
