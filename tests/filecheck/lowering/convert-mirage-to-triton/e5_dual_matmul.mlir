// RUN: mirage-mlir-opt %examples/e5_gated_layer.mlir -p 'eqsat-optimize,convert-mirage-to-triton' | filecheck %s

// tanh((x @ w1) * (x @ w2) + bias): one kernel, one launch.  Its K loop carries two
// accumulators; each x tile is loaded once and feeds both tt.dot; the epilogue runs
// before the only store, and y1, y2 never reach memory.

// CHECK-LABEL: func.func @main
// CHECK-SAME:    (%[[X:.*]]: tensor<256x512xf32>)
// CHECK:         %[[OUT:.*]] = plan.alloc slot 0 : tensor<256x512xf32>
// CHECK-NEXT:    plan.launch @[[K:main_dual_matmul_0]] grid [2, 8, 1] ins(%[[X]], %{{.*}}, %{{.*}}, %{{.*}} : {{.*}}) outs(%[[OUT]] : tensor<256x512xf32>)
// CHECK-NOT:     plan.launch
// CHECK:         func.return %[[OUT]]

// CHECK-LABEL: tt.func public @main_dual_matmul_0
// CHECK-NOT:     tt.store
// CHECK:         {{.*}}, {{.*}} = scf.for {{.*}} iter_args(%[[ACC1:[^ ]*]] = %{{.*}}, %[[ACC2:[^ ]*]] = %{{.*}}) -> (tensor<128x64xf32>, tensor<128x64xf32>)
// CHECK:           %[[XT:.*]] = tt.load {{.*}} : tensor<128x32x!tt.ptr<f32>>
// CHECK-NOT:       tt.load {{.*}} : tensor<128x32x!tt.ptr<f32>>
// CHECK:           %[[D1:.*]] = tt.dot %[[XT]], %{{.*}}, %[[ACC1]], inputPrecision = tf32
// CHECK-NOT:       tt.load {{.*}} : tensor<128x32x!tt.ptr<f32>>
// CHECK:           %[[D2:.*]] = tt.dot %[[XT]], %{{.*}}, %[[ACC2]], inputPrecision = tf32
// CHECK-NEXT:      scf.yield %[[D1]], %[[D2]]
// CHECK-NOT:     tt.store
// CHECK:         arith.mulf
// CHECK:         tt.load {{.*}} : tensor<128x64x!tt.ptr<f32>>
// CHECK:         arith.addf
// CHECK:         math.exp
// CHECK:         tt.store {{.*}} : tensor<128x64x!tt.ptr<f32>>
// CHECK-NOT:     tt.store
// CHECK:         tt.return
