// RUN: mirage-mlir-opt %examples/e2_attention.mlir -p 'eqsat-optimize' | filecheck %s

// softmax((Q Kᵀ) * 0.125) V becomes one mirage.attention with the scale as its attribute;
// the 1024x1024 score matrix is gone.

// CHECK-LABEL: func.func @main
// CHECK-SAME:    (%[[Q:.*]]: tensor<1x1024x64xf32>, %[[K:.*]]: tensor<1x1024x64xf32>, %[[V:.*]]: tensor<1x1024x64xf32>)
// CHECK-NOT:     1024x1024
// CHECK:         %[[O:.*]] = mirage.attention %[[Q]], %[[K]], %[[V]] scale 1.250000e-01 : {{.*}} -> tensor<1x1024x64xf32>
// CHECK-NEXT:    func.return %[[O]]
