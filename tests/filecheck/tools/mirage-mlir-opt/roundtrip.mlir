// RUN: mirage-mlir-opt %s | filecheck %s
// RUN: mirage-mlir-opt %s | mirage-mlir-opt | filecheck %s
// RUN: mirage-mlir-opt - < %s | filecheck %s
// RUN: mirage-mlir-opt < %s | filecheck %s
// RUN: mirage-mlir-opt %s -o %t && filecheck %s < %t
// REQUIRES: full-suite

// A module prints back to itself: from a file, from stdin (`-` or nothing),
// and to a file with -o.

// CHECK: builtin.module {
// CHECK-LABEL: func.func @scaled_matmul
// CHECK-SAME: (%[[A:.*]]: tensor<4x8xf32>, %[[B:.*]]: tensor<8x16xf32>) -> tensor<4x16xf32>
func.func @scaled_matmul(%a: tensor<4x8xf32>, %b: tensor<8x16xf32>) -> tensor<4x16xf32> {
  // CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
  %zero = arith.constant 0.000000e+00 : f32
  // CHECK: %[[EMPTY:.*]] = tensor.empty() : tensor<4x16xf32>
  %empty = tensor.empty() : tensor<4x16xf32>
  // CHECK: %[[FILL:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[EMPTY]] : tensor<4x16xf32>) -> tensor<4x16xf32>
  %fill = linalg.fill ins(%zero : f32) outs(%empty : tensor<4x16xf32>) -> tensor<4x16xf32>
  // CHECK: %[[MM:.*]] = linalg.matmul ins(%[[A]], %[[B]] : tensor<4x8xf32>, tensor<8x16xf32>) outs(%[[FILL]] : tensor<4x16xf32>) -> tensor<4x16xf32>
  %mm = linalg.matmul ins(%a, %b : tensor<4x8xf32>, tensor<8x16xf32>) outs(%fill : tensor<4x16xf32>) -> tensor<4x16xf32>
  // CHECK: func.return %[[MM]] : tensor<4x16xf32>
  func.return %mm : tensor<4x16xf32>
}
