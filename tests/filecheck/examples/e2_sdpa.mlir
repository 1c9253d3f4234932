// RUN: mirage-mlir-opt %examples/e2_sdpa.mlir | filecheck %s
// RUN: mirage-mlir-opt %examples/e2_sdpa.mlir | mirage-mlir-opt | filecheck %s
// REQUIRES: full-suite

// E2 through F.scaled_dot_product_attention: the scale is split between q and
// k^T, and a guard maps rows that are all -inf to 0.

// CHECK-LABEL: func.func @main
// CHECK-SAME: -> tensor<1x4x256x64xf32>
// CHECK: arith.constant 0xff800000 : f32
// CHECK: arith.mulf
// CHECK: linalg.transpose {{.*}} permutation = [0, 1, 3, 2]
// CHECK: arith.mulf
// CHECK: linalg.batch_matmul ins(%{{.*}}, %{{.*}} : tensor<4x256x64xf32>, tensor<4x64x256xf32>)
// CHECK: } -> (tensor<1x4x256xf32>, tensor<1x4x256xi64>)
// CHECK: math.exp
// CHECK: arith.cmpf oeq
// CHECK: arith.select
// CHECK: linalg.batch_matmul ins(%{{.*}}, %{{.*}} : tensor<4x256x256xf32>, tensor<4x256x64xf32>)
// CHECK: func.return
