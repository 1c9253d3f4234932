// RUN: not mirage-mlir-opt %s --split-input-file 2>&1 | filecheck %s

// tt syntax errors: each is reported at its place, with exit status 1.

tt.func @load_not_pointer(%p: tensor<4xf32>) {
  // CHECK: invalid-syntax.mlir:[[# @LINE + 1]]:21: error: expected a pointer or a tensor of pointers, got tensor<4xf32>
  %x = tt.load %p : tensor<4xf32>
  tt.return
}

// -----

tt.func @program_axis() {
  // CHECK: invalid-syntax.mlir:[[# @LINE + 1]]:26: error: Expected one of 'x', 'y', 'z' as the program axis
  %p = tt.get_program_id w : i32
  tt.return
}
