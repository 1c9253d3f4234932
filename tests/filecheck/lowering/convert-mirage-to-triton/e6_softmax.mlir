// RUN: mirage-mlir-opt %examples/e6_naive_softmax.mlir -p 'eqsat-optimize,convert-mirage-to-triton' | filecheck %s
// REQUIRES: full-suite

// The stable softmax is one kernel with one program per row: one load and one store
// of a 1024-wide row, the max subtracted before exp, masked lanes kept out of the max.

// CHECK-LABEL: func.func @main
// CHECK-SAME:    (%[[X:.*]]: tensor<256x1024xf32>)
// CHECK-NEXT:    %[[Y:.*]] = plan.alloc slot 0 : tensor<256x1024xf32>
// CHECK-NEXT:    plan.launch @main_row_reduction_0 grid [256, 1, 1] ins(%[[X]] : tensor<256x1024xf32>) outs(%[[Y]] : tensor<256x1024xf32>)
// CHECK-NEXT:    func.return %[[Y]]

// CHECK-LABEL: tt.func public @main_row_reduction_0
// CHECK:         %[[ROW:.*]] = tt.load {{.*}} : tensor<1024x!tt.ptr<f32>>
// CHECK-NOT:     tt.load
// CHECK:         %[[NEG:.*]] = arith.constant dense<0xff800000> : tensor<1024xf32>
// CHECK:         %[[LIVE:.*]] = arith.select %{{.*}}, %[[ROW]], %[[NEG]]
// CHECK:         %[[MAX:.*]] = "tt.reduce"(%[[LIVE]])
// CHECK:           arith.maxnumf
// CHECK:         %[[MAXS:.*]] = tt.splat %[[MAX]] : f32 -> tensor<1024xf32>
// CHECK:         %[[SHIFTED:.*]] = arith.subf %[[ROW]], %[[MAXS]]
// CHECK:         math.exp %[[SHIFTED]]
// CHECK:         "tt.reduce"
// CHECK:           arith.addf
// CHECK:         arith.divf
// CHECK:         tt.store {{.*}} : tensor<1024x!tt.ptr<f32>>
// CHECK-NOT:     tt.store
// CHECK-NOT:     tt.load
// CHECK:         tt.return
