// RUN: mirage-mlir-opt %s | filecheck %s
// RUN: mirage-mlir-opt %s | mirage-mlir-opt | filecheck %s
// RUN: mirage-mlir-opt %s --print-op-generic | mirage-mlir-opt | filecheck %s
// RUN: mirage-mlir-opt %s --print-op-generic | filecheck %s --check-prefix=GENERIC
// RUN: mirage-mlir-opt %s --print-op-generic | mirage-mlir-opt --print-op-generic | filecheck %s --check-prefix=GENERIC

// Every mirage op in its custom form; the custom and the generic form both
// read back to the same custom text.

// CHECK-LABEL: func.func @matmul
// GENERIC-LABEL: "func.func"() <{sym_name = "matmul"
func.func @matmul(%a: tensor<8x64x32xf32>, %b: tensor<32x16xf32>, %q: tensor<2x128x64xf16>, %k: tensor<2x128x64xf16>, %d: tensor<?x4x8xbf16>, %e: tensor<8x4xbf16>) -> tensor<8x64x16xf32> {
  // CHECK: %[[C:.*]] = mirage.matmul %{{.*}}, %{{.*}} : tensor<8x64x32xf32>, tensor<32x16xf32> -> tensor<8x64x16xf32>
  // GENERIC: "mirage.matmul"(%{{.*}}, %{{.*}}) : (tensor<8x64x32xf32>, tensor<32x16xf32>) -> tensor<8x64x16xf32>
  %c = mirage.matmul %a, %b : tensor<8x64x32xf32>, tensor<32x16xf32> -> tensor<8x64x16xf32>
  // CHECK: mirage.matmul %{{.*}}, %{{.*}} transpose_rhs : tensor<2x128x64xf16>, tensor<2x128x64xf16> -> tensor<2x128x128xf16>
  // GENERIC: "mirage.matmul"(%{{.*}}, %{{.*}}) <{transpose_rhs}> : (tensor<2x128x64xf16>, tensor<2x128x64xf16>) -> tensor<2x128x128xf16>
  %s = mirage.matmul %q, %k transpose_rhs : tensor<2x128x64xf16>, tensor<2x128x64xf16> -> tensor<2x128x128xf16>
  // CHECK: mirage.matmul %{{.*}}, %{{.*}} transpose_lhs transpose_rhs : tensor<?x4x8xbf16>, tensor<8x4xbf16> -> tensor<?x8x8xbf16>
  // GENERIC: "mirage.matmul"(%{{.*}}, %{{.*}}) <{transpose_lhs, transpose_rhs}>
  %t = mirage.matmul %d, %e transpose_lhs transpose_rhs : tensor<?x4x8xbf16>, tensor<8x4xbf16> -> tensor<?x8x8xbf16>
  // CHECK: func.return %[[C]]
  func.return %c : tensor<8x64x16xf32>
}

// CHECK-LABEL: func.func @softmax
// GENERIC-LABEL: "func.func"() <{sym_name = "softmax"
func.func @softmax(%x: tensor<2x8x128x128xf32>) -> tensor<2x8x128x128xf32> {
  // CHECK: %[[P:.*]] = mirage.softmax %{{.*}} axis = -1 : tensor<2x8x128x128xf32>
  // GENERIC: "mirage.softmax"(%{{.*}}) <{axis = -1 : i64}> : (tensor<2x8x128x128xf32>) -> tensor<2x8x128x128xf32>
  %p = mirage.softmax %x axis = -1 : tensor<2x8x128x128xf32>
  // CHECK: mirage.softmax %[[P]] axis = 1 : tensor<2x8x128x128xf32>
  %r = mirage.softmax %p axis = 1 : tensor<2x8x128x128xf32>
  func.return %r : tensor<2x8x128x128xf32>
}

