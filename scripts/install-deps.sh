#!/usr/bin/env bash
# Installs every Debian package dzc needs to build, test and run its examples.
# Idempotent and non-interactive: a fresh machine and CI run it as root.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache lld pkg-config
  libgtest-dev libgmock-dev libbenchmark-dev
  libmlir-22-dev mlir-22-tools llvm-22-dev llvm-22-tools
  libdnnl-dev opencl-headers ocl-icd-opencl-dev
  libonnx-dev libprotobuf-dev protobuf-compiler libonnx-testdata
  libfmt-dev libcli11-dev zlib1g-dev
  dataset-fashion-mnist graphviz python3
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
