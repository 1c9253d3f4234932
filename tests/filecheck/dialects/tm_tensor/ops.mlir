// RUN: mirage-mlir-opt %s | filecheck %s
// RUN: mirage-mlir-opt %s | mirage-mlir-opt | filecheck %s
// RUN: mirage-mlir-opt %s --print-op-generic | mirage-mlir-opt | filecheck %s
// RUN: mirage-mlir-opt %s --print-op-generic | filecheck %s --check-prefix=GENERIC

// torch-mlir's tm_tensor ops, as its linalg-on-tensors output writes them (torch.sort,
// kthvalue, cumsum, scatter, index_put), read and printed back in torch-mlir's syntax.

// CHECK-LABEL: func.func @sort
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>, %[[I:.*]]: tensor<4x8xi64>)
func.func @sort(%x: tensor<4x8xf32>, %i: tensor<4x8xi64>) -> (tensor<4x8xf32>, tensor<4x8xi64>) {
  // CHECK: %[[S:[^,]*]], %[[J:[^ ]*]] = tm_tensor.sort dimension(1) outs(%[[X]], %[[I]] : tensor<4x8xf32>, tensor<4x8xi64>) {
  // CHECK-NEXT: ^bb0(%[[A:.*]]: f32, %[[B:.*]]: f32, %{{.*}}: i64, %{{.*}}: i64):
  // CHECK-NEXT: %[[LE:.*]] = arith.cmpf ole, %[[A]], %[[B]] : f32
  // CHECK-NEXT: tm_tensor.yield %[[LE]] : i1
  // CHECK-NEXT: } -> tensor<4x8xf32>, tensor<4x8xi64>
  // GENERIC: "tm_tensor.sort"(%{{.*}}, %{{.*}}) <{dimension = 1 : i64, operandSegmentSizes = array<i32: 0, 2>}> ({
  // GENERIC: "tm_tensor.yield"(%{{.*}}) : (i1) -> ()
  // GENERIC: }) : (tensor<4x8xf32>, tensor<4x8xi64>) -> (tensor<4x8xf32>, tensor<4x8xi64>)
  %s:2 = tm_tensor.sort dimension(1) outs(%x, %i : tensor<4x8xf32>, tensor<4x8xi64>) {
  ^bb0(%a: f32, %b: f32, %c: i64, %d: i64):
    %le = arith.cmpf ole, %a, %b : f32
    tm_tensor.yield %le : i1
  } -> tensor<4x8xf32>, tensor<4x8xi64>
  // CHECK: func.return %[[S]], %[[J]] : tensor<4x8xf32>, tensor<4x8xi64>
  func.return %s#0, %s#1 : tensor<4x8xf32>, tensor<4x8xi64>
}

// CHECK-LABEL: func.func @topk
func.func @topk(%x: tensor<4x8xf32>, %v: tensor<4x2xf32>, %i: tensor<4x2xi32>) -> tensor<4x2xf32> {
  // CHECK: tm_tensor.topk dimension(1) ins(%{{.*}} : tensor<4x8xf32>) outs(%{{.*}}, %{{.*}} : tensor<4x2xf32>, tensor<4x2xi32>) {
  // CHECK: arith.cmpf olt
  // CHECK: } -> tensor<4x2xf32>, tensor<4x2xi32>
  // GENERIC: "tm_tensor.topk"(%{{.*}}, %{{.*}}, %{{.*}}) <{dimension = 1 : i64, operandSegmentSizes = array<i32: 1, 2>}>
  %t:2 = tm_tensor.topk dimension(1) ins(%x : tensor<4x8xf32>) outs(%v, %i : tensor<4x2xf32>, tensor<4x2xi32>) {
  ^bb0(%a: f32, %b: f32):
    %lt = arith.cmpf olt, %a, %b : f32
    tm_tensor.yield %lt : i1
  } -> tensor<4x2xf32>, tensor<4x2xi32>
  func.return %t#0 : tensor<4x2xf32>
}

