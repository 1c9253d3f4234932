// RUN: mirage-mlir-opt %s -p 'eqsat-optimize{target=flops verify=true}' | filecheck %s
// RUN: mirage-mlir-opt %S/Inputs/gqa_naive_f16.mlir -p 'eqsat-optimize{verify=true report="%t.json"}' -o %t.gqa
// RUN: filecheck %s --input-file %t.json --check-prefix=GQA
// RUN: filecheck %s --input-file %t.gqa --check-prefix=GQA-IR
// REQUIRES: full-suite

// exp/log as torch imports them. log(sum(exp(x))) overflows for x above 88.7 in f32: it
// becomes max + log(sum(exp(x - max))); log(softmax(x)) is -inf where a probability rounds
// to 0: it becomes (x - max) - log(sum(exp(x - max))). Both cost more FLOPs than the naive
// forms and are chosen for stability.

// CHECK-LABEL: func.func @log_sum_exp
// CHECK:         arith.maximumf
// CHECK:         arith.subf
// CHECK:         math.exp
// CHECK:         arith.addf
// CHECK:         math.log
// CHECK:         arith.addf
// CHECK:         func.return

// CHECK-LABEL: func.func @log_of_softmax
// CHECK-NOT:     mirage.softmax
// CHECK:         arith.maximumf
// CHECK:         arith.subf
// CHECK:         math.exp
// CHECK:         arith.addf
// CHECK:         math.log
// CHECK:         arith.subf
// CHECK:         func.return

// GQA with a naive softmax in f16 (Inputs/naive_gqa.py): exp overflows on most rows of the
// original. verify judges both programs against the original's float64 twin: the optimised
// attention passes, and the report says the original overflowed.

// GQA:       "rewrite_reason": "lower cost"
// GQA:       "verified": true
// GQA:       "verify_reference": "float64"
// GQA:       "original_overflowed": true
// GQA:       "optimized_nonfinite": 0
// GQA:       "optimized_wrong": 0
// GQA:       "verify_note": "output #0: against float64 the original is wrong on {{[0-9]+}} of 32768 elements ({{[0-9]+}} of them inf or NaN, it overflowed), the optimised function on 0"

// GQA-IR:    mirage.attention

#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
#vec = affine_map<(d0) -> (d0)>
#kept = affine_map<(d0, d1) -> (d0, 0)>
module {
  func.func @log_sum_exp(%arg0: tensor<4x16xf32>) -> tensor<4xf32> {
    %cst = arith.constant 0.000000e+00 : f32
    %0 = tensor.empty() : tensor<4x16xf32>
    %1 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%arg0 : tensor<4x16xf32>) outs(%0 : tensor<4x16xf32>) {
    ^bb0(%in: f32, %out: f32):
      %6 = math.exp %in : f32
      linalg.yield %6 : f32
    } -> tensor<4x16xf32>
    %2 = tensor.empty() : tensor<4xf32>
    %3 = linalg.fill ins(%cst : f32) outs(%2 : tensor<4xf32>) -> tensor<4xf32>
    %4 = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]} ins(%1 : tensor<4x16xf32>) outs(%3 : tensor<4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %6 = arith.addf %in, %out : f32
      linalg.yield %6 : f32
    } -> tensor<4xf32>
    %5 = linalg.generic {indexing_maps = [#vec, #vec], iterator_types = ["parallel"]} ins(%4 : tensor<4xf32>) outs(%2 : tensor<4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %6 = math.log %in : f32
      linalg.yield %6 : f32
    } -> tensor<4xf32>
    return %5 : tensor<4xf32>
  }
  func.func @log_of_softmax(%arg0: tensor<4x16xf32>) -> tensor<4x16xf32> {
    %c0_i64 = arith.constant 0 : i64
    %cst = arith.constant 0xFF800000 : f32
    %cst_0 = arith.constant 0.000000e+00 : f32
    %0 = tensor.empty() : tensor<4xi64>
    %1 = linalg.fill ins(%c0_i64 : i64) outs(%0 : tensor<4xi64>) -> tensor<4xi64>
    %2 = tensor.empty() : tensor<4xf32>
    %3 = linalg.fill ins(%cst : f32) outs(%2 : tensor<4xf32>) -> tensor<4xf32>
    %4:2 = linalg.generic {indexing_maps = [#id, #row, #row], iterator_types = ["parallel", "reduction"]} ins(%arg0 : tensor<4x16xf32>) outs(%3, %1 : tensor<4xf32>, tensor<4xi64>) {
    ^bb0(%in: f32, %out: f32, %out_1: i64):
      %13 = linalg.index 1 : index
      %14 = arith.index_cast %13 : index to i64
      %15 = arith.maximumf %in, %out : f32
      %16 = arith.cmpf ogt, %in, %out : f32
      %17 = arith.select %16, %14, %out_1 : i64
      linalg.yield %15, %17 : f32, i64
    } -> (tensor<4xf32>, tensor<4xi64>)
    %expanded = tensor.expand_shape %4#0 [[0, 1]] output_shape [4, 1] : tensor<4xf32> into tensor<4x1xf32>
    %5 = tensor.empty() : tensor<4x16xf32>
    %6 = linalg.generic {indexing_maps = [#id, #kept, #id], iterator_types = ["parallel", "parallel"]} ins(%arg0, %expanded : tensor<4x16xf32>, tensor<4x1xf32>) outs(%5 : tensor<4x16xf32>) {
    ^bb0(%in: f32, %in_1: f32, %out: f32):
      %13 = arith.subf %in, %in_1 : f32
      linalg.yield %13 : f32
    } -> tensor<4x16xf32>
    %7 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%6 : tensor<4x16xf32>) outs(%5 : tensor<4x16xf32>) {
    ^bb0(%in: f32, %out: f32):
      %13 = math.exp %in : f32
      linalg.yield %13 : f32
    } -> tensor<4x16xf32>
    %8 = tensor.empty() : tensor<4x1xf32>
    %9 = linalg.fill ins(%cst_0 : f32) outs(%8 : tensor<4x1xf32>) -> tensor<4x1xf32>
    %10 = linalg.generic {indexing_maps = [#id, #kept], iterator_types = ["parallel", "reduction"]} ins(%7 : tensor<4x16xf32>) outs(%9 : tensor<4x1xf32>) {
    ^bb0(%in: f32, %out: f32):
      %13 = arith.addf %in, %out : f32
      linalg.yield %13 : f32
    } -> tensor<4x1xf32>
    %11 = linalg.generic {indexing_maps = [#id, #kept, #id], iterator_types = ["parallel", "parallel"]} ins(%7, %10 : tensor<4x16xf32>, tensor<4x1xf32>) outs(%5 : tensor<4x16xf32>) {
    ^bb0(%in: f32, %in_1: f32, %out: f32):
      %13 = arith.divf %in, %in_1 : f32
      linalg.yield %13 : f32
    } -> tensor<4x16xf32>
    %12 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%11 : tensor<4x16xf32>) outs(%5 : tensor<4x16xf32>) {
    ^bb0(%in: f32, %out: f32):
      %13 = math.log %in : f32
      linalg.yield %13 : f32
    } -> tensor<4x16xf32>
    return %12 : tensor<4x16xf32>
  }
}
