#!/usr/bin/env bash
# scripts/gen-op-docs.sh - regenerates docs/ops.md, the op reference of the dz dialect, from
# the ODS in ir/ (mlir-tblgen -gen-op-doc, target dz-op-docs) and copies it into docs/.
# Run it after changing an op's definition; the test docs.ops_reference_current fails
# while docs/ops.md differs from what the .td files say.
#
# Usage: scripts/gen-op-docs.sh   (uses build/, or $DZ_BUILD_DIR; configures it if needed)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
dz_parse_args "$@"

if [ ! -f "$DZ_BUILD/build.ninja" ] && [ ! -f "$DZ_BUILD/Makefile" ]; then
  cmake -S "$DZ_ROOT" -B "$DZ_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release "${DZ_CMAKE_ARGS[@]}"
fi
cmake --build "$DZ_BUILD" --target dz-op-docs
cp "$DZ_BUILD/docs/ops.md" "$DZ_ROOT/docs/ops.md"
echo "gen-op-docs: wrote $DZ_ROOT/docs/ops.md"
