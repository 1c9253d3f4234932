// RUN: mirage-mlir-opt %examples/e6_naive_softmax.mlir | filecheck %s
// RUN: mirage-mlir-opt %examples/e6_naive_softmax.mlir | mirage-mlir-opt | filecheck %s
// REQUIRES: full-suite

// E6, exp(x) / exp(x).sum(-1, keepdim=True) written naively: exp, a row sum
// into a 256x1 accumulator, and a broadcast divide.

// CHECK-LABEL: func.func @main
// CHECK-SAME: (%[[X:.*]]: tensor<256x1024xf32>) -> tensor<256x1024xf32>
// CHECK: %[[E:.*]] = linalg.generic {{.*}} ins(%[[X]] : tensor<256x1024xf32>)
// CHECK: math.exp
// CHECK: %[[SUM:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, 0)>], iterator_types = ["parallel", "reduction"]} ins(%[[E]] : tensor<256x1024xf32>) outs(%{{.*}} : tensor<256x1xf32>)
// CHECK: arith.addf
// CHECK: %[[OUT:.*]] = linalg.generic {{.*}} ins(%[[E]], %[[SUM]] : tensor<256x1024xf32>, tensor<256x1xf32>)
// CHECK: arith.divf
// CHECK: func.return %[[OUT]] : tensor<256x1024xf32>
