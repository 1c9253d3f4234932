// RUN: not mirage-mlir-opt %s -p 'canonicalize{no-such-option=1}' 2>&1 | filecheck %s
// RUN: not mirage-mlir-opt %s -p 'canonicalize{' 2>&1 | filecheck %s --check-prefix=SYNTAX

// CHECK: mirage-mlir-opt: error: bad options for pass 'canonicalize' in -p pipeline 'canonicalize{no-such-option=1}'
// CHECK-SAME: no_such_option
// CHECK-NOT: Traceback

// SYNTAX: mirage-mlir-opt: error: malformed -p pipeline at pass-pipeline:1:14
// SYNTAX-NEXT: canonicalize{
// SYNTAX-NEXT: {{^}}             ^
// SYNTAX-NOT: Traceback
func.func @f() {
  func.return
}
