// RUN: mirage-mlir-opt %examples/e5_gated_layer.mlir -p 'eqsat-optimize' | filecheck %s

// tanh((x @ w1) * (x @ w2) + bias): one dual-matmul kernel reads x once for both products and
// applies the product, the bias and tanh before its only store; y1 and y2 stay inside it.

// CHECK-LABEL: func.func @main
// CHECK-SAME:    (%[[X:.*]]: tensor<256x512xf32>) -> tensor<256x512xf32>
// CHECK-NOT:     linalg.matmul
// CHECK:         %[[OUT:.*]] = mirage.kernel (%[[X]], %[[W1:[^,]*]], %[[W2:[^,]*]], %[[BIAS:[^)]*]]) : (tensor<256x512xf32>, tensor<512x512xf32>, tensor<512x512xf32>, tensor<512xf32>) -> tensor<256x512xf32> attributes {template = "dual_matmul"}
// CHECK-NEXT:    ^{{.*}}(%[[KX:.*]]: tensor<256x512xf32>, %[[KW1:.*]]: tensor<512x512xf32>, %[[KW2:.*]]: tensor<512x512xf32>, %[[KB:.*]]: tensor<512xf32>):
// CHECK:           %[[Y1:.*]] = linalg.matmul ins(%[[KX]], %[[KW1]] : {{.*}}) -> tensor<256x512xf32>
// CHECK:           %[[Y2:.*]] = linalg.matmul ins(%[[KX]], %[[KW2]] : {{.*}}) -> tensor<256x512xf32>
// CHECK:           %[[P:.*]] = linalg.generic {{.*}} ins(%[[Y1]], %[[Y2]] : {{.*}})
// CHECK:             arith.mulf
// CHECK:           %[[S:.*]] = linalg.generic {{.*}} ins(%[[KB]], %[[P]] : {{.*}})
// CHECK:             arith.addf
// CHECK:           %[[T:.*]] = linalg.generic {{.*}} ins(%[[S]] : {{.*}})
// CHECK:             math.tanh
// CHECK:           mirage.yield %[[T]] : tensor<256x512xf32>
// CHECK-NEXT:    }
// CHECK-NEXT:    func.return %[[OUT]] : tensor<256x512xf32>
