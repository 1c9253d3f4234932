// RUN: mirage-mlir-opt %s | filecheck %s
// RUN: mirage-mlir-opt %s | mirage-mlir-opt | filecheck %s
// RUN: mirage-mlir-opt %s --print-op-generic | filecheck %s --check-prefix=GENERIC
// RUN: mirage-mlir-opt %s --print-op-generic | mirage-mlir-opt | filecheck %s

// linalg.batch_matmul, which xDSL 0.74 does not define.  torch-mlir writes
// einsum and attention with it.  The printed form is MLIR's.

// CHECK-LABEL: func.func @batch_matmul
// CHECK-SAME: (%[[A:.*]]: tensor<2x8x4xf32>, %[[B:.*]]: tensor<2x4x8xf32>, %[[C:.*]]: tensor<2x8x8xf32>)
// GENERIC-LABEL: "func.func"
func.func @batch_matmul(%a: tensor<2x8x4xf32>, %b: tensor<2x4x8xf32>, %c: tensor<2x8x8xf32>) -> tensor<2x8x8xf32> {
  // CHECK: %[[R:.*]] = linalg.batch_matmul ins(%[[A]], %[[B]] : tensor<2x8x4xf32>, tensor<2x4x8xf32>) outs(%[[C]] : tensor<2x8x8xf32>) -> tensor<2x8x8xf32>
  // GENERIC: "linalg.batch_matmul"
  // GENERIC-SAME: indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d3, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>]
  // GENERIC-NEXT: ^{{.*}}(%[[LHS:.*]]: f32, %[[RHS:.*]]: f32, %[[ACC:.*]]: f32):
  // GENERIC-NEXT: %[[P:.*]] = "arith.mulf"(%[[LHS]], %[[RHS]])
  // GENERIC-NEXT: %[[S:.*]] = "arith.addf"(%[[ACC]], %[[P]])
  // GENERIC-NEXT: "linalg.yield"(%[[S]])
  %0 = linalg.batch_matmul ins(%a, %b : tensor<2x8x4xf32>, tensor<2x4x8xf32>) outs(%c : tensor<2x8x8xf32>) -> tensor<2x8x8xf32>
  // CHECK: func.return %[[R]]
  func.return %0 : tensor<2x8x8xf32>
}

// Integer inputs are sign-extended to the accumulator's type, as in MLIR.

// CHECK-LABEL: func.func @mixed_types
// GENERIC-LABEL: "func.func"
func.func @mixed_types(%a: tensor<2x8x4xi8>, %b: tensor<2x4x8xi8>, %c: tensor<2x8x8xi32>) -> tensor<2x8x8xi32> {
  // CHECK: linalg.batch_matmul ins(%{{.*}}, %{{.*}} : tensor<2x8x4xi8>, tensor<2x4x8xi8>) outs(%{{.*}} : tensor<2x8x8xi32>) -> tensor<2x8x8xi32>
  // GENERIC: ^{{.*}}(%[[LHS:.*]]: i8, %[[RHS:.*]]: i8, %[[ACC:.*]]: i32):
  // GENERIC-NEXT: %[[L:.*]] = "arith.extsi"(%[[LHS]]) : (i8) -> i32
  // GENERIC-NEXT: %[[R:.*]] = "arith.extsi"(%[[RHS]]) : (i8) -> i32
  // GENERIC-NEXT: %[[P:.*]] = "arith.muli"(%[[L]], %[[R]])
  // GENERIC-NEXT: "arith.addi"(%[[ACC]], %[[P]])
  %0 = linalg.batch_matmul ins(%a, %b : tensor<2x8x4xi8>, tensor<2x4x8xi8>) outs(%c : tensor<2x8x8xi32>) -> tensor<2x8x8xi32>
  func.return %0 : tensor<2x8x8xi32>
}

// Non-default indexing maps (here a transposed right-hand side) are printed
// in MLIR's `indexing_maps = [...]` syntax; default ones are not.  Extra
// attributes print in a dictionary before `ins`.

// CHECK-LABEL: func.func @transposed_rhs
func.func @transposed_rhs(%a: tensor<2x8x4xf32>, %bt: tensor<2x8x4xf32>, %b: tensor<2x4x8xf32>, %c: tensor<2x8x8xf32>) -> tensor<2x8x8xf32> {
  // CHECK: linalg.batch_matmul indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>] {mirage.tag = 1 : i32} ins(
  %0 = linalg.batch_matmul indexing_maps = [affine_map<(b, i, j, k) -> (b, i, k)>, affine_map<(b, i, j, k) -> (b, j, k)>, affine_map<(b, i, j, k) -> (b, i, j)>] {mirage.tag = 1 : i32} ins(%a, %bt : tensor<2x8x4xf32>, tensor<2x8x4xf32>) outs(%c : tensor<2x8x8xf32>) -> tensor<2x8x8xf32>
  // CHECK: linalg.batch_matmul ins(
  %1 = linalg.batch_matmul indexing_maps = [affine_map<(b, i, j, k) -> (b, i, k)>, affine_map<(b, i, j, k) -> (b, k, j)>, affine_map<(b, i, j, k) -> (b, i, j)>] ins(%a, %b : tensor<2x8x4xf32>, tensor<2x4x8xf32>) outs(%c : tensor<2x8x8xf32>) -> tensor<2x8x8xf32>
  func.return %0 : tensor<2x8x8xf32>
}
