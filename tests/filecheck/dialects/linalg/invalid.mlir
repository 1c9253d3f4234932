// RUN: mirage-mlir-opt %s --split-input-file --verify-diagnostics --parsing-diagnostics | filecheck %s

func.func @batch_matmul_arity(%a: tensor<2x8x4xf32>, %c: tensor<2x8x8xf32>) -> tensor<2x8x8xf32> {
  // CHECK: invalid.mlir:[[# @LINE + 1]]:{{[0-9]+}}
  %0 = linalg.batch_matmul ins(%a : tensor<2x8x4xf32>) outs(%c : tensor<2x8x8xf32>) -> tensor<2x8x8xf32>
  func.return %0 : tensor<2x8x8xf32>
}
// CHECK: linalg.batch_matmul expects 2 inputs and 1 output, got 1 and 1

// -----

func.func @batch_matmul_shapes(%a: tensor<2x8x4xf32>, %b: tensor<2x5x8xf32>, %c: tensor<2x8x8xf32>) -> tensor<2x8x8xf32> {
  // CHECK: invalid.mlir:[[# @LINE + 1]]:3: error: 'linalg.batch_matmul' op inferred input/output operand #1 has shape's dimension #1 to be 4, but found 5
  %0 = linalg.batch_matmul ins(%a, %b : tensor<2x8x4xf32>, tensor<2x5x8xf32>) outs(%c : tensor<2x8x8xf32>) -> tensor<2x8x8xf32>
  func.return %0 : tensor<2x8x8xf32>
}

// -----

func.func @generic_result_count(%x: tensor<4xf32>) -> tensor<4xf32> {
  // CHECK: invalid.mlir:[[# @LINE + 1]]:{{[0-9]+}}
  %0:2 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%x : tensor<4xf32>) outs(%x : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<4xf32>
  func.return %0#0 : tensor<4xf32>
}
// CHECK: Operation has 1 results, but was given 2 to bind.

// -----

func.func @generic_without_maps(%x: tensor<4xf32>) -> tensor<4xf32> {
  // CHECK: invalid.mlir:[[# @LINE + 1]]:{{[0-9]+}}
  %0 = linalg.generic {iterator_types = ["parallel"]} ins(%x : tensor<4xf32>) outs(%x : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}
// CHECK: expected 'indexing_maps' to be an array of affine maps in the attribute dictionary of linalg.generic
