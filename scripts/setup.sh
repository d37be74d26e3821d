#!/usr/bin/env bash
# Installs every Debian 12 package that dlmscope's build, tests and benchmarks need.
# Idempotent: packages already present are skipped. Run as root (or with sudo available).
# Retraining the default model needs more (fortunes, python3-torch, nodejs): see docs/default-model.md.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  nlohmann-json3-dev libcli11-dev libfmt-dev
  libopenblas-dev libpcre2-dev
  zlib1g-dev
  libcairo2-dev libpango1.0-dev fonts-dejavu-core
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-16 libclang-rt-16-dev libomp-16-dev  # libFuzzer harnesses (scripts/fuzz.sh)
  python3 python3-numpy python3-pytest python3-pandas pybind11-dev python3-dev
  chromium poppler-utils time libxml2-utils
  wamerican  # the word list of scripts/eval-model.sh and the default-model quality test
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: all packages present" >&2
fi
