// RUN: mirage-mlir-opt %examples/e3_batchnorm_relu.mlir | filecheck %s
// RUN: mirage-mlir-opt %examples/e3_batchnorm_relu.mlir | mirage-mlir-opt | filecheck %s
// REQUIRES: full-suite

// E3 by hand: relu((x - mean) / sqrt(var + eps) * gamma + beta), statistics over
// dim 0 of a 512x256 input; gamma and beta are dense_resource blobs.

// CHECK-LABEL: func.func @main
// CHECK-SAME: (%[[X:.*]]: tensor<512x256xf32>) -> tensor<512x256xf32>
// CHECK-DAG: %[[GAMMA_OR_BETA:.*]] = arith.constant dense_resource<{{torch_tensor_256_torch.float32[_0-9]*}}> : tensor<256xf32>
// CHECK-DAG: arith.constant 1.000000e-05 : f64
// CHECK: linalg.generic {{.*}} iterator_types = ["reduction", "parallel"]} ins(%[[X]] : tensor<512x256xf32>) outs(%{{.*}} : tensor<1x256xf32>)
// CHECK: math.fpowi
// CHECK: iterator_types = ["reduction", "parallel"]
// CHECK: math.sqrt
// CHECK: arith.cmpf ugt
// CHECK-NEXT: arith.select
// CHECK: func.return %{{.*}} : tensor<512x256xf32>
// CHECK: {-#
// CHECK-NEXT: dialect_resources: {
// CHECK-NEXT: builtin: {
// CHECK-NEXT: {{torch_tensor_256_torch.float32[_0-9]*}}: "0x04000000
// CHECK: #-}
