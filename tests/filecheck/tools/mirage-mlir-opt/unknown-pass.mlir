// RUN: not mirage-mlir-opt %s -p canonicalise 2>&1 | filecheck %s

// CHECK: mirage-mlir-opt: error: unknown pass 'canonicalise' in -p pipeline 'canonicalise'
// CHECK-NEXT: note: did you mean: canonicalize
// CHECK-NOT: Traceback
func.func @f() {
  func.return
}
