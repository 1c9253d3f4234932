// RUN: mirage-mlir-opt --version | filecheck %s
// RUN: %python -m mirage_mlir.tools.mirage_mlir_opt --version | filecheck %s

// CHECK: mirage-mlir-opt {{[0-9.]+}} (mirage-mlir, built on xDSL {{[0-9.]+}})
