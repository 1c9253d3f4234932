// RUN: not mirage-mlir-opt %s 2>&1 | filecheck %s

// Malformed MLIR: one located diagnostic, the source line and a caret, exit
// status 1, no Python traceback.

func.func @f(%x: i32) -> i32 {
  // CHECK: parse-error.mlir:[[# @LINE + 3]]:19: error: operand is used with type i64, but has been previously used or defined with type i32
  // CHECK-NEXT: {{^}}  %0 = arith.addi %x, %x : i64
  // CHECK-NEXT: {{^}}                  ^^
  %0 = arith.addi %x, %x : i64
  func.return %0 : i32
}
// CHECK-NOT: Traceback
