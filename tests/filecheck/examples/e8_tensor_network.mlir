// RUN: mirage-mlir-opt %examples/e8_tensor_network.mlir | filecheck %s
// RUN: mirage-mlir-opt %examples/e8_tensor_network.mlir | mirage-mlir-opt | filecheck %s
// REQUIRES: full-suite

// E8, einsum("abcd,bcef,cdfg,degh->ah") with all dims 12: three batch
// matmuls between transposes and reshapes.

// CHECK-LABEL: func.func @main
// CHECK-SAME: (%{{.*}}: tensor<12x12x12x12xf32>, %{{.*}}: tensor<12x12x12x12xf32>, %{{.*}}: tensor<12x12x12x12xf32>, %{{.*}}: tensor<12x12x12x12xf32>) -> tensor<12x12xf32>
// CHECK: linalg.transpose
// CHECK-COUNT-3: linalg.batch_matmul
// CHECK-NOT: linalg.batch_matmul
// CHECK: func.return %{{.*}} : tensor<12x12xf32>
