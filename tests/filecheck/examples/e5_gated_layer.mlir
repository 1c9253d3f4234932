// RUN: mirage-mlir-opt %examples/e5_gated_layer.mlir | filecheck %s
// RUN: mirage-mlir-opt %examples/e5_gated_layer.mlir | mirage-mlir-opt | filecheck %s
// REQUIRES: full-suite

// E5, tanh((x @ w1) * (x @ w2) + bias): two matmuls reading the same x, with
// weights and bias as dense_resource blobs.

// CHECK-LABEL: func.func @main
// CHECK-SAME: (%[[X:.*]]: tensor<256x512xf32>) -> tensor<256x512xf32>
// CHECK-DAG: %[[BIAS:.*]] = arith.constant dense_resource<{{torch_tensor_512_torch.float32[_0-9]*}}> : tensor<512xf32>
// CHECK-DAG: %[[W1:.*]] = arith.constant dense_resource<{{torch_tensor_512_512_torch.float32}}> : tensor<512x512xf32>
// CHECK-DAG: %[[W2:.*]] = arith.constant dense_resource<{{torch_tensor_512_512_torch.float32_[0-9]+}}> : tensor<512x512xf32>
// CHECK: %[[Y1:.*]] = linalg.matmul ins(%[[X]], %[[W1]] : tensor<256x512xf32>, tensor<512x512xf32>)
// CHECK: %[[Y2:.*]] = linalg.matmul ins(%[[X]], %[[W2]] : tensor<256x512xf32>, tensor<512x512xf32>)
// CHECK: linalg.generic {{.*}} ins(%[[Y1]], %[[Y2]] : tensor<256x512xf32>, tensor<256x512xf32>)
// CHECK: arith.mulf
// CHECK: ins(%{{.*}}, %[[BIAS]] : tensor<256x512xf32>, tensor<512xf32>)
// CHECK: math.tanh
// CHECK: {-#
// CHECK: torch_tensor_512_512_torch.float32{{.*}}: "0x04000000
// CHECK: #-}
