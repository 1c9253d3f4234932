// RUN: mirage-mlir-opt %s --split-input-file --verify-diagnostics --parsing-diagnostics | filecheck %s

func.func @result_type(%x: tensor<4x8xf32>) -> tensor<4x8xf64> {
  // CHECK: invalid.mlir:[[# @LINE + 1]]:{{[0-9]+}}
  %s = tm_tensor.sort dimension(1) outs(%x : tensor<4x8xf32>) {
  ^bb0(%a: f32, %b: f32):
    %lt = arith.cmpf olt, %a, %b : f32
    tm_tensor.yield %lt : i1
  } -> tensor<4x8xf64>
  func.return %s : tensor<4x8xf64>
}
// CHECK-SAME: error: 'tm_tensor.sort' op results (tensor<4x8xf64>) must have the types of the tensor outs (tensor<4x8xf32>)

// -----

func.func @no_yield(%x: tensor<4x8xf32>, %o: tensor<4x8xf32>, %acc: tensor<4xf32>) -> tensor<4x8xf32> {
  // CHECK: invalid.mlir:[[# @LINE + 1]]:{{[0-9]+}}
  %r:2 = tm_tensor.scan dimension(1) inclusive(true) ins(%x : tensor<4x8xf32>) outs(%o, %acc : tensor<4x8xf32>, tensor<4xf32>) {
  ^bb0(%a: f32, %b: f32):
    %s = arith.addf %a, %b : f32
    "test.termop"(%s) : (f32) -> ()
  } -> tensor<4x8xf32>, tensor<4xf32>
  func.return %r#0 : tensor<4x8xf32>
}
// CHECK-SAME: error: 'tm_tensor.scan' op the region must end in tm_tensor.yield

// -----

func.func @dimension_syntax(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  // CHECK: invalid.mlir:[[# @LINE + 1]]:33:
  %s = tm_tensor.sort dimension("one") outs(%x : tensor<4x8xf32>) {
  ^bb0(%a: f32, %b: f32):
    %lt = arith.cmpf olt, %a, %b : f32
    tm_tensor.yield %lt : i1
  } -> tensor<4x8xf32>
  func.return %s : tensor<4x8xf32>
}
// CHECK-SAME: error: Expected integer literal
