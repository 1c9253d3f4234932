// RUN: mirage-mlir-opt %examples/e1_matrix_chain.mlir | filecheck %s
// RUN: mirage-mlir-opt %examples/e1_matrix_chain.mlir | mirage-mlir-opt | filecheck %s

// E1, A @ B @ C @ D: three linalg.matmul in left-to-right order; one fill is the
// init of two of them.

// CHECK-LABEL: func.func @main
// CHECK-SAME: (%[[A:.*]]: tensor<100x2xf32>, %[[B:.*]]: tensor<2x100xf32>, %[[C:.*]]: tensor<100x2xf32>, %[[D:.*]]: tensor<2x100xf32>) -> tensor<100x100xf32>
// CHECK: %[[ZERO:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<100x100xf32>)
// CHECK: %[[AB:.*]] = linalg.matmul ins(%[[A]], %[[B]] : tensor<100x2xf32>, tensor<2x100xf32>) outs(%[[ZERO]] : tensor<100x100xf32>)
// CHECK: %[[ABC:.*]] = linalg.matmul ins(%[[AB]], %[[C]] : tensor<100x100xf32>, tensor<100x2xf32>)
// CHECK: %[[ABCD:.*]] = linalg.matmul ins(%[[ABC]], %[[D]] : tensor<100x2xf32>, tensor<2x100xf32>) outs(%[[ZERO]] : tensor<100x100xf32>)
// CHECK: func.return %[[ABCD]] : tensor<100x100xf32>
