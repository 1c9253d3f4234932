// RUN: %python -m mirage_mlir.tools.mirage_mlir_opt %s | filecheck %s
// RUN: not %python -m mirage_mlir.tools.mirage_mlir_opt %s -p no-such-pass 2>&1 | filecheck %s --check-prefix=ERR

// The tool also runs as `python -m mirage_mlir.tools.mirage_mlir_opt`.

// CHECK-LABEL: func.func @f
// ERR: mirage-mlir-opt: error: unknown pass 'no-such-pass'
func.func @f() {
  func.return
}
