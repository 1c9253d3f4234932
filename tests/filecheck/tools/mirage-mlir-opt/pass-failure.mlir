// RUN: rm -rf %t && mkdir -p %t
// RUN: env TMPDIR=%t not mirage-mlir-opt %s -p 'convert-linalg-to-loops' 2>&1 | filecheck %s

// A pass that raises: the module it was given is saved and the command that
// reproduces the failure is printed.  (xDSL's convert-linalg-to-loops does not
// lower linalg on tensors.)

// CHECK: mirage-mlir-opt: error: pass 'convert-linalg-to-loops' failed: NotImplementedError: lowering for linalg.fill with tensor results not yet supported
// CHECK-NEXT: note: the pipeline's input module was saved to [[DIR:.*]]reproducer.mlir
// CHECK-NEXT: note: reproduce with: mirage-mlir-opt [[DIR]]reproducer.mlir -p convert-linalg-to-loops
// CHECK-NEXT: note: Python traceback in [[DIR]]traceback.txt
// CHECK-NOT: Traceback (most recent call last)
func.func @fill(%x: f32) -> tensor<4xf32> {
  %0 = tensor.empty() : tensor<4xf32>
  %1 = linalg.fill ins(%x : f32) outs(%0 : tensor<4xf32>) -> tensor<4xf32>
  func.return %1 : tensor<4xf32>
}
