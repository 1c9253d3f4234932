// RUN: mirage-mlir-opt %s -p 'eqsat-optimize' | filecheck %s

// An op the algebra does not model (math.floor in a generic) passes through unchanged.

#map = affine_map<(d0, d1) -> (d0, d1)>
func.func @floor(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %e = tensor.empty() : tensor<4x8xf32>
  %f = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = math.floor %in : f32
    linalg.yield %r : f32
  } -> tensor<4x8xf32>
  func.return %f : tensor<4x8xf32>
}

// CHECK-LABEL: func.func @floor
// CHECK-SAME:    (%[[X:.*]]: tensor<4x8xf32>)
// CHECK:         %[[E:.*]] = tensor.empty() : tensor<4x8xf32>
// CHECK:         %[[F:.*]] = linalg.generic {{.*}} ins(%[[X]] : tensor<4x8xf32>) outs(%[[E]] : tensor<4x8xf32>)
// CHECK:           math.floor
// CHECK:         func.return %[[F]] : tensor<4x8xf32>
