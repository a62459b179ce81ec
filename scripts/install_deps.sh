#!/usr/bin/env bash
# Installs the Debian packages keytok builds and tests against (chromium and chromium-driver for
# the web viewer's browser test, nginx for the replicas test, clang and its runtimes for the
# libFuzzer targets); a no-op when all are present.
source "$(dirname "$0")/lib.sh"

packages=(build-essential cmake ninja-build ccache git unzip python3 python3-pip
  libcli11-dev nlohmann-json3-dev libfmt-dev libcpp-httplib-dev libnlopt-cxx-dev
  libgtest-dev libgmock-dev libbenchmark-dev libssl-dev pkg-config doxygen python3-venv
  chromium chromium-driver nginx clang libclang-rt-14-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
