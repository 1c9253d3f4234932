// RUN: mirage-mlir-opt %s | filecheck %s
// RUN: mirage-mlir-opt %s --print-op-generic | mirage-mlir-opt | filecheck %s

// Round trip of every tt op in the syntax Triton 3.9 prints (TTIR stripped of
// locations), including arith comparisons and selects on blocks.

// CHECK-LABEL: tt.func public @add_kernel(
// CHECK-SAME: %[[X:.*]]: !tt.ptr<f32> {tt.divisibility = 16 : i32}, %[[Y:.*]]: !tt.ptr<f32>, %[[OUT:.*]]: !tt.ptr<f32>, %[[N:.*]]: i32) attributes {noinline = false} {
tt.func public @add_kernel(%x: !tt.ptr<f32> {tt.divisibility = 16 : i32}, %y: !tt.ptr<f32>, %out: !tt.ptr<f32>, %n: i32) attributes {noinline = false} {
  %zeros = arith.constant dense<0.000000e+00> : tensor<128xf32>
  %c128 = arith.constant 128 : i32
  // CHECK: %[[PID:.*]] = tt.get_program_id x : i32
  %pid = tt.get_program_id x : i32
  %start = arith.muli %pid, %c128 : i32
  // CHECK: %[[RANGE:.*]] = tt.make_range {end = 128 : i32, start = 0 : i32} : tensor<128xi32>
  %range = tt.make_range {end = 128 : i32, start = 0 : i32} : tensor<128xi32>
  // CHECK: tt.splat %{{.*}} : i32 -> tensor<128xi32>
  %starts = tt.splat %start : i32 -> tensor<128xi32>
  %offs = arith.addi %starts, %range : tensor<128xi32>
  %ns = tt.splat %n : i32 -> tensor<128xi32>
  // CHECK: %[[MASK:.*]] = arith.cmpi slt, %{{.*}}, %{{.*}} : tensor<128xi32>
  %mask = arith.cmpi slt, %offs, %ns : tensor<128xi32>
  // CHECK: %[[XS:.*]] = tt.splat %[[X]] : !tt.ptr<f32> -> tensor<128x!tt.ptr<f32>>
  %xs = tt.splat %x : !tt.ptr<f32> -> tensor<128x!tt.ptr<f32>>
  // CHECK: %[[XP:.*]] = tt.addptr %[[XS]], %{{.*}} : tensor<128x!tt.ptr<f32>>, tensor<128xi32>
  %xp = tt.addptr %xs, %offs : tensor<128x!tt.ptr<f32>>, tensor<128xi32>
  // CHECK: %[[A:.*]] = tt.load %[[XP]], %[[MASK]], %{{.*}} : tensor<128x!tt.ptr<f32>>
  %a = tt.load %xp, %mask, %zeros : tensor<128x!tt.ptr<f32>>
  %ys = tt.splat %y : !tt.ptr<f32> -> tensor<128x!tt.ptr<f32>>
  %yp = tt.addptr %ys, %offs : tensor<128x!tt.ptr<f32>>, tensor<128xi32>
  // CHECK: %[[B:.*]] = tt.load %{{.*}}, %[[MASK]] : tensor<128x!tt.ptr<f32>>
  %b = tt.load %yp, %mask : tensor<128x!tt.ptr<f32>>
  // CHECK: tt.load %{{.*}} {isVolatile = true} : tensor<128x!tt.ptr<f32>>
  %v = tt.load %yp {isVolatile = true} : tensor<128x!tt.ptr<f32>>
  // CHECK: %[[SUM:.*]] = arith.select %[[MASK]], %[[A]], %[[B]] : tensor<128xi1>, tensor<128xf32>
  %sum = arith.select %mask, %a, %b : tensor<128xi1>, tensor<128xf32>
  %os = tt.splat %out : !tt.ptr<f32> -> tensor<128x!tt.ptr<f32>>
  %op = tt.addptr %os, %offs : tensor<128x!tt.ptr<f32>>, tensor<128xi32>
  // CHECK: tt.store %{{.*}}, %[[SUM]], %[[MASK]] : tensor<128x!tt.ptr<f32>>
  tt.store %op, %sum, %mask : tensor<128x!tt.ptr<f32>>
  // CHECK: %[[NP:.*]] = tt.get_num_programs y : i32
  %np = tt.get_num_programs y : i32
  // CHECK: tt.addptr %[[OUT]], %[[NP]] : !tt.ptr<f32>, i32
  %last = tt.addptr %out, %np : !tt.ptr<f32>, i32
  %s = arith.constant 1.0 : f32
  // CHECK: tt.store %{{.*}}, %{{.*}} : !tt.ptr<f32>
  tt.store %last, %s : !tt.ptr<f32>
  // CHECK: tt.return
  tt.return
}