// CHECK-LABEL: func.func @attention
// GENERIC-LABEL: "func.func"() <{sym_name = "attention"
func.func @attention(%q: tensor<1x8x128x64xf16>, %k: tensor<1x2x128x64xf16>, %v: tensor<1x2x128x64xf16>, %q3: tensor<2x16x64xf32>, %k3: tensor<2x32x64xf32>, %v3: tensor<2x32x48xf32>, %m: tensor<16x32xf32>) -> tensor<1x8x128x64xf16> {
  // CHECK: %[[O:.*]] = mirage.attention %{{.*}}, %{{.*}}, %{{.*}} scale 1.250000e-01 causal : tensor<1x8x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x2x128x64xf16> -> tensor<1x8x128x64xf16>
  // GENERIC: "mirage.attention"(%{{.*}}, %{{.*}}, %{{.*}}) <{scale = 1.250000e-01 : f64, causal, operandSegmentSizes = array<i32: 1, 1, 1, 0>}>
  %o = mirage.attention %q, %k, %v scale 0.125 causal : tensor<1x8x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x2x128x64xf16> -> tensor<1x8x128x64xf16>
  // CHECK: mirage.attention %{{.*}}, %{{.*}}, %{{.*}} mask %{{.*}} scale 1.250000e-01 : tensor<2x16x64xf32>, tensor<2x32x64xf32>, tensor<2x32x48xf32>, tensor<16x32xf32> -> tensor<2x16x48xf32>
  // GENERIC: "mirage.attention"(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) <{scale = 1.250000e-01 : f64, operandSegmentSizes = array<i32: 1, 1, 1, 1>}>
  %p = mirage.attention %q3, %k3, %v3 mask %m scale 1.250000e-01 : tensor<2x16x64xf32>, tensor<2x32x64xf32>, tensor<2x32x48xf32>, tensor<16x32xf32> -> tensor<2x16x48xf32>
  // CHECK: func.return %[[O]]
  func.return %o : tensor<1x8x128x64xf16>
}

// CHECK-LABEL: func.func @norms
// GENERIC-LABEL: "func.func"() <{sym_name = "norms"
func.func @norms(%x: tensor<4x16x512xf32>, %w: tensor<512xf32>, %b: tensor<512xf32>, %n: tensor<64x32x7x7xf64>, %c: tensor<32xf64>) -> tensor<4x16x512xf32> {
  // CHECK: %[[R:.*]] = mirage.rms_norm %{{.*}}, %{{.*}} eps 1.000000e-06 : tensor<4x16x512xf32>, tensor<512xf32>
  // GENERIC: "mirage.rms_norm"(%{{.*}}, %{{.*}}) <{eps = 1.000000e-06 : f64}> : (tensor<4x16x512xf32>, tensor<512xf32>) -> tensor<4x16x512xf32>
  %r = mirage.rms_norm %x, %w eps 1.0e-6 : tensor<4x16x512xf32>, tensor<512xf32>
  // CHECK: %[[L:.*]] = mirage.layer_norm %[[R]], %{{.*}}, %{{.*}} eps 1.000000e-05 : tensor<4x16x512xf32>, tensor<512xf32>
  // GENERIC: "mirage.layer_norm"(%{{.*}}, %{{.*}}, %{{.*}}) <{eps = 1.000000e-05 : f64}> : (tensor<4x16x512xf32>, tensor<512xf32>, tensor<512xf32>) -> tensor<4x16x512xf32>
  %l = mirage.layer_norm %r, %w, %b eps 1.0e-5 : tensor<4x16x512xf32>, tensor<512xf32>
  // CHECK: %{{.*}}, %{{.*}}, %{{.*}} = mirage.batch_norm %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} eps 1.000000e-05 momentum 1.000000e-01 : tensor<64x32x7x7xf64>, tensor<32xf64>
  // GENERIC: "mirage.batch_norm"(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) <{eps = 1.000000e-05 : f64, momentum = 1.000000e-01 : f64}> : (tensor<64x32x7x7xf64>, tensor<32xf64>, tensor<32xf64>, tensor<32xf64>, tensor<32xf64>) -> (tensor<64x32x7x7xf64>, tensor<32xf64>, tensor<32xf64>)
  %y, %mean, %var = mirage.batch_norm %n, %c, %c, %c, %c eps 1.0e-5 momentum 0.1 : tensor<64x32x7x7xf64>, tensor<32xf64>
  // CHECK: func.return %[[L]]
  func.return %l : tensor<4x16x512xf32>
}

// CHECK-LABEL: func.func @concat_slice
// GENERIC-LABEL: "func.func"() <{sym_name = "concat_slice"
func.func @concat_slice(%wq: tensor<512x512xf32>, %wk: tensor<512x128xf32>, %wv: tensor<512x128xf32>) -> tensor<512x128xf32> {
  // CHECK: %[[W:.*]] = mirage.concat %{{.*}}, %{{.*}}, %{{.*}} axis = 1 : tensor<512x512xf32>, tensor<512x128xf32>, tensor<512x128xf32> -> tensor<512x768xf32>
  // GENERIC: "mirage.concat"(%{{.*}}, %{{.*}}, %{{.*}}) <{axis = 1 : i64}> : (tensor<512x512xf32>, tensor<512x128xf32>, tensor<512x128xf32>) -> tensor<512x768xf32>
  %w = mirage.concat %wq, %wk, %wv axis = 1 : tensor<512x512xf32>, tensor<512x128xf32>, tensor<512x128xf32> -> tensor<512x768xf32>
  // CHECK: %[[K:.*]] = mirage.slice %[[W]][0, 512] [512, 128] [1, 1] : tensor<512x768xf32> to tensor<512x128xf32>
  // GENERIC: "mirage.slice"(%{{.*}}) <{static_offsets = array<i64: 0, 512>, static_sizes = array<i64: 512, 128>, static_strides = array<i64: 1, 1>}> : (tensor<512x768xf32>) -> tensor<512x128xf32>
  %k = mirage.slice %w[0, 512] [512, 128] [1, 1] : tensor<512x768xf32> to tensor<512x128xf32>
  // CHECK: mirage.slice %[[W]][1, 0] [255, 768] [2, 1] : tensor<512x768xf32> to tensor<255x768xf32>
  %odd = mirage.slice %w[1, 0] [255, 768] [2, 1] : tensor<512x768xf32> to tensor<255x768xf32>
  // CHECK: func.return %[[K]]
  func.return %k : tensor<512x128xf32>
}

