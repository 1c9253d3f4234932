// RUN: not mirage-mlir-opt %t.does-not-exist.mlir 2>&1 | filecheck %s

// CHECK: mirage-mlir-opt: error: could not open input file '{{.*}}does-not-exist.mlir': No such file or directory
// CHECK-NOT: Traceback
