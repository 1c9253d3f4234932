// RUN: not mirage-mlir-opt %s 2>&1 | filecheck %s
// RUN: mirage-mlir-opt %s --verify-diagnostics | filecheck %s

// IR that parses but does not verify is reported at the offending op.  With
// --verify-diagnostics the diagnostic goes to stdout and the exit status is 0.

func.func @f(%a: tensor<2x4xf32>) -> tensor<2x4xf32> {
  // CHECK: verify-error.mlir:[[# @LINE + 2]]:3: error: 'linalg.matmul' op inferred input/output operand #1 has shape's dimension #0 to be 4, but found 2
  // CHECK-NEXT: {{^}}  %0 = linalg.matmul
  %0 = linalg.matmul ins(%a, %a : tensor<2x4xf32>, tensor<2x4xf32>) outs(%a : tensor<2x4xf32>) -> tensor<2x4xf32>
  func.return %0 : tensor<2x4xf32>
}
// CHECK-NOT: Traceback
