// RUN: mirage-mlir-opt %s --split-input-file | filecheck %s
// RUN: mirage-mlir-opt - --split-input-file < %s | filecheck %s

// Each `// -----` chunk is its own module, printed in order and separated by
// the same marker.

// CHECK: builtin.module {
// CHECK-LABEL: func.func @first
func.func @first() {
  func.return
}

// -----

// CHECK: // -----
// CHECK-NEXT: builtin.module {
// CHECK-LABEL: func.func @second
// The same SSA name in two chunks does not clash.
// CHECK: arith.constant 1 : i32
func.func @second() -> i32 {
  %x = arith.constant 1 : i32
  func.return %x : i32
}

// -----

// CHECK: // -----
// CHECK-NEXT: builtin.module {
// CHECK-LABEL: func.func @third
// CHECK: arith.constant 2 : i32
func.func @third() -> i32 {
  %x = arith.constant 2 : i32
  func.return %x : i32
}
