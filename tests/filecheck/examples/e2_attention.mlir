// RUN: mirage-mlir-opt %examples/e2_attention.mlir | filecheck %s
// RUN: mirage-mlir-opt %examples/e2_attention.mlir | mirage-mlir-opt | filecheck %s
// REQUIRES: full-suite

// E2, softmax((Q @ K^T) * scale) @ V with Q, K, V 1x1024x64: two batch matmuls
// around softmax's two-result max/argmax generic, whose init is -inf.

// CHECK-LABEL: func.func @main
// CHECK-SAME: (%[[Q:.*]]: tensor<1x1024x64xf32>, %[[K:.*]]: tensor<1x1024x64xf32>, %[[V:.*]]: tensor<1x1024x64xf32>)
// CHECK: %[[NEG_INF:.*]] = arith.constant 0xff800000 : f32
// CHECK: %[[KT:.*]] = linalg.transpose ins(%[[K]]:tensor<1x1024x64xf32>) outs(%{{.*}}:tensor<1x64x1024xf32>) permutation = [0, 2, 1]
// CHECK: %[[S:.*]] = linalg.batch_matmul ins(%[[Q]], %[[KT]] : tensor<1x1024x64xf32>, tensor<1x64x1024xf32>) outs(%{{.*}} : tensor<1x1024x1024xf32>) -> tensor<1x1024x1024xf32>
// CHECK: linalg.fill ins(%[[NEG_INF]] : f32) outs(%{{.*}} : tensor<1x1024xf32>)
// CHECK: %[[MAX:[^,]*]], %{{.*}} = linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: arith.maximumf
// CHECK: } -> (tensor<1x1024xf32>, tensor<1x1024xi64>)
// CHECK: math.exp
// CHECK: arith.divf
// CHECK: %[[OUT:.*]] = linalg.batch_matmul ins(%{{.*}}, %[[V]] : tensor<1x1024x1024xf32>, tensor<1x1024x64xf32>)
// CHECK: func.return %[[OUT]] : tensor<1x1024x64xf32>
