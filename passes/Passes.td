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

#endif // DZC_PASSES_TD
