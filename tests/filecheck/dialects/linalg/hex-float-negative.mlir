// RUN: not mirage-mlir-opt %s 2>&1 | filecheck %s

func.func @negative() -> tensor<2xf32> {
  // CHECK: hex-float-negative.mlir:[[# @LINE + 1]]:29: error: hexadecimal float literal should not have a leading minus
  %0 = arith.constant dense<-0x3F800000> : tensor<2xf32>
  func.return %0 : tensor<2xf32>
}
