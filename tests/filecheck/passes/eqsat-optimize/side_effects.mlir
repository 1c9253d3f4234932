// RUN: mirage-mlir-opt %s --split-input-file -p 'eqsat-optimize{target=flops}' | filecheck %s

// A call (a side effect) between products stays once, where it was, reading the value the
// original matmul computes; the chain after it is reordered around it.

func.func private @log(tensor<8x8xf32>) -> tensor<8x8xf32>
func.func @call_between_matmuls(%a: tensor<8x2xf32>, %b: tensor<2x8xf32>, %x: tensor<8x8xf32>, %y: tensor<8x1xf32>) -> tensor<8x1xf32> {
  %cst = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<8x8xf32>
  %f = linalg.fill ins(%cst : f32) outs(%e : tensor<8x8xf32>) -> tensor<8x8xf32>
  %m = linalg.matmul ins(%a, %b : tensor<8x2xf32>, tensor<2x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32>
  %s = func.call @log(%m) : (tensor<8x8xf32>) -> tensor<8x8xf32>
  %sx = linalg.matmul ins(%s, %x : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32>
  %e1 = tensor.empty() : tensor<8x1xf32>
  %f1 = linalg.fill ins(%cst : f32) outs(%e1 : tensor<8x1xf32>) -> tensor<8x1xf32>
  %p = linalg.matmul ins(%sx, %y : tensor<8x8xf32>, tensor<8x1xf32>) outs(%f1 : tensor<8x1xf32>) -> tensor<8x1xf32>
  func.return %p : tensor<8x1xf32>
}

// CHECK-LABEL: func.func @call_between_matmuls
// CHECK-SAME:    (%[[A:.*]]: tensor<8x2xf32>, %[[B:.*]]: tensor<2x8xf32>, %[[X:.*]]: tensor<8x8xf32>, %[[Y:.*]]: tensor<8x1xf32>)
// CHECK:         %[[M:.*]] = linalg.matmul ins(%[[A]], %[[B]] : {{.*}})
// CHECK-NEXT:    %[[S:.*]] = func.call @log(%[[M]])
// CHECK-NOT:     func.call
// CHECK:         %[[XY:.*]] = linalg.matmul ins(%[[X]], %[[Y]] : {{.*}}) -> tensor<8x1xf32>
// CHECK-NOT:     func.call
// CHECK:         %[[P:.*]] = linalg.matmul ins(%[[S]], %[[XY]] : {{.*}}) -> tensor<8x1xf32>
// CHECK:         func.return %[[P]] : tensor<8x1xf32>

// -----

// A sum and a max over rows of length 0 are their inits, 0 and -inf.

func.func @empty_rows(%x: tensor<3x0xf32>) -> (tensor<3xf32>, tensor<3xf32>) {
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<3xf32>
  %init = linalg.fill ins(%ninf : f32) outs(%e : tensor<3xf32>) -> tensor<3xf32>
  %max = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%x : tensor<3x0xf32>) outs(%init : tensor<3xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %m = arith.maximumf %in, %acc : f32
    linalg.yield %m : f32
  } -> tensor<3xf32>
  %zinit = linalg.fill ins(%zero : f32) outs(%e : tensor<3xf32>) -> tensor<3xf32>
  %sum = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%x : tensor<3x0xf32>) outs(%zinit : tensor<3xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %s = arith.addf %in, %acc : f32
    linalg.yield %s : f32
  } -> tensor<3xf32>
  func.return %max, %sum : tensor<3xf32>, tensor<3xf32>
}

// CHECK-LABEL: func.func @empty_rows
// CHECK-NOT:     linalg.generic
// CHECK-DAG:     %[[NINF:.*]] = arith.constant dense<0xff800000> : tensor<3xf32>
// CHECK-DAG:     %[[ZERO:.*]] = arith.constant dense<0.000000e+00> : tensor<3xf32>
// CHECK:         func.return %[[NINF]], %[[ZERO]] : tensor<3xf32>, tensor<3xf32>

// -----

// f16 products as torch-mlir writes them (f16 operands, an f32 accumulator, a truncf) are
// reordered like f32 ones and written back the same way.

#map = affine_map<(d0, d1) -> (d0, d1)>
func.func @f16_chain(%a: tensor<32x2xf16>, %b: tensor<2x32xf16>, %c: tensor<32x2xf16>) -> tensor<32x2xf16> {
  %cst = arith.constant 0.000000e+00 : f32
  %0 = tensor.empty() : tensor<32x32xf32>
  %1 = linalg.fill ins(%cst : f32) outs(%0 : tensor<32x32xf32>) -> tensor<32x32xf32>
  %2 = linalg.matmul ins(%a, %b : tensor<32x2xf16>, tensor<2x32xf16>) outs(%1 : tensor<32x32xf32>) -> tensor<32x32xf32>
  %3 = tensor.empty() : tensor<32x32xf16>
  %4 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%2 : tensor<32x32xf32>) outs(%3 : tensor<32x32xf16>) {
  ^bb0(%in: f32, %out: f16):
    %t = arith.truncf %in : f32 to f16
    linalg.yield %t : f16
  } -> tensor<32x32xf16>
  %5 = tensor.empty() : tensor<32x2xf32>
  %6 = linalg.fill ins(%cst : f32) outs(%5 : tensor<32x2xf32>) -> tensor<32x2xf32>
  %7 = linalg.matmul ins(%4, %c : tensor<32x32xf16>, tensor<32x2xf16>) outs(%6 : tensor<32x2xf32>) -> tensor<32x2xf32>
  %8 = tensor.empty() : tensor<32x2xf16>
  %9 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%7 : tensor<32x2xf32>) outs(%8 : tensor<32x2xf16>) {
  ^bb0(%in: f32, %out: f16):
    %t = arith.truncf %in : f32 to f16
    linalg.yield %t : f16
  } -> tensor<32x2xf16>
  func.return %9 : tensor<32x2xf16>
}

// CHECK-LABEL: func.func @f16_chain
// CHECK-SAME:    (%[[A:.*]]: tensor<32x2xf16>, %[[B:.*]]: tensor<2x32xf16>, %[[C:.*]]: tensor<32x2xf16>)
// Each f16 product (accumulated in f32, then cast back) is one matmul kernel.
// CHECK:         %[[BC16:.*]] = mirage.kernel (%[[B]], %[[C]]) : (tensor<2x32xf16>, tensor<32x2xf16>) -> tensor<2x2xf16> attributes {template = "matmul"}
// CHECK:           linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<2x32xf16>, tensor<32x2xf16>) outs(%{{.*}} : tensor<2x2xf32>)
// CHECK:           arith.truncf %{{.*}} : f32 to f16
// CHECK:         %[[OUT:.*]] = mirage.kernel (%[[A]], %[[BC16]]) : (tensor<32x2xf16>, tensor<2x2xf16>) -> tensor<32x2xf16> attributes {template = "matmul"}
// CHECK:           linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<32x2xf16>, tensor<2x2xf16>) outs(%{{.*}} : tensor<32x2xf32>)
// CHECK:           arith.truncf %{{.*}} : f32 to f16
// CHECK:         func.return %[[OUT]] : tensor<32x2xf16>