// CHECK-LABEL: func.func @scan
func.func @scan(%x: tensor<4x8xf32>, %o: tensor<4x8xf32>, %acc: tensor<4xf32>) -> tensor<4x8xf32> {
  // CHECK: tm_tensor.scan dimension(1) inclusive(true) ins(%{{.*}} : tensor<4x8xf32>) outs(%{{.*}}, %{{.*}} : tensor<4x8xf32>, tensor<4xf32>) {
  // CHECK: arith.addf
  // CHECK: } -> tensor<4x8xf32>, tensor<4xf32>
  // GENERIC: "tm_tensor.scan"(%{{.*}}, %{{.*}}, %{{.*}}) <{dimension = 1 : i64, inclusive = true, operandSegmentSizes = array<i32: 1, 2>}>
  %r:2 = tm_tensor.scan dimension(1) inclusive(true) ins(%x : tensor<4x8xf32>) outs(%o, %acc : tensor<4x8xf32>, tensor<4xf32>) {
  ^bb0(%a: f32, %b: f32):
    %s = arith.addf %a, %b : f32
    tm_tensor.yield %s : f32
  } -> tensor<4x8xf32>, tensor<4xf32>
  func.return %r#0 : tensor<4x8xf32>
}

// `unique_indices` is printed even at its default (true), as MLIR prints it.

// CHECK-LABEL: func.func @scatter
func.func @scatter(%u: tensor<2x1x8xf32>, %idx: tensor<2x1xi64>, %o: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  // CHECK: %[[R:.*]] = tm_tensor.scatter {dimension_map = array<i64: 0>} unique_indices(true) ins(%{{.*}}, %{{.*}} : tensor<2x1x8xf32>, tensor<2x1xi64>) outs(%{{.*}} : tensor<4x8xf32>) {
  // CHECK-NEXT: ^bb0(%[[NEW:.*]]: f32, %{{.*}}: f32):
  // CHECK-NEXT: tm_tensor.yield %[[NEW]] : f32
  // CHECK-NEXT: } -> tensor<4x8xf32>
  // GENERIC: "tm_tensor.scatter"(%{{.*}}, %{{.*}}, %{{.*}}) <{dimension_map = array<i64: 0>, unique_indices = true, operandSegmentSizes = array<i32: 2, 1>}>
  %r = tm_tensor.scatter {dimension_map = array<i64: 0>} unique_indices(true) ins(%u, %idx : tensor<2x1x8xf32>, tensor<2x1xi64>) outs(%o : tensor<4x8xf32>) {
  ^bb0(%new: f32, %old: f32):
    tm_tensor.yield %new : f32
  } -> tensor<4x8xf32>
  // CHECK: tm_tensor.scatter {dimension_map = array<i64: 0>} unique_indices(false)
  // CHECK: arith.addf
  %a = tm_tensor.scatter {dimension_map = array<i64: 0>} unique_indices(false) ins(%u, %idx : tensor<2x1x8xf32>, tensor<2x1xi64>) outs(%o : tensor<4x8xf32>) {
  ^bb0(%new: f32, %old: f32):
    %sum = arith.addf %new, %old : f32
    tm_tensor.yield %sum : f32
  } -> tensor<4x8xf32>
  func.return %r, %a : tensor<4x8xf32>, tensor<4x8xf32>
}

// CHECK-LABEL: func.func @attention
func.func @attention(%q: tensor<2x4x8xf32>, %k: tensor<2x4x8xf32>, %v: tensor<2x4x8xf32>, %o: tensor<2x4x8xf32>) -> tensor<2x4x8xf32> {
  // CHECK: tm_tensor.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>) outs(%{{.*}} : tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  // GENERIC: "tm_tensor.attention"(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) <{operandSegmentSizes = array<i32: 3, 1>}>
  %r = tm_tensor.attention ins(%q, %k, %v : tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>) outs(%o : tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  func.return %r : tensor<2x4x8xf32>
}

// On buffers the ops have no results and print no `->`.

// CHECK-LABEL: func.func @buffers
func.func @buffers(%x: memref<4x8xf32>, %y: memref<4x8xf32>, %acc: memref<4xf32>) {
  // CHECK: tm_tensor.scan dimension(1) inclusive(false) ins(%{{.*}} : memref<4x8xf32>) outs(%{{.*}}, %{{.*}} : memref<4x8xf32>, memref<4xf32>) {
  // CHECK: tm_tensor.yield
  // CHECK-NEXT: }
  // CHECK-NEXT: tm_tensor.sort dimension(0) outs(%{{.*}} : memref<4x8xf32>) {
  tm_tensor.scan dimension(1) inclusive(false) ins(%x : memref<4x8xf32>) outs(%y, %acc : memref<4x8xf32>, memref<4xf32>) {
  ^bb0(%a: f32, %b: f32):
    %s = arith.addf %a, %b : f32
    tm_tensor.yield %s : f32
  }
  tm_tensor.sort dimension(0) outs(%y : memref<4x8xf32>) {
  ^bb0(%a: f32, %b: f32):
    %lt = arith.cmpf olt, %a, %b : f32
    tm_tensor.yield %lt : i1
  }
  func.return
}
