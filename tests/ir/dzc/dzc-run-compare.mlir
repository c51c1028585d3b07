// dzc run of the comparisons, the logical ops, dz.select, dz.erf, dz.pow and the casts
// to and from i1 and i32 on the CPU executor: x = (1, 2, 3), y = (4, 5, 6).
// RUN: rm -rf %t && mkdir -p %t
// RUN: dzc run %s --input %S/Inputs/dzc-x-3xf32.npy --input %S/Inputs/dzc-y-3xf32.npy --output-dir %t/out
// RUN: od -A n -j 128 -t u1 %t/out/output_0.npy | FileCheck %s --check-prefix=MASK
// ((x > 1.5 and not (y == 6)) or x == 1) or ((y >= 6) xor (y == 6)): true, true, false
// MASK: {{^ +}}1{{ +}}1{{ +}}0{{ *$}}
// RUN: od -A n -j 128 -t f4 %t/out/output_1.npy | FileCheck %s --check-prefix=SELECT
// select(1 < x, y, -x) = (-1, 5, 6)
// SELECT: {{^ +}}-1{{ +}}5{{ +}}6{{ *$}}
// RUN: od -A n -j 128 -t f4 %t/out/output_2.npy | FileCheck %s --check-prefix=POWER
// x ^ (y - 3) = (1, 4, 27)
// POWER: {{^ +}}1{{ +}}4{{ +}}27{{ *$}}
// RUN: od -A n -j 128 -t f4 %t/out/output_3.npy | FileCheck %s --check-prefix=ERF
// erf(x - 1) = (0, 0.8427008, 0.9953223)
// ERF: {{^ +}}0{{ +}}0.8427{{[0-9]*}}{{ +}}0.9953{{[0-9]*}}{{ *$}}
// RUN: od -A n -j 128 -t d4 %t/out/output_4.npy | FileCheck %s --check-prefix=INT32
// cast(x) ^ 2 + cast(x <= 2) in int32 = (2, 5, 9)
// INT32: {{^ +}}2{{ +}}5{{ +}}9{{ *$}}
// RUN: head -c 128 %t/out/output_0.npy | FileCheck %s --check-prefix=HEADER
// HEADER: 'descr': '|b1'

func.func @main(%x: tensor<3xf32>, %y: tensor<3xf32>) -> (tensor<3xi1>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xi32>) {
  %half = dz.constant dense<1.5> : tensor<f32>
  %one = dz.constant dense<1.0> : tensor<f32>
  %three = dz.constant dense<3.0> : tensor<f32>
  %six = dz.constant dense<6.0> : tensor<f32>
  %gt = dz.greater %x, %half : (tensor<3xf32>, tensor<f32>) -> tensor<3xi1>
  %eq6 = dz.equal %y, %six : (tensor<3xf32>, tensor<f32>) -> tensor<3xi1>
  %not6 = dz.not %eq6 : tensor<3xi1>
  %and = dz.and %gt, %not6 : (tensor<3xi1>, tensor<3xi1>) -> tensor<3xi1>
  %eq1 = dz.equal %x, %one : (tensor<3xf32>, tensor<f32>) -> tensor<3xi1>
  %or = dz.or %and, %eq1 : (tensor<3xi1>, tensor<3xi1>) -> tensor<3xi1>
  %ge = dz.greater_equal %y, %six : (tensor<3xf32>, tensor<f32>) -> tensor<3xi1>
  %xor = dz.xor %ge, %eq6 : (tensor<3xi1>, tensor<3xi1>) -> tensor<3xi1>
  %mask = dz.or %or, %xor : (tensor<3xi1>, tensor<3xi1>) -> tensor<3xi1>
  %ge2 = dz.less %one, %x : (tensor<f32>, tensor<3xf32>) -> tensor<3xi1>
  %negx = dz.neg %x : tensor<3xf32>
  %sel = dz.select %ge2, %y, %negx : (tensor<3xi1>, tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  %e = dz.sub %y, %three : (tensor<3xf32>, tensor<f32>) -> tensor<3xf32>
  %pow = dz.pow %x, %e : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  %xm1 = dz.sub %x, %one : (tensor<3xf32>, tensor<f32>) -> tensor<3xf32>
  %erf = dz.erf %xm1 : tensor<3xf32>
  %xi = dz.cast %x {dtype = i32} : tensor<3xf32> -> tensor<3xi32>
  %sq = dz.mul %xi, %xi : (tensor<3xi32>, tensor<3xi32>) -> tensor<3xi32>
  %two_f = dz.constant dense<2.0> : tensor<f32>
  %le = dz.less_equal %x, %two_f : (tensor<3xf32>, tensor<f32>) -> tensor<3xi1>
  %lei = dz.cast %le {dtype = i32} : tensor<3xi1> -> tensor<3xi32>
  %int = dz.add %sq, %lei : (tensor<3xi32>, tensor<3xi32>) -> tensor<3xi32>
  return %mask, %sel, %pow, %erf, %int : tensor<3xi1>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xi32>
}
