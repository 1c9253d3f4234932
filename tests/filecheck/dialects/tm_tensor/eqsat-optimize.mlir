// RUN: mirage-mlir-opt %s -p eqsat-optimize | filecheck %s
// RUN: mirage-mlir-opt %s -p eqsat-optimize | mirage-mlir-opt | filecheck %s
// REQUIRES: full-suite

// torch.sort (a @ b @ c, dim=-1).values * 2, as torch-mlir imports it.  The sort is an op
// the tensor algebra does not model: it stays, region and all, and reads whatever the
// optimised product becomes, while the chain around it is still optimised
// (a @ (b @ c) costs a sixteenth of (a @ b) @ c).

#map = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-LABEL: func.func @main
// CHECK-SAME: (%[[A:.*]]: tensor<32x2xf32>, %[[B:.*]]: tensor<2x32xf32>, %[[C:.*]]: tensor<32x8xf32>)
func.func @main(%a: tensor<32x2xf32>, %b: tensor<2x32xf32>, %c: tensor<32x8xf32>) -> tensor<32x8xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %two = arith.constant 2.000000e+00 : f32
  %e0 = tensor.empty() : tensor<32x32xf32>
  %f0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<32x32xf32>) -> tensor<32x32xf32>
  %ab = linalg.matmul ins(%a, %b : tensor<32x2xf32>, tensor<2x32xf32>) outs(%f0 : tensor<32x32xf32>) -> tensor<32x32xf32>
  %e1 = tensor.empty() : tensor<32x8xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<32x8xf32>) -> tensor<32x8xf32>
  %abc = linalg.matmul ins(%ab, %c : tensor<32x32xf32>, tensor<32x8xf32>) outs(%f1 : tensor<32x8xf32>) -> tensor<32x8xf32>
  %ei = tensor.empty() : tensor<32x8xi64>
  %idx = linalg.generic {indexing_maps = [#map], iterator_types = ["parallel", "parallel"]} outs(%ei : tensor<32x8xi64>) {
  ^bb0(%out: i64):
    %i = linalg.index 1 : index
    %ii = arith.index_cast %i : index to i64
    linalg.yield %ii : i64
  } -> tensor<32x8xi64>
  %s:2 = tm_tensor.sort dimension(1) outs(%abc, %idx : tensor<32x8xf32>, tensor<32x8xi64>) {
  ^bb0(%l: f32, %r: f32, %li: i64, %ri: i64):
    %le = arith.cmpf ole, %l, %r : f32
    tm_tensor.yield %le : i1
  } -> tensor<32x8xf32>, tensor<32x8xi64>
  %e2 = tensor.empty() : tensor<32x8xf32>
  %y = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%s#0 : tensor<32x8xf32>) outs(%e2 : tensor<32x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.mulf %in, %two : f32
    linalg.yield %m : f32
  } -> tensor<32x8xf32>
  func.return %y : tensor<32x8xf32>
}

// CHECK:     %[[BC:.*]] = linalg.matmul ins(%[[B]], %[[C]] : tensor<2x32xf32>, tensor<32x8xf32>)
// CHECK:     %[[ABC:.*]] = linalg.matmul ins(%[[A]], %[[BC]] : tensor<32x2xf32>, tensor<2x8xf32>)
// CHECK:     %[[S:[^,]*]], %{{[^ ]*}} = tm_tensor.sort dimension(1) outs(%[[ABC]], %{{.*}} : tensor<32x8xf32>, tensor<32x8xi64>) {
// CHECK-NEXT:  ^bb0(%[[L:.*]]: f32, %[[R:.*]]: f32, %{{.*}}: i64, %{{.*}}: i64):
// CHECK-NEXT:    %[[LE:.*]] = arith.cmpf ole, %[[L]], %[[R]] : f32
// CHECK-NEXT:    tm_tensor.yield %[[LE]] : i1
// CHECK-NEXT:  } -> tensor<32x8xf32>, tensor<32x8xi64>
// CHECK:     %[[Y:.*]] = linalg.generic {{.*}} ins(%[[S]] : tensor<32x8xf32>)
// CHECK:       arith.mulf
// CHECK:     func.return %[[Y]] : tensor<32x8xf32>