// CHECK-LABEL: func.func @kernel
// GENERIC-LABEL: "func.func"() <{sym_name = "kernel"
func.func @kernel(%x: tensor<16x64xf32>, %w: tensor<64xf32>) -> (tensor<16x64xf32>, tensor<16x64xf32>) {
  // CHECK: %[[K0:[a-z0-9_]+]], %[[K1:[a-z0-9_]+]] = mirage.kernel (%{{.*}}, %{{.*}}) : (tensor<16x64xf32>, tensor<64xf32>) -> (tensor<16x64xf32>, tensor<16x64xf32>) attributes {kernel_name = "norm_softmax"} {
  // CHECK-NEXT: ^{{.*}}(%[[A:.*]]: tensor<16x64xf32>, %[[B:.*]]: tensor<64xf32>):
  // CHECK-NEXT:   %[[N:.*]] = mirage.rms_norm %[[A]], %[[B]] eps 1.000000e-06 : tensor<16x64xf32>, tensor<64xf32>
  // CHECK-NEXT:   %[[E:.*]] = tensor.empty() : tensor<16x64xf32>
  // CHECK-NEXT:   %[[T:.*]] = linalg.generic
  // CHECK:        %[[S:.*]] = mirage.softmax %[[T]] axis = -1 : tensor<16x64xf32>
  // CHECK-NEXT:   mirage.yield %[[N]], %[[S]] : tensor<16x64xf32>, tensor<16x64xf32>
  // CHECK-NEXT: }
  // CHECK-NEXT: func.return %[[K0]], %[[K1]]
  // GENERIC: "mirage.kernel"(%{{.*}}, %{{.*}}) ({
  // GENERIC: "mirage.yield"(%{{.*}}, %{{.*}}) : (tensor<16x64xf32>, tensor<16x64xf32>) -> ()
  // GENERIC: }) {kernel_name = "norm_softmax"} : (tensor<16x64xf32>, tensor<64xf32>) -> (tensor<16x64xf32>, tensor<16x64xf32>)
  %r:2 = mirage.kernel (%x, %w) : (tensor<16x64xf32>, tensor<64xf32>) -> (tensor<16x64xf32>, tensor<16x64xf32>) attributes {kernel_name = "norm_softmax"} {
  ^bb0(%a: tensor<16x64xf32>, %b: tensor<64xf32>):
    %n = mirage.rms_norm %a, %b eps 1.0e-6 : tensor<16x64xf32>, tensor<64xf32>
    %e = tensor.empty() : tensor<16x64xf32>
    %t = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%n : tensor<16x64xf32>) outs(%e : tensor<16x64xf32>) {
    ^bb1(%in: f32, %out: f32):
      %th = math.tanh %in : f32
      linalg.yield %th : f32
    } -> tensor<16x64xf32>
    %s = mirage.softmax %t axis = -1 : tensor<16x64xf32>
    mirage.yield %n, %s : tensor<16x64xf32>, tensor<16x64xf32>
  }
  func.return %r#0, %r#1 : tensor<16x64xf32>, tensor<16x64xf32>
}

// CHECK-LABEL: func.func @kernel_without_inputs
func.func @kernel_without_inputs() -> tensor<4xf32> {
  // CHECK: mirage.kernel () : () -> tensor<4xf32> {
  // CHECK-NEXT: %{{.*}} = arith.constant dense<1.000000e+00> : tensor<4xf32>
  %r = mirage.kernel () : () -> tensor<4xf32> {
    %c = arith.constant dense<1.0> : tensor<4xf32>
    mirage.yield %c : tensor<4xf32>
  }
  func.return %r : tensor<4xf32>
}
