// RUN: mirage-mlir-opt %examples/e6_naive_softmax.mlir -p 'eqsat-optimize' | filecheck %s

// exp(x) / sum(exp(x)) overflows for x > 88.7; the optimiser writes the stable softmax.

// CHECK-LABEL: func.func @main
// CHECK-SAME:    (%[[X:.*]]: tensor<256x1024xf32>)
// CHECK-NOT:     math.exp
// CHECK:         %[[S:.*]] = mirage.softmax %[[X]] axis = -1 : tensor<256x1024xf32>
// CHECK-NEXT:    func.return %[[S]]
