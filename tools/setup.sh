#!/usr/bin/env bash
# Installs everything hostport's build, tests, fuzzers and e2e tests need on Debian 12.
# Idempotent: quiet and fast when every package is already present. Run as root (or with
# sudo available). Nothing else is ever installed by hand.
set -euo pipefail

packages=(
  # Build: Bazel 4.2.3 (WORKSPACE mode, offline shims under third_party/) and compilers.
  bazel-bootstrap g++ clang-14 libclang-rt-14-dev clang-format
  # Libraries wrapped by third_party/system.BUILD.
  libabsl-dev libgtest-dev libgmock-dev librapidcheck-dev libbenchmark-dev
  nlohmann-json3-dev libnftables-dev libnftnl-dev libmnl-dev
  libnetfilter-conntrack-dev
  # Kernel tools used by the loadability and e2e tests; CNI plugins (bridge,
  # host-local, portmap) for the differential and plugin tests.
  iptables nftables iproute2 conntrack kmod containernetworking-plugins
  # `hostportctl trace --live` reads the ipsets that `-m set` rules name.
  ipset

)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo_cmd=()
  ((EUID == 0)) || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
