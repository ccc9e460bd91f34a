#!/usr/bin/env bash
# Installs everything plexus needs to build, test and run on Debian 12, from Debian's packages only.
# Idempotent: apt-get skips what is already there.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(
  build-essential cmake ninja-build ccache pkg-config git ca-certificates
  libboost-dev                      # Boost.DLL (header-only), Boost.Beast/Asio
  nlohmann-json3-dev libfmt-dev libspdlog-dev libcli11-dev libyaml-cpp-dev
  libnl-3-dev libnl-route-3-dev libnftables-dev nftables
  libcurl4-openssl-dev libssl-dev openssl
  prometheus-cpp-dev
  libgtest-dev libgmock-dev googletest
  iproute2 iputils-ping kmod procps
  containernetworking-plugins       # the reference plugins: behavioural oracle in tests and benchmarks
  clang-14 libclang-rt-14-dev       # libFuzzer + ASan/UBSan runtimes for the fuzz preset (tests/fuzz)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
