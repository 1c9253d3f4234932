// RUN: mirage-mlir-opt %s --split-input-file | filecheck %s
// RUN: mirage-mlir-opt %s --split-input-file | mirage-mlir-opt --split-input-file | filecheck %s

// Hex literals in float-typed dense attributes are IEEE bits of the element
// type.  xDSL 0.74 read dense<0xFF800000> as the integer 4286578688 converted
// to a float (printed back as 4.28657869e+09): a silent miscompile of every
// -inf mask.

// CHECK-LABEL: func.func @neg_inf_splat
func.func @neg_inf_splat() -> tensor<4x4xf32> {
  // CHECK: arith.constant dense<0xff800000> : tensor<4x4xf32>
  // CHECK-NOT: e+09
  %0 = arith.constant dense<0xFF800000> : tensor<4x4xf32>
  func.return %0 : tensor<4x4xf32>
}

// -----

// CHECK-LABEL: func.func @scalar_tensor
func.func @scalar_tensor() -> tensor<f32> {
  // CHECK: arith.constant dense<0xff800000> : tensor<f32>
  %0 = arith.constant dense<0xFF800000> : tensor<f32>
  func.return %0 : tensor<f32>
}

// -----

// CHECK-LABEL: func.func @non_splat
func.func @non_splat() -> tensor<2x2xf32> {
  // 0x3F800000 is 1.0 and 0x00000001 the smallest subnormal.
  // CHECK: arith.constant dense<{{\[}}[0x7f800000, 1.000000e+00], [0xff800000, 1.401300e-45]]> : tensor<2x2xf32>
  %0 = arith.constant dense<[[0x7F800000, 0x3F800000], [0xFF800000, 0x00000001]]> : tensor<2x2xf32>
  func.return %0 : tensor<2x2xf32>
}

// -----

// CHECK-LABEL: func.func @other_widths
func.func @other_widths() -> (tensor<2xf16>, tensor<2xbf16>, tensor<2xf64>) {
  // CHECK: arith.constant dense<0xfc00> : tensor<2xf16>
  %0 = arith.constant dense<0xFC00> : tensor<2xf16>
  // 0x3F80 is bf16 1.0.
  // CHECK: arith.constant dense<[0xff80, 1.000000e+00]> : tensor<2xbf16>
  %1 = arith.constant dense<[0xFF80, 0x3F80]> : tensor<2xbf16>
  // CHECK: arith.constant dense<0xfff0000000000000> : tensor<2xf64>
  %2 = arith.constant dense<0xFFF0000000000000> : tensor<2xf64>
  func.return %0, %1, %2 : tensor<2xf16>, tensor<2xbf16>, tensor<2xf64>
}

// -----

// Integer hex literals stay integers (two's complement in the element width).
// CHECK-LABEL: func.func @integers_unchanged
func.func @integers_unchanged() -> (tensor<2xi8>, tensor<2xi32>) {
  // CHECK: arith.constant dense<-1> : tensor<2xi8>
  %0 = arith.constant dense<0xFF> : tensor<2xi8>
  // CHECK: arith.constant dense<16> : tensor<2xi32>
  %1 = arith.constant dense<0x10> : tensor<2xi32>
  func.return %0, %1 : tensor<2xi8>, tensor<2xi32>
}

// -----

// Scalar float attributes were already read as bits; kept here as a guard.
// CHECK-LABEL: func.func @scalar_float_attr
func.func @scalar_float_attr() -> (f32, f64) {
  // CHECK: arith.constant 0xff800000 : f32
  %0 = arith.constant 0xFF800000 : f32
  // CHECK: arith.constant 0xfff0000000000000 : f64
  %1 = arith.constant 0xFFF0000000000000 : f64
  func.return %0, %1 : f32, f64
}
