// RUN: mirage-mlir-opt %examples/e3_batchnorm_relu.mlir -p 'eqsat-optimize' | filecheck %s

// relu((x - mean) / sqrt(var + eps) * gamma + beta) with batch statistics over dim 0: the
// twelve generics become one column-reduction kernel holding mirage.batch_norm and the relu.
// Nothing of shape [512, 256] but x and the output crosses the kernel boundary.

// CHECK-LABEL: func.func @main
// CHECK-SAME:    (%[[X:.*]]: tensor<512x256xf32>) -> tensor<512x256xf32>
// CHECK-NOT:     linalg.generic
// CHECK:         %[[OUT:.*]] = mirage.kernel (%[[X]], %[[G:.*]], %[[B:.*]]) : (tensor<512x256xf32>, tensor<256xf32>, tensor<256xf32>) -> tensor<512x256xf32> attributes {template = "column_reduction"}
// CHECK-NEXT:    ^{{.*}}(%[[KX:.*]]: tensor<512x256xf32>, %[[KG:.*]]: tensor<256xf32>, %[[KB:.*]]: tensor<256xf32>):
// CHECK:           %[[Y:.*]], %{{.*}}, %{{.*}} = mirage.batch_norm %[[KX]], %[[KG]], %[[KB]], %{{.*}}, %{{.*}} eps 9.9999997473787516e-06
// CHECK:           linalg.generic {{.*}} ins(%[[Y]] : tensor<512x256xf32>)
// CHECK:             arith.maximumf
// CHECK:           mirage.yield %[[R:.*]] : tensor<512x256xf32>
// CHECK-NEXT:    }
// CHECK-NEXT:    func.return %[[OUT]] : tensor<512x256xf32>
