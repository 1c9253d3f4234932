// RUN: mirage-mlir-opt %examples/e4_einsum_chain.mlir | filecheck %s
// RUN: mirage-mlir-opt %examples/e4_einsum_chain.mlir | mirage-mlir-opt | filecheck %s
// REQUIRES: full-suite

// E4, einsum("ik,kj,jl,lm->im") with i=100, k=10, j=20, l=5, m=100: three
// batch matmuls (batch 1) between transposes and expand/collapse_shape.

// CHECK-LABEL: func.func @main
// CHECK-SAME: (%{{.*}}: tensor<100x10xf32>, %{{.*}}: tensor<10x20xf32>, %{{.*}}: tensor<20x5xf32>, %{{.*}}: tensor<5x100xf32>) -> tensor<100x100xf32>
// CHECK: tensor.expand_shape
// CHECK: linalg.transpose
// CHECK: linalg.batch_matmul ins(%{{.*}}, %{{.*}} : tensor<1x100x10xf32>, tensor<1x10x20xf32>) outs(%{{.*}} : tensor<1x100x20xf32>) -> tensor<1x100x20xf32>
// CHECK: linalg.batch_matmul ins(%{{.*}}, %{{.*}} : tensor<1x100x20xf32>, tensor<1x20x5xf32>) outs(%{{.*}} : tensor<1x100x5xf32>) -> tensor<1x100x5xf32>
// CHECK: linalg.batch_matmul ins(%{{.*}}, %{{.*}} : tensor<1x100x5xf32>, tensor<1x5x100xf32>) outs(%{{.*}} : tensor<1x100x100xf32>) -> tensor<1x100x100xf32>
// CHECK-NOT: linalg.batch_matmul
// CHECK: tensor.collapse_shape
// CHECK: func.return %{{.*}} : tensor<100x100xf32>
