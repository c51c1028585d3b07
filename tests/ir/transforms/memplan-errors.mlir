// RUN: dz-opt %s --dz-print-memory-plan --split-input-file --verify-diagnostics --allow-unregistered-dialect -o /dev/null

// The memory plan needs one straight-line block of statically shaped tensors; anything
// else is an error at the function or the op (the ops here stand for IR from elsewhere).

// expected-error @+1 {{'func.func' op has several blocks; the memory plan needs one straight-line block}}
func.func @blocks(%x: tensor<3xf32>) -> tensor<3xf32> {
  "test.br"() [^bb1] : () -> ()
^bb1:
  return %x : tensor<3xf32>
}

// -----

func.func @dynamic(%x: tensor<3xf32>) -> tensor<3xf32> {
  // expected-error @+1 {{'test.op' op has result type 'tensor<?xf32>'; the memory plan needs statically shaped tensors}}
  %0 = "test.op"(%x) : (tensor<3xf32>) -> tensor<?xf32>
  "test.use"(%0) : (tensor<?xf32>) -> ()
  return %x : tensor<3xf32>
}

// -----

func.func @scalar(%x: tensor<3xf32>) -> tensor<3xf32> {
  // expected-error @+1 {{'test.op' op has result type 'i32'; the memory plan needs statically shaped tensors}}
  %0 = "test.op"(%x) : (tensor<3xf32>) -> i32
  "test.use"(%0) : (i32) -> ()
  return %x : tensor<3xf32>
}
