// RUN: mirage-mlir-opt %s | filecheck %s
// RUN: mirage-mlir-opt %s | mirage-mlir-opt | filecheck %s
// RUN: mirage-mlir-opt %s --print-op-generic | mirage-mlir-opt | filecheck %s

// A linalg.generic with several results, as torch-mlir writes softmax's
// max/argmax reduction.  xDSL 0.74 failed on `-> (t1, t2)` with
// "Expected '->'".

#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>

// CHECK-LABEL: func.func @max_argmax
// CHECK-SAME: (%[[X:.*]]: tensor<4x16xf32>, %[[M:.*]]: tensor<4xf32>, %[[I:.*]]: tensor<4xi64>)
func.func @max_argmax(%x: tensor<4x16xf32>, %m: tensor<4xf32>, %i: tensor<4xi64>) -> (tensor<4xf32>, tensor<4xi64>) {
  // CHECK: %[[R0:[^,]*]], %[[R1:[^ ]*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]}
  // CHECK-SAME: ins(%[[X]] : tensor<4x16xf32>) outs(%[[M]], %[[I]] : tensor<4xf32>, tensor<4xi64>)
  // CHECK: linalg.index 1 : index
  // CHECK: arith.maximumf
  // CHECK: linalg.yield %{{.*}}, %{{.*}} : f32, i64
  // CHECK-NEXT: } -> (tensor<4xf32>, tensor<4xi64>)
  %r:2 = linalg.generic {indexing_maps = [#id, #row, #row], iterator_types = ["parallel", "reduction"]} ins(%x : tensor<4x16xf32>) outs(%m, %i : tensor<4xf32>, tensor<4xi64>) {
  ^bb0(%in: f32, %out: f32, %out_1: i64):
    %0 = linalg.index 1 : index
    %1 = arith.index_cast %0 : index to i64
    %2 = arith.maximumf %in, %out : f32
    %3 = arith.cmpf ogt, %in, %out : f32
    %4 = arith.select %3, %1, %out_1 : i64
    linalg.yield %2, %4 : f32, i64
  } -> (tensor<4xf32>, tensor<4xi64>)
  // CHECK: func.return %[[R0]], %[[R1]] : tensor<4xf32>, tensor<4xi64>
  func.return %r#0, %r#1 : tensor<4xf32>, tensor<4xi64>
}

// Attributes of the leading dictionary beyond the four linalg.generic knows
// are kept (xDSL dropped them); iterator types may be written as attributes.

// CHECK-LABEL: func.func @extra_attributes
func.func @extra_attributes(%x: tensor<4xf32>) -> tensor<4xf32> {
  // CHECK: linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"], doc = "negate"}
  // CHECK-SAME: attrs = {mirage.tag = 7 : i64}
  %0 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = [#linalg.iterator_type<parallel>], doc = "negate", mirage.tag = 7 : i64} ins(%x : tensor<4xf32>) outs(%x : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %1 = arith.negf %in : f32
    linalg.yield %1 : f32
  } -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}
