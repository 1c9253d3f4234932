// RUN: mirage-mlir-opt %examples/e7_llama_attention.mlir | filecheck %s
// RUN: mirage-mlir-opt %examples/e7_llama_attention.mlir | mirage-mlir-opt | filecheck %s
// REQUIRES: full-suite

// E7, a Llama-style block: RMSNorm, q/k/v projections, grouped-query causal
// attention (8 query heads, 2 KV heads), output projection; weights as blobs.

// CHECK-LABEL: func.func @main
// CHECK-SAME: (%{{.*}}: tensor<1x128x512xf32>) -> tensor<1x128x512xf32>
// CHECK-DAG: arith.constant 0xff800000 : f32
// CHECK-DAG: arith.constant dense<0xff800000> : tensor<f32>
// CHECK-NOT: e+09
// CHECK: math.fpowi
// CHECK: math.rsqrt
// CHECK: linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<128x512xf32>, tensor<512x512xf32>)
// CHECK: linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<128x512xf32>, tensor<512x128xf32>)
// CHECK: linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<128x512xf32>, tensor<512x128xf32>)
// CHECK: linalg.batch_matmul ins(%{{.*}}, %{{.*}} : tensor<8x128x64xf32>, tensor<8x64x128xf32>)
// CHECK: } -> (tensor<1x8x128xf32>, tensor<1x8x128xi64>)
// CHECK: math.exp
// CHECK: linalg.batch_matmul ins(%{{.*}}, %{{.*}} : tensor<8x128x128xf32>, tensor<8x128x64xf32>)
// CHECK: linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<128x512xf32>, tensor<512x512xf32>)
// CHECK: func.return %{{.*}} : tensor<1x128x512xf32>
// CHECK: dialect_resources: {
// CHECK: #-}
