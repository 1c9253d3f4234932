// RUN: not mirage-mlir-opt %s --split-input-file 2>&1 | filecheck %s
// RUN: mirage-mlir-opt %s --split-input-file --verify-diagnostics --parsing-diagnostics | filecheck %s

// Every failing chunk is reported, with lines counted in the whole file.

func.func @good() {
  func.return
}

// -----

func.func @bad_types(%x: i32) -> i32 {
  // CHECK: split-input-errors.mlir:[[# @LINE + 1]]:19: error: operand is used with type i64
  %0 = arith.addi %x, %x : i64
  func.return %0 : i32
}

// -----

func.func @bad_shapes(%a: tensor<2x4xf32>) -> tensor<2x4xf32> {
  // CHECK: split-input-errors.mlir:[[# @LINE + 1]]:3: error: 'linalg.matmul' op
  %0 = linalg.matmul ins(%a, %a : tensor<2x4xf32>, tensor<2x4xf32>) outs(%a : tensor<2x4xf32>) -> tensor<2x4xf32>
  func.return %0 : tensor<2x4xf32>
}
