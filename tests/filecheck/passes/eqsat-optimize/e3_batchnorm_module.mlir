// RUN: mirage-mlir-opt %examples/e3_batchnorm_module.mlir -p 'eqsat-optimize' | filecheck %s

// nn.BatchNorm1d (training) + nn.ReLU: the variance arrives computed in f64 and cast back.
// The 24 ops become one column-reduction kernel: the normalisation is mirage.batch_norm, the
// f64 variance stays (the running variance is updated from it, exactly as PyTorch does), and
// the running statistics are results of the same kernel. The i64 counter is a constant, and
// the momentum products of the old running statistics read only weights: they are computed
// when the program is built (passes/fold_compile_time.py) and the kernel reads them.

// CHECK-LABEL: func.func @main
// CHECK-SAME:    (%[[X:.*]]: tensor<512x256xf32>) -> (tensor<256xf32>, tensor<256xf32>, tensor<i64>, tensor<512x256xf32>)
// CHECK-NOT:     linalg.generic
// CHECK:         %[[M0:.*]] = arith.constant dense_resource<folded_generic{{.*}}> : tensor<256xf32>
// CHECK-NEXT:    %[[V0:.*]] = arith.constant dense_resource<folded_generic{{.*}}> : tensor<256xf32>
// CHECK-NOT:     linalg.generic
// CHECK:         %[[MEAN:.*]], %[[VAR:.*]], %[[OUT:.*]] = mirage.kernel (%[[X]], %[[M0]], %[[V0]], {{.*}}) -> (tensor<256xf32>, tensor<256xf32>, tensor<512x256xf32>) attributes {template = "column_reduction"}
// CHECK-NEXT:    ^{{.*}}(%[[KX:[^:]*]]: tensor<512x256xf32>,
// CHECK:           arith.extf %{{.*}} : f32 to f64
// CHECK:           arith.truncf %{{.*}} : f64 to f32
// CHECK:           %[[Y:.*]], %{{.*}}, %{{.*}} = mirage.batch_norm %[[KX]], {{.*}} eps 9.9999997473787516e-06
// CHECK:           linalg.generic {{.*}} ins(%[[Y]] : tensor<512x256xf32>)
// CHECK:             arith.maximumf
// CHECK:           mirage.yield %{{.*}}, %{{.*}}, %{{.*}} : tensor<256xf32>, tensor<256xf32>, tensor<512x256xf32>
// CHECK-NEXT:    }
// CHECK-NEXT:    %[[COUNT:.*]] = arith.constant dense<1> : tensor<i64>
// CHECK-NEXT:    func.return %[[MEAN]], %[[VAR]], %[[COUNT]], %[[OUT]] : tensor<256xf32>, tensor<256xf32>, tensor<i64>, tensor<512x256xf32>
