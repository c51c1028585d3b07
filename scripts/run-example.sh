#!/usr/bin/env bash
# scripts/run-example.sh - builds dzc (scripts/build.sh, which installs missing packages)
# and runs an example model from models/. Works from any directory.
#
# Usage: scripts/run-example.sh [--sanitize] [-DVAR=VALUE ...] [MODEL [ARGS ...]]
#   MODEL   a binary of build/models/: fashion_mlp (default: trains MLP(1000, 1000, 10) on
#           Fashion-MNIST for 5 epochs), spiral, cnn, lstm_sin, newton, linear_regression,
#           rosenbrock, tanh_graph, mnist_mlp, chainer_minimum, backprop_layers,
#           mnist_save_load, sin_derivatives, sin_regression, dropout, simple_rnn,
#           hessian_vector (see models/CMakeLists.txt and docs/examples.md)
#   ARGS    go to the model unchanged: `run-example.sh spiral --epochs 50 --out results`;
#           `run-example.sh MODEL --help` lists its options and their defaults
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

build_args=()
while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do
  build_args+=("$1"); shift
done
model="${1:-fashion_mlp}"
[ $# -gt 0 ] && shift

dz_parse_args "${build_args[@]}"
bash "$DZ_ROOT/scripts/build.sh" "${build_args[@]}"
if [ "$DZ_SANITIZE_BUILD" = 1 ]; then
  dz_sanitizer_env
fi

binary="$DZ_BUILD/models/$model"
if [ ! -x "$binary" ]; then
  echo "run-example: no model '$model'; built models:" >&2
  ls "$DZ_BUILD/models" 2>/dev/null | grep -v -e '\.' -e CMakeFiles -e Makefile >&2 || true
  exit 2
fi
echo "run-example: $binary $*"
exec "$binary" "$@"
