// RUN: mirage-mlir-opt %examples/e3_batchnorm_module.mlir | filecheck %s
// RUN: mirage-mlir-opt %examples/e3_batchnorm_module.mlir | mirage-mlir-opt | filecheck %s
// REQUIRES: full-suite

// E3 as nn.BatchNorm1d + nn.ReLU in training mode: the running mean, running
// variance and i64 counter come back before the output; the variance is taken in f64.

// CHECK-LABEL: func.func @main
// CHECK-SAME: (%[[X:.*]]: tensor<512x256xf32>) -> (tensor<256xf32>, tensor<256xf32>, tensor<i64>, tensor<512x256xf32>)
// CHECK: %[[ONE:.*]] = arith.constant dense<1> : tensor<i64>
// CHECK-COUNT-4: arith.constant dense_resource<{{torch_tensor_256_torch.float32[_0-9]*}}> : tensor<256xf32>
// CHECK: arith.extf %{{.*}} : f32 to f64
// CHECK: iterator_types = ["reduction", "parallel"]
// CHECK: arith.truncf %{{.*}} : f64 to f32
// CHECK: math.rsqrt
// CHECK: arith.cmpf ugt
// CHECK: func.return %{{.*}}, %{{.*}}, %[[ONE]], %{{.*}} : tensor<256xf32>, tensor<256xf32>, tensor<i64>, tensor<512x256xf32>
// CHECK: dialect_resources: {
// CHECK: #-}
