// RUN: mirage-mlir-opt %examples/e2_attention_causal.mlir | filecheck %s
// RUN: mirage-mlir-opt %examples/e2_attention_causal.mlir | mirage-mlir-opt | filecheck %s
// REQUIRES: full-suite

// E2 with a causal mask: the mask is built from linalg.index and selects
// -inf from a hex-literal dense constant, which must stay -inf.

// CHECK-LABEL: func.func @main
// CHECK-SAME: -> tensor<1x4x256x64xf32>
// CHECK: arith.constant 0xff800000 : f32
// CHECK: %[[MASKED:.*]] = arith.constant dense<0xff800000> : tensor<f32>
// CHECK-NOT: e+09
// CHECK: linalg.batch_matmul ins(%{{.*}}, %{{.*}} : tensor<4x256x64xf32>, tensor<4x64x256xf32>)
// CHECK: linalg.index 0 : index
// CHECK: arith.cmpi
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %[[MASKED]], %{{.*}} : tensor<256x256xi1>, tensor<f32>, tensor<1x4x256x256xf32>)
// CHECK: arith.select
// CHECK: } -> (tensor<1x4x256xf32>, tensor<1x4x256xi64>)
// CHECK: math.exp
// CHECK: linalg.batch_matmul ins(%{{.*}}, %{{.*}} : tensor<4x256x256xf32>, tensor<4x256x64xf32>)
// CHECK: func.return
