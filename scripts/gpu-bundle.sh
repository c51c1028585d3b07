#!/usr/bin/env bash
# scripts/gpu-bundle.sh - the GPU checks of scripts/gpu-check.sh as one self-contained folder
# for a machine that has a GPU and CUDA but none of dzc's build dependencies (Debian's
# LLVM/MLIR 22, oneDNN, ...): docs/cuda.md, "Running the GPU checks on a machine without the
# toolchain".
#
# Usage: scripts/gpu-bundle.sh [--reduced] [--check] [--build-dir DIR] [--out DIR]
#   (default)   builds build-bundle/ (Release, MLIR and LLVM linked statically into
#               libdzc_compiler.so and dz_cuda_codegen_tests: -DDZ_STATIC_MLIR=ON), then
#               packs the GPU tests, dz_bench_steps, dz_bench_gpu_bandwidth, dzc's
#               libraries and every library they load that is not the system's base (glibc,
#               libstdc++, libgcc_s, zlib) into gpu-bundle/: dzc-gpu.tar.xz, run.sh,
#               base.sh and bench/torch_cuda_steps.py (PyTorch's side on the GPU).
#   --reduced   builds nothing: packs, from an existing build (default build/), the GPU
#               programs that need no compiler (dz_cuda_runtime_tests, dz_cuda_eager_tests,
#               dz_cuda_training_tests), compressed fast. What CI checks: the packing, the
#               unpacking, the library closure and a run on the host emulation.
#   --check     then proves the bundle here: unpacks it into an empty folder and runs
#               run.sh --check there (every library resolves inside the bundle or to the
#               system's base, also those loaded with dlopen; the programs pass a subset of
#               their tests on the host emulation, DZ_CUDA_EMULATION=1).
#   --build-dir DIR  the build folder (default build-bundle/, with --reduced build/)
#   --out DIR   where the bundle goes (default gpu-bundle/)
# Environment: DZ_JOBS (parallel jobs, default 2), DZ_BUNDLE_TEST_FILTER (--check's tests).
# On the GPU machine: `bash gpu-bundle/run.sh` (results and logs in $OUT).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
reduced=0
check=0
build=""
out="$ROOT/gpu-bundle"
while [ $# -gt 0 ]; do
  case "$1" in
    --reduced) reduced=1 ;;
    --check) check=1 ;;
    --build-dir) build="$2"; shift ;;
    --out) out="$2"; shift ;;
    -h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "gpu-bundle.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
start=$SECONDS

tests=(dz_cuda_runtime_tests dz_cuda_eager_tests dz_cuda_training_tests)
benches=()
if [ "$reduced" = 0 ]; then
  tests+=(dz_cuda_codegen_tests dz_cuda_compiled_tests dz_numerics_tests)
  benches=(dz_bench_steps dz_bench_gpu_bandwidth)
  build="${build:-$ROOT/build-bundle}"
  echo "gpu-bundle: building ${build} (MLIR/LLVM static, $((${DZ_JOBS:-2})) jobs)"
  bash "$ROOT/scripts/install-deps.sh"
  # No RPATH: the bundle's programs find their libraries through LD_LIBRARY_PATH only.
  mkdir -p "$build"
  cmake -S "$ROOT" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDZ_STATIC_MLIR=ON \
    -DDZ_BUILD_MODELS=OFF -DCMAKE_SKIP_RPATH=ON > "$build/configure.log" 2>&1 ||
    { cat "$build/configure.log"; exit 1; }
  cmake --build "$build" -j "${DZ_JOBS:-2}" --target "${tests[@]}" "${benches[@]}" \
    dzc_compiler dzc_cuda_runtime
  echo "gpu-bundle: built in $((SECONDS - start)) s"
else
  build="${build:-$ROOT/build}"
