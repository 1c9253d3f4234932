// RUN: mirage-mlir-opt %examples/e2_attention_heads.mlir | filecheck %s
// RUN: mirage-mlir-opt %examples/e2_attention_heads.mlir | mirage-mlir-opt | filecheck %s
// REQUIRES: full-suite

// E2 with heads, Q, K, V 1x4x256x64: heads collapse into the batch of the
// batch matmuls.

// CHECK-LABEL: func.func @main
// CHECK-SAME: (%{{.*}}: tensor<1x4x256x64xf32>, %{{.*}}: tensor<1x4x256x64xf32>, %{{.*}}: tensor<1x4x256x64xf32>) -> tensor<1x4x256x64xf32>
// CHECK: arith.constant 0xff800000 : f32
// CHECK: linalg.transpose {{.*}} permutation = [0, 1, 3, 2]
// CHECK: tensor.collapse_shape
// CHECK: linalg.batch_matmul ins(%{{.*}}, %{{.*}} : tensor<4x256x64xf32>, tensor<4x64x256xf32>) outs(%{{.*}} : tensor<4x256x256xf32>) -> tensor<4x256x256xf32>
// CHECK: } -> (tensor<1x4x256xf32>, tensor<1x4x256xi64>)
// CHECK: math.exp
// CHECK: linalg.batch_matmul ins(%{{.*}}, %{{.*}} : tensor<4x256x256xf32>, tensor<4x256x64xf32>) outs(%{{.*}} : tensor<4x256x64xf32>) -> tensor<4x256x64xf32>
// CHECK: tensor.expand_shape
// CHECK: func.return %{{.*}} : tensor<1x4x256x64xf32>
