// RUN: dz-opt %s --dz-print-memory-plan --split-input-file --allow-unregistered-dialect -o /dev/null | FileCheck %s
// RUN: dz-opt %s --dz-print-memory-plan=in-place=false --split-input-file --allow-unregistered-dialect -o /dev/null | FileCheck %s --check-prefix=NOIP

// --dz-print-memory-plan (passes/MemoryPlan.h): one line per intermediate,
// `%name size offset [start, end]` (bytes; op indices of the program order), then the
// arena size and the sum without reuse. Offsets are multiples of 64: a 400-byte tensor
// takes 448. Arguments, dz.constant and returned values are not in the arena.

// A chain of unary ops: each one writes into its dying operand, so one buffer serves the
// whole chain. Without in-place, two buffers alternate.
// CHECK-LABEL: memory plan @chain: 3 values, 1 buffers, 2 in place, alignment 64
// CHECK-NEXT: %0 400 0 [0, 1]
// CHECK-NEXT: %1 400 0 [1, 2] in-place %0
// CHECK-NEXT: %2 400 0 [2, 3] in-place %1
// CHECK-NEXT: peak 448 naive 1344
// NOIP-LABEL: memory plan @chain: 3 values, 3 buffers, 0 in place, alignment 64
// NOIP-NEXT: %0 400 0 [0, 1]
// NOIP-NEXT: %1 400 448 [1, 2]
// NOIP-NEXT: %2 400 0 [2, 3]
// NOIP-NEXT: peak 896 naive 1344
func.func @chain(%x: tensor<100xf32>) -> tensor<100xf32> {
  %0 = dz.exp %x : tensor<100xf32>
  %1 = dz.sin %0 : tensor<100xf32>
  %2 = dz.cos %1 : tensor<100xf32>
  %3 = dz.tanh %2 : tensor<100xf32>
  return %3 : tensor<100xf32>
}

// -----

// A diamond: %a feeds both branches, so %b (defined while %a is still needed) gets a
// buffer of its own; %c takes %a's buffer (%a dies there), the join takes %b's.
// CHECK-LABEL: memory plan @diamond: 4 values, 2 buffers, 2 in place, alignment 64
// CHECK-NEXT: %0 400 0 [0, 2]
// CHECK-NEXT: %1 400 448 [1, 3]
// CHECK-NEXT: %2 400 0 [2, 3] in-place %0
// CHECK-NEXT: %3 400 448 [3, 4] in-place %1
// CHECK-NEXT: peak 896 naive 1792
// NOIP-LABEL: memory plan @diamond: 4 values, 4 buffers, 0 in place
// NOIP-NEXT: %0 400 0 [0, 2]
// NOIP-NEXT: %1 400 448 [1, 3]
// NOIP-NEXT: %2 400 896 [2, 3]
// NOIP-NEXT: %3 400 0 [3, 4]
// NOIP-NEXT: peak 1344 naive 1792
func.func @diamond(%x: tensor<100xf32>) -> tensor<100xf32> {
  %a = dz.exp %x : tensor<100xf32>
  %b = dz.sin %a : tensor<100xf32>
  %c = dz.cos %a : tensor<100xf32>
  %d = dz.add %b, %c : (tensor<100xf32>, tensor<100xf32>) -> tensor<100xf32>
  %e = dz.neg %d : tensor<100xf32>
  return %e : tensor<100xf32>
}

// -----

// A value used late (%a, read again by the mul) keeps its bytes over the whole range;
// the branch in between lives beside it. The mul writes into its first dying operand.
// CHECK-LABEL: memory plan @late_use: 4 values, 2 buffers, 2 in place
// CHECK-NEXT: %0 400 0 [0, 3]
// CHECK-NEXT: %1 400 448 [1, 2]
// CHECK-NEXT: %2 400 448 [2, 3] in-place %1
// CHECK-NEXT: %3 400 0 [3, 4] in-place %0
// CHECK-NEXT: peak 896 naive 1792
// NOIP-LABEL: memory plan @late_use: 4 values, 4 buffers, 0 in place
// NOIP-NEXT: %0 400 0 [0, 3]
// NOIP-NEXT: %1 400 448 [1, 2]
// NOIP-NEXT: %2 400 896 [2, 3]
// NOIP-NEXT: %3 400 448 [3, 4]
// NOIP-NEXT: peak 1344 naive 1792
func.func @late_use(%x: tensor<100xf32>) -> tensor<100xf32> {
  %a = dz.exp %x : tensor<100xf32>
  %b = dz.sin %x : tensor<100xf32>
  %c = dz.cos %b : tensor<100xf32>
  %d = dz.mul %a, %c : (tensor<100xf32>, tensor<100xf32>) -> tensor<100xf32>
  %e = dz.neg %d : tensor<100xf32>
  return %e : tensor<100xf32>
}

// -----

