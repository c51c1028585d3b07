// Passes.td - the passes of dzc's compiler over the dz dialect (flags `dz-<verb>`).
#ifndef DZC_PASSES_TD
#define DZC_PASSES_TD

include "mlir/Pass/PassBase.td"

def Autodiff : Pass<"dz-autodiff"> {
  let summary = "Expands every dz.grad into the dz ops of its reverse-mode gradient";
  let description = [{
    Each `dz.grad %y wrt %xs` is replaced, in program order, by the gradients of
    sum(y) with respect to the xs: a seed of ones shaped like y, then the rule of each
    op between the xs and y in reverse order (GradientRules.cpp), gradients of one value
    summed with `dz.add`, broadcasting undone with `dz.sum_to`. An x that y does not
    depend on gets zeros. Because earlier dz.grad ops are already expanded when a later
    one is, a dz.grad of a gradient (double backprop) differentiates ordinary ops.

    ```mlir
    %y = dz.mul %x, %x : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
    %g = dz.grad %y wrt %x : tensor<3xf32>, tensor<3xf32>
    // becomes: %one = dz.constant dense<1.0>, %g = dz.add (dz.mul %one, %x), (dz.mul %one, %x)
    ```

    An op on the path without a gradient rule is an error on that op.
  }];
  let dependentDialects = ["::dz::ir::DzDialect"];
}

def PrintMemoryPlan : Pass<"dz-print-memory-plan", "::mlir::ModuleOp"> {
  let summary = "Prints the memory plan (liveness, arena offsets) of every function";
  let description = [{
    For every func.func, in the module's order, prints on stdout the plan of
    `dzc/passes/MemoryPlan.h`: each intermediate value (an op result that is neither a
    dz.constant nor returned) with its size in bytes, its offset in one arena and its
    live range in op indices of the program order, then the arena size and the sum of
    all intermediates (no reuse). The IR is unchanged.

    ```
    memory plan @chain: 2 values, 1 buffers, 1 in place, alignment 64
    %0 400 0 [0, 1]
    %1 400 0 [1, 2] in-place %0
    peak 448 naive 896
    ```
  }];
  let options = [
    Option<"inPlace", "in-place", "bool", /*default=*/"true",
           "let an elementwise op or a reshape write into an operand that dies there">
  ];
}

def Fusion : Pass<"dz-fuse"> {
  let summary = "Groups chains of elementwise dz ops (and a trailing reduction) into dz.fused";
  let description = [{
    Greedy producer-consumer fusion (algorithm at the top of Fusion.cpp): from the last
    op back, each elementwise op or reduction roots a group that absorbs the elementwise
    ops that produce its operands when all their other users come after the group; a
    value read outside becomes an output and must have the group's shape; splat
    constants are cloned in; reductions only end a group; GEMMs, shape ops and the rest
    stay outside. Runs after --dz-autodiff (a dz.grad left is an error). Not part of
    --dz-pipeline yet: the CPU executor runs a dz.fused op by op.

    ```mlir
    %0 = dz.add %h, %b : (tensor<4x5xf32>, tensor<5xf32>) -> tensor<4x5xf32>
    %1 = dz.relu %0 : tensor<4x5xf32>
    // becomes
    %1 = dz.fused (%x = %h, %y = %b) : (tensor<4x5xf32>, tensor<5xf32>) -> tensor<4x5xf32> {
      %0 = dz.add %x, %y : (tensor<4x5xf32>, tensor<5xf32>) -> tensor<4x5xf32>
      %r = dz.relu %0 : tensor<4x5xf32>
      dz.yield %r : tensor<4x5xf32>
    }
    ```
  }];
  let dependentDialects = ["::dz::ir::DzDialect"];
}

#endif // DZC_PASSES_TD