// CHECK-LABEL: tt.func public @shapes(
tt.func public @shapes(%p: !tt.ptr<f16, 3>, %t: tensor<32x64xf32>, %r: tensor<64xi32>) {
  // CHECK: %[[E:.*]] = tt.expand_dims %{{.*}} {axis = 1 : i32} : tensor<64xi32> -> tensor<64x1xi32>
  %e = tt.expand_dims %r {axis = 1 : i32} : tensor<64xi32> -> tensor<64x1xi32>
  // CHECK: tt.broadcast %[[E]] : tensor<64x1xi32> -> tensor<64x32xi32>
  %b = tt.broadcast %e : tensor<64x1xi32> -> tensor<64x32xi32>
  // CHECK: %[[T:.*]] = tt.trans %{{.*}} {order = array<i32: 1, 0>} : tensor<32x64xf32> -> tensor<64x32xf32>
  %tt = tt.trans %t {order = array<i32: 1, 0>} : tensor<32x64xf32> -> tensor<64x32xf32>
  // CHECK: tt.reshape %[[T]] : tensor<64x32xf32> -> tensor<2048xf32>
  %f = tt.reshape %tt : tensor<64x32xf32> -> tensor<2048xf32>
  // CHECK: tt.reshape %{{.*}} allow_reorder : tensor<2048xf32> -> tensor<32x64xf32>
  %g = tt.reshape %f allow_reorder : tensor<2048xf32> -> tensor<32x64xf32>
  // CHECK: tt.bitcast %{{.*}} : tensor<2048xf32> -> tensor<2048xi32>
  %i = tt.bitcast %f : tensor<2048xf32> -> tensor<2048xi32>
  // CHECK: tt.fp_to_fp %{{.*}}, rounding = rtne : tensor<2048xf32> -> tensor<2048xf8E5M2>
  %h = tt.fp_to_fp %f, rounding = rtne : tensor<2048xf32> -> tensor<2048xf8E5M2>
  // CHECK: tt.fp_to_fp %{{.*}} : tensor<2048xf8E5M2> -> tensor<2048xf32>
  %k = tt.fp_to_fp %h : tensor<2048xf8E5M2> -> tensor<2048xf32>
  // CHECK: tt.splat %{{.*}} : !tt.ptr<f16, 3> -> tensor<4x!tt.ptr<f16, 3>>
  %ps = tt.splat %p : !tt.ptr<f16, 3> -> tensor<4x!tt.ptr<f16, 3>>
  tt.return
}

// CHECK-LABEL: tt.func public @dot_in_loop(
tt.func public @dot_in_loop(%a: tensor<64x32xf32>, %b: tensor<32x64xf32>, %k: i32) {
  %acc0 = arith.constant dense<0.000000e+00> : tensor<64x64xf32>
  %c0 = arith.constant 0 : i32
  %c32 = arith.constant 32 : i32
  // CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[ACC:.*]] = %{{.*}}) -> (tensor<64x64xf32>) : i32 {
  %res = scf.for %i = %c0 to %k step %c32 iter_args(%acc = %acc0) -> (tensor<64x64xf32>) : i32 {
    // CHECK: tt.dot %{{.*}}, %{{.*}}, %[[ACC]], inputPrecision = tf32 : tensor<64x32xf32> * tensor<32x64xf32> -> tensor<64x64xf32>
    %d = tt.dot %a, %b, %acc, inputPrecision = tf32 : tensor<64x32xf32> * tensor<32x64xf32> -> tensor<64x64xf32>
    // CHECK: tt.dot %{{.*}}, %{{.*}}, %{{.*}} : tensor<64x32xf32> * tensor<32x64xf32> -> tensor<64x64xf32>
    %e = tt.dot %a, %b, %d : tensor<64x32xf32> * tensor<32x64xf32> -> tensor<64x64xf32>
    scf.yield %e : tensor<64x64xf32>
  }
  // CHECK: %[[MAX:.*]] = "tt.reduce"(%{{.*}}) <{axis = 1 : i32}> ({
  // CHECK-NEXT: ^{{.*}}(%[[L:.*]]: f32, %[[R:.*]]: f32):
  // CHECK-NEXT: %[[M:.*]] = arith.maxnumf %[[L]], %[[R]] : f32
  // CHECK-NEXT: tt.reduce.return %[[M]] : f32
  // CHECK-NEXT: }) : (tensor<64x64xf32>) -> tensor<64xf32>
  %max = "tt.reduce"(%res) <{axis = 1 : i32}> ({
  ^bb0(%l: f32, %r: f32):
    %m = arith.maxnumf %l, %r : f32
    tt.reduce.return %m : f32
  }) : (tensor<64x64xf32>) -> tensor<64xf32>
  tt.return
}
