// RUN: mirage-mlir-opt %examples/e4_einsum_chain.mlir -p 'eqsat-optimize{target=flops}' | filecheck %s

// einsum("ik,kj,jl,lm->im") with i=100, k=10, j=20, l=5, m=100, imported as batch_matmuls with
// reshapes and transposes: the optimum (A@(B@C))@D, 56,000 MACs, as three plain matmuls.
// The products of the other orders ([100, 20] = A@B, [20, 100] = C@D, [10, 100]) never appear.

// CHECK-LABEL: func.func @main
// CHECK-SAME:    (%[[A:.*]]: tensor<100x10xf32>, %[[B:.*]]: tensor<10x20xf32>, %[[C:.*]]: tensor<20x5xf32>, %[[D:.*]]: tensor<5x100xf32>)
// CHECK-NOT:     linalg.batch_matmul
// CHECK-NOT:     tensor<100x20xf32>
// CHECK-NOT:     tensor<20x100xf32>
// CHECK:         %[[BC:.*]] = linalg.matmul ins(%[[B]], %[[C]] : tensor<10x20xf32>, tensor<20x5xf32>) outs(%{{.*}} : tensor<10x5xf32>) -> tensor<10x5xf32>
// CHECK:         %[[ABC:.*]] = linalg.matmul ins(%[[A]], %[[BC]] : tensor<100x10xf32>, tensor<10x5xf32>) outs(%{{.*}} : tensor<100x5xf32>) -> tensor<100x5xf32>
// CHECK:         %[[R:.*]] = linalg.matmul ins(%[[ABC]], %[[D]] : tensor<100x5xf32>, tensor<5x100xf32>) outs(%{{.*}} : tensor<100x100xf32>) -> tensor<100x100xf32>
// CHECK-NOT:     linalg.matmul
// CHECK-NOT:     linalg.batch_matmul
// CHECK:         func.return %{{.*}} : tensor<100x100xf32>