// Mixed sizes: the relu writes into the matmul's result (32768 bytes), the second
// matmul's result (4096) is live with it at index 2 and goes above it. The reshape of
// a dying operand is a view of its bytes (in place); the sum is returned.
// CHECK-LABEL: memory plan @mlp: 4 values, 2 buffers, 2 in place
// CHECK-NEXT: %0 32768 0 [0, 1]
// CHECK-NEXT: %1 32768 0 [1, 2] in-place %0
// CHECK-NEXT: %2 4096 32768 [2, 3]
// CHECK-NEXT: %3 4096 32768 [3, 4] in-place %2
// CHECK-NEXT: peak 36864 naive 73728
// NOIP-LABEL: memory plan @mlp: 4 values, 4 buffers, 0 in place
// NOIP-NEXT: %0 32768 0 [0, 1]
// NOIP-NEXT: %1 32768 32768 [1, 2]
// NOIP-NEXT: %2 4096 0 [2, 3]
// NOIP-NEXT: %3 4096 4096 [3, 4]
// NOIP-NEXT: peak 65536 naive 73728
func.func @mlp(%x: tensor<64x32xf32>, %w1: tensor<32x128xf32>, %w2: tensor<128x16xf32>) -> tensor<f32> {
  %h = dz.matmul %x, %w1 : (tensor<64x32xf32>, tensor<32x128xf32>) -> tensor<64x128xf32>
  %r = dz.relu %h : tensor<64x128xf32>
  %y = dz.matmul %r, %w2 : (tensor<64x128xf32>, tensor<128x16xf32>) -> tensor<64x16xf32>
  %f = dz.reshape %y {shape = array<i64: 1024>} : tensor<64x16xf32> -> tensor<1024xf32>
  %s = dz.sum %f {axes = array<i64>, keepdims = false} : tensor<1024xf32> -> tensor<f32>
  return %s : tensor<f32>
}

// -----

// Constants count in the op indices but take no arena bytes; a broadcasting operand
// (tensor<3xf64>) cannot take a tensor<4x3xf64> result; an unused value lives at its
// definition only; i64 elements are 8 bytes.
// CHECK-LABEL: memory plan @constants_and_broadcast: 4 values, 4 buffers, 0 in place
// CHECK-NEXT: %1 24 128 [1, 2]
// CHECK-NEXT: %2 96 0 [2, 5]
// CHECK-NEXT: %3 96 128 [3, 3]
// CHECK-NEXT: %4 32 128 [4, 4]
// CHECK-NEXT: peak 256 naive 384
func.func @constants_and_broadcast(%x: tensor<4x3xf64>, %t: tensor<4xi64>) -> tensor<4x3xf64> {
  %c = dz.constant dense<2.0> : tensor<3xf64>
  %a = dz.exp %c : tensor<3xf64>
  %b = dz.mul %x, %a : (tensor<4x3xf64>, tensor<3xf64>) -> tensor<4x3xf64>
  %dead = dz.neg %b : tensor<4x3xf64>
  %n = dz.neg %t : tensor<4xi64>
  %r = dz.add %b, %x : (tensor<4x3xf64>, tensor<4x3xf64>) -> tensor<4x3xf64>
  return %r : tensor<4x3xf64>
}

// -----

// An op with a region (a fused kernel) is one op: its body's values are not planned, and
// %a, read inside the body, lives until the op.
// CHECK-LABEL: memory plan @region: 2 values, 2 buffers, 0 in place
// CHECK-NEXT: %0 400 0 [0, 1]
// CHECK-NEXT: %1 400 448 [1, 2]
// CHECK-NEXT: peak 896 naive 896
func.func @region(%x: tensor<100xf32>) -> tensor<100xf32> {
  %a = dz.exp %x : tensor<100xf32>
  %k = "test.kernel"(%x) ({
    %i = dz.neg %a : tensor<100xf32>
    "test.yield"(%i) : (tensor<100xf32>) -> ()
  }) : (tensor<100xf32>) -> tensor<100xf32>
  %n = dz.neg %k : tensor<100xf32>
  return %n : tensor<100xf32>
}

// -----

// Best fit: when %5 (192 bytes, [5, 6]) is placed, the live buffers leave two gaps that
// hold it, [0, 256) and [512, 704); it takes the smaller, so that %4 (128 bytes) still
// fits below and the arena is 896 bytes (first fit would put %5 at 0 and need 1024).
// Buffers go in by decreasing size: %1 %3 %0 %2 %5 %4.
// CHECK-LABEL: memory plan @best_fit: 6 values, 6 buffers, 0 in place
// CHECK-NEXT: %0 192 512 [0, 4]
// CHECK-NEXT: %1 256 0 [1, 3]
// CHECK-NEXT: %2 192 704 [2, 6]
// CHECK-NEXT: %3 256 256 [3, 5]
// CHECK-NEXT: %4 128 0 [4, 6]
// CHECK-NEXT: %5 192 512 [5, 6]
// CHECK-NEXT: peak 896 naive 1216
func.func @best_fit(%x: tensor<16xf32>) -> tensor<16xf32> {
  %0 = "test.op"(%x) : (tensor<16xf32>) -> tensor<48xf32>
  %1 = "test.op"(%x) : (tensor<16xf32>) -> tensor<64xf32>
  %2 = "test.op"(%x) : (tensor<16xf32>) -> tensor<48xf32>
  %3 = "test.op"(%1) : (tensor<64xf32>) -> tensor<64xf32>
  %4 = "test.op"(%0) : (tensor<48xf32>) -> tensor<32xf32>
  %5 = "test.op"(%3) : (tensor<64xf32>) -> tensor<48xf32>
  %6 = "test.op"(%2, %4, %5) : (tensor<48xf32>, tensor<32xf32>, tensor<48xf32>) -> tensor<16xf32>
  return %6 : tensor<16xf32>
}