fi
case "$build" in /*) ;; *) build="$PWD/$build" ;; esac

# The staging folder: bin/ (programs), lib/ (every library, by the name the loader asks for).
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib"
for t in "${tests[@]}"; do
  [ -x "$build/tests/cuda/$t" ] || { echo "gpu-bundle: $build/tests/cuda/$t is missing" >&2; exit 1; }
  cp "$build/tests/cuda/$t" "$stage/bin/"
done
for b in "${benches[@]}"; do cp "$build/bench/$b" "$stage/bin/"; done
# dzc's libraries, also the two it opens with dlopen (found next to libdzc/libdzc_runtime).
cp -L "$build/lib/libdzc.so.0" "$build/lib/libdzc_runtime.so.0" "$build/lib/libdzc_cuda_runtime.so" \
  "$stage/lib/"
if [ "$reduced" = 0 ]; then cp -L "$build/lib/libdzc_compiler.so" "$stage/lib/"; fi

# The system's base, which every Linux with a C++ toolchain has and the bundle does not ship:
# glibc, libstdc++, libgcc_s, zlib. (Shipping libstdc++ would force an old one onto the
# CUDA libraries the GPU machine loads into the same process.)
source "$ROOT/scripts/gpu-bundle-base.sh"
# The closure: whatever a program or library of the bundle loads that is neither in the
# bundle nor base gets copied into lib/ (libdnnl, libgomp, libOpenCL, libzstd, ...).
while :; do
  added=0
  for f in "$stage"/bin/* "$stage"/lib/*; do
    while read -r name path; do
      [ -e "$stage/lib/$name" ] && continue
      dz_bundle_is_base "$name" && continue
      if [ ! -e "$path" ]; then echo "gpu-bundle: $f needs $name, not found" >&2; exit 1; fi
      cp -L "$path" "$stage/lib/$name"
      added=1
    done < <(LD_LIBRARY_PATH="$stage/lib" ldd "$f" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}')
  done
  [ "$added" = 0 ] && break
done
chmod u+w "$stage"/lib/* "$stage"/bin/*
strip --strip-unneeded "$stage"/bin/* "$stage"/lib/*
cp "$ROOT/scripts/gpu-bundle-base.sh" "$stage/base.sh"

mkdir -p "$out"
rm -f "$out/dzc-gpu.tar.xz"
# xz (the GPU machine reads it with xz or python3's lzma). The dictionary spans the whole
# archive and the two programs that hold MLIR come first, side by side: the second one then
# costs little. Preset 3 compresses about 2.5x faster than preset 9, for about 10% more.
# shellcheck disable=SC2054 # one option, its commas are xz's
xz_opts=(--lzma2=preset=3,dict=192MiB)
[ "$reduced" = 1 ] && xz_opts=(-0)
(cd "$stage" && ls -S bin/* lib/* base.sh) > "$stage.files" # largest first
tar -C "$stage" -cf - --no-recursion -T "$stage.files" | xz "${xz_opts[@]}" -T1 > "$out/dzc-gpu.tar.xz"
rm -f "$stage.files"
cp "$ROOT/scripts/gpu-bundle-run.sh" "$out/run.sh"
cp "$ROOT/scripts/gpu-bundle-base.sh" "$out/base.sh"
cp "$ROOT/bench/torch_cuda_steps.py" "$out/"
chmod +x "$out/run.sh"

echo "gpu-bundle: contents (unpacked, stripped):"
(cd "$stage" && du -b bin/* lib/* | sort -k2 | awk '{printf "  %8.1f MB  %s\n", $1 / 1e6, $2}')
unpacked=$(du -sb "$stage" | cut -f1)
packed=$(du -cb "$out"/* | tail -1 | cut -f1)
echo "gpu-bundle: $out: $(awk "BEGIN {printf \"%.1f\", $packed / 1048576}") MiB to carry" \
  "($(awk "BEGIN {printf \"%.1f\", $unpacked / 1048576}") MiB unpacked), $((SECONDS - start)) s"
if [ "$packed" -ge $((60 * 1048576)) ]; then
  echo "gpu-bundle: the bundle is over 60 MiB" >&2
  exit 1
fi

if [ "$check" = 1 ]; then
  # The proof: a copy of the bundle in an empty folder, run with LD_LIBRARY_PATH there only.
  proof="$(mktemp -d)"
  trap 'rm -rf "$stage" "$proof"' EXIT
  cp -r "$out" "$proof/bundle"
  # A subset of each program's tests (set DZ_BUNDLE_TEST_FILTER= to run them all): those of
  # the runtime, and of the others some that launch a few kernels each (the emulation
  # compiles each kernel with the host compiler; ctest runs them all from the build).
  export DZ_BUNDLE_TEST_FILTER="${DZ_BUNDLE_TEST_FILTER-Nvrtc.*:KernelCache.*:CudaDevice.*:EagerKernels.*:CudaHostEmulation.KernelsMatchTheCpuExecutor:EagerDevice.DescribesItself:EagerDevice.MatmulAndLinearMatchTheCpu:EagerTraining.*:CompiledDevice.MlpTrainingStepFollowsTheEagerCpuSteps:CompiledDevice.TensorsOnTwoDevicesAreRefused:Numerics.*}"
  DZ_BUNDLE_DIR="$proof/unpacked" OUT="$proof/results" bash "$proof/bundle/run.sh" --check
fi
