// RUN: mirage-mlir-opt %examples/e3_batchnorm_relu.mlir -p 'eqsat-optimize,convert-mirage-to-triton' | filecheck %s
// REQUIRES: full-suite

// E3 is one launch, one program per 32 columns: a statistics loop over the rows,
// then a loop that normalises, applies ReLU and stores each block once.

// CHECK-LABEL: func.func @main
// CHECK-SAME:    (%[[X:.*]]: tensor<512x256xf32>)
// CHECK:         %[[Y:.*]] = plan.alloc slot 0 : tensor<512x256xf32>
// CHECK-NEXT:    plan.launch @main_column_reduction_0 grid [8, 1, 1] ins(%[[X]], %{{.*}}, %{{.*}} : {{.*}}) outs(%[[Y]] : tensor<512x256xf32>)
// CHECK-NOT:     plan.launch
// CHECK:         func.return %[[Y]]

// CHECK-LABEL: tt.func public @main_column_reduction_0
// CHECK:         scf.for
// CHECK:         tt.load
// CHECK:         "tt.reduce"
// CHECK:         scf.yield
// CHECK:         math.rsqrt
// CHECK:         scf.for
// CHECK:         tt.load
// CHECK:         arith.maximumf
// CHECK:         tt.store
// CHECK-NOT:     tt.store
// CHECK:         tt.return
