// RUN: not mirage-mlir-opt %s 2>&1 | filecheck %s
// RUN: mirage-mlir-opt %s --allow-unregistered-dialect | filecheck %s --check-prefix=ALLOW

func.func @f() {
  // CHECK: unknown-op.mlir:[[# @LINE + 3]]:4: error: unregistered operation 'nosuch.op'
  // CHECK-NOT: Traceback
  // ALLOW: "nosuch.op"() : () -> ()
  "nosuch.op"() : () -> ()
  func.return
}
