// RUN: not mirage-mlir-opt %s --split-input-file 2>&1 | filecheck %s

// A hex float literal wider than its element type, or with a minus sign, is
// rejected with its place in the file (MLIR rejects both too).

func.func @too_wide() -> tensor<2xf32> {
  // CHECK: hex-float-invalid.mlir:[[# @LINE + 2]]:29: error: hexadecimal float constant out of range for type f32
  // CHECK-NEXT: dense<0x1FF800000>
  %0 = arith.constant dense<0x1FF800000> : tensor<2xf32>
  func.return %0 : tensor<2xf32>
}
