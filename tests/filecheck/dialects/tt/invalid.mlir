// RUN: mirage-mlir-opt %s --split-input-file --verify-diagnostics | filecheck %s

// One case per verifier message of the tt dialect, each with its place.

tt.func @broadcast_non_unit(%r: tensor<64x2xi32>) {
  // CHECK: invalid.mlir:[[# @LINE + 1]]:3: error: 'tt.broadcast' op cannot broadcast tensor<64x2xi32> to tensor<64x32xi32>: only size-1 dimensions may grow
  %b = tt.broadcast %r : tensor<64x2xi32> -> tensor<64x32xi32>
  tt.return
}

// -----

tt.func @range_shape() {
  // CHECK: 'tt.make_range' op result must be tensor<128xi32>, got tensor<64xi32>
  %r = tt.make_range {end = 128 : i32, start = 0 : i32} : tensor<64xi32>
  tt.return
}

// -----

tt.func @range_power_of_two() {
  // CHECK: 'tt.make_range' op the range has 100 elements; Triton needs a power of two
  %r = tt.make_range {end = 100 : i32, start = 0 : i32} : tensor<100xi32>
  tt.return
}

// -----

tt.func @expand_axis(%r: tensor<64xi32>) {
  // CHECK: 'tt.expand_dims' op result shape (1, 64) is not (64, 1) (a 1 inserted at axis 1)
  %e = tt.expand_dims %r {axis = 1 : i32} : tensor<64xi32> -> tensor<1x64xi32>
  tt.return
}

// -----

tt.func @trans_order(%t: tensor<32x64xf32>) {
  // CHECK: 'tt.trans' op order [0, 0] is not a permutation of 2 dims
  %t2 = tt.trans %t {order = array<i32: 0, 0>} : tensor<32x64xf32> -> tensor<32x64xf32>
  tt.return
}

// -----

tt.func @reshape_size(%t: tensor<32x64xf32>) {
  // CHECK: 'tt.reshape' op cannot reshape tensor<32x64xf32> (2048 elements) to tensor<1024xf32> (1024 elements)
  %f = tt.reshape %t : tensor<32x64xf32> -> tensor<1024xf32>
  tt.return
}

// -----

tt.func @dot_shapes(%a: tensor<64x32xf32>, %b: tensor<16x64xf32>, %c: tensor<64x64xf32>) {
  // CHECK: 'tt.dot' op shapes do not multiply: tensor<64x32xf32> * tensor<16x64xf32> -> tensor<64x64xf32>
  %d = tt.dot %a, %b, %c : tensor<64x32xf32> * tensor<16x64xf32> -> tensor<64x64xf32>
  tt.return
}

// -----

tt.func @addptr_shape(%p: tensor<4x!tt.ptr<f32>>, %o: tensor<8xi32>) {
  // CHECK: 'tt.addptr' op offset type tensor<8xi32> does not have the shape of ptr type tensor<4x!tt.ptr<f32>>
  %q = tt.addptr %p, %o : tensor<4x!tt.ptr<f32>>, tensor<8xi32>
  tt.return
}

// -----

tt.func @reduce_result(%x: tensor<4x8xf32>) {
  // CHECK: 'tt.reduce' op result types (tensor<4xf32>) should be (tensor<8xf32>)
  %m = "tt.reduce"(%x) <{axis = 0 : i32}> ({
  ^bb0(%l: f32, %r: f32):
    %s = arith.addf %l, %r : f32
    tt.reduce.return %s : f32
  }) : (tensor<4x8xf32>) -> tensor<4xf32>
  tt.return
}

// -----

tt.func @return_types(%x: i32) {
  // CHECK: 'tt.return' op returns (i32) but the function returns ()
  tt.return %x : i32
}

// -----

func.func @cmpi_result(%a: tensor<4xi32>) {
  // CHECK: 'arith.cmpi' op result type tensor<8xi1> should be tensor<4xi1>
  %m = "arith.cmpi"(%a, %a) <{predicate = 2 : i64}> : (tensor<4xi32>, tensor<4xi32>) -> tensor<8xi1>
  func.return
}
