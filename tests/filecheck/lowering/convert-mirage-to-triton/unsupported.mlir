// RUN: not mirage-mlir-opt %s -p convert-mirage-to-triton 2>&1 | filecheck %s

// An op no template lowers is a located error, not a traceback.

func.func @main(%q: tensor<1x128x64xf32>, %k: tensor<1x128x64xf32>, %v: tensor<1x128x64xf32>) -> tensor<1x128x64xf32> {
  %o = mirage.attention %q, %k, %v scale 1.250000e-01 : tensor<1x128x64xf32>, tensor<1x128x64xf32>, tensor<1x128x64xf32> -> tensor<1x128x64xf32>
  func.return %o : tensor<1x128x64xf32>
}

// CHECK: unsupported.mlir:6:3: error: convert-mirage-to-triton: 'mirage.attention' cannot be lowered to Triton yet
// CHECK-NOT: Traceback
