// RUN: not mirage-mlir-opt %s -p convert-mirage-to-triton 2>&1 | filecheck %s

// An op no template lowers (here a standalone row sum whose result is not a full row) is a
// located error, not a traceback.

func.func @main(%x: tensor<8x16xf32>, %init: tensor<8xf32>) -> tensor<8xf32> {
  %s = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%x : tensor<8x16xf32>) outs(%init : tensor<8xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %r = arith.addf %in, %acc : f32
    linalg.yield %r : f32
  } -> tensor<8xf32>
  func.return %s : tensor<8xf32>
}

// CHECK: unsupported.mlir:7:3: error: convert-mirage-to-triton: 'linalg.generic' cannot be lowered to Triton yet
// CHECK-NOT: Traceback
