// FusibleOps.h - which dz ops may go inside a dz.fused group: the one list that the
// verifier of dz.fused (lib/DzFusedOps.cpp) and the fusion pass (passes/Fusion.cpp) share.
#pragma once

namespace mlir {
class Operation;
} // namespace mlir

namespace dz::ir {

/// The elementwise ops: the binary ops (add sub mul div maximum equal_mask pow, NumPy
/// broadcasting), the unary ops (neg exp log sin cos tanh sqrt square erf sigmoid relu
/// step pow_scalar leaky_relu clip clip_mask), dz.cast, dz.broadcast_to and dz.constant. The
/// comparisons, the logical ops and dz.select (i1 values) stay outside groups: the
/// fused kernels have no i1 form yet.
bool isFusibleElementwise(mlir::Operation *op);

/// The reductions a group may end in: dz.sum, dz.max, dz.min.
bool isFusibleReduction(mlir::Operation *op);

} // namespace dz::ir
