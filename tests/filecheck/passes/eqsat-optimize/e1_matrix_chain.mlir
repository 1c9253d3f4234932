// RUN: mirage-mlir-opt %examples/e1_matrix_chain.mlir -p 'eqsat-optimize{target=flops}' | filecheck %s

// A@B@C@D (100x2, 2x100, 100x2, 2x100): the optimum multiplies B@C first (a 2x2
// intermediate), never forming a 100x100 product until the last matmul.

// CHECK-LABEL: func.func @main
// CHECK-SAME:    (%[[A:.*]]: tensor<100x2xf32>, %[[B:.*]]: tensor<2x100xf32>, %[[C:.*]]: tensor<100x2xf32>, %[[D:.*]]: tensor<2x100xf32>)
// CHECK:         %[[BC:.*]] = linalg.matmul ins(%[[B]], %[[C]] : tensor<2x100xf32>, tensor<100x2xf32>) outs(%{{.*}} : tensor<2x2xf32>) -> tensor<2x2xf32>
// CHECK-NOT:     tensor<100x100xf32>
// CHECK:         %[[BCD:.*]] = linalg.matmul ins(%[[BC]], %[[D]] : tensor<2x2xf32>, tensor<2x100xf32>) outs(%{{.*}} : tensor<2x100xf32>) -> tensor<2x100xf32>
// CHECK:         %[[R:.*]] = linalg.matmul ins(%[[A]], %[[BCD]] : tensor<100x2xf32>, tensor<2x100xf32>) outs(%{{.*}} : tensor<100x100xf32>) -> tensor<100x100xf32>
// CHECK-NEXT:    func.return %[[R]] : tensor<100x100xf32>
