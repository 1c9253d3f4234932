// RUN: not mirage-mlir-opt %s 2>&1 | filecheck %s

// An op built with a type its definition does not allow.

func.func @f(%a: i32) -> f32 {
  // CHECK: type-error.mlir:[[# @LINE + 1]]:3: error: 'arith.addi' op
  %0 = arith.addi %a, %a : f32
  func.return %0 : f32
}
// CHECK-NOT: Traceback
