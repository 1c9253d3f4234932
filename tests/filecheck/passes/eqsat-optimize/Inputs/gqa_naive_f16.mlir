// Naive-softmax GQA in f16: written by naive_gqa.py in this folder; do not edit.
#map = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d3, d4)>
#map1 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3, d4)>
#map2 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#map3 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#map4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, 0)>
module {
  func.func @main(%arg0: tensor<1x8x64x64xf16>, %arg1: tensor<1x2x64x64xf16>, %arg2: tensor<1x2x64x64xf16>) -> tensor<1x8x64x64xf16> {
    %cst = arith.constant 0.000000e+00 : f32
    %cst_0 = arith.constant 0.000000e+00 : f16
    %cst_1 = arith.constant 2.000000e+00 : f16
    %0 = tensor.empty() : tensor<1x2x4x64x64xf16>
    %1 = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%arg1 : tensor<1x2x64x64xf16>) outs(%0 : tensor<1x2x4x64x64xf16>) {
    ^bb0(%in: f16, %out: f16):
      linalg.yield %in : f16
    } -> tensor<1x2x4x64x64xf16>
    %collapsed = tensor.collapse_shape %1 [[0], [1, 2], [3], [4]] : tensor<1x2x4x64x64xf16> into tensor<1x8x64x64xf16>
    %2 = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%arg2 : tensor<1x2x64x64xf16>) outs(%0 : tensor<1x2x4x64x64xf16>) {
    ^bb0(%in: f16, %out: f16):
      linalg.yield %in : f16
    } -> tensor<1x2x4x64x64xf16>
    %3 = tensor.empty() : tensor<1x8x64x64xf16>
    %transposed = linalg.transpose ins(%collapsed : tensor<1x8x64x64xf16>) outs(%3 : tensor<1x8x64x64xf16>) permutation = [0, 1, 3, 2] 
    %collapsed_2 = tensor.collapse_shape %arg0 [[0, 1], [2], [3]] : tensor<1x8x64x64xf16> into tensor<8x64x64xf16>
    %collapsed_3 = tensor.collapse_shape %transposed [[0, 1], [2], [3]] : tensor<1x8x64x64xf16> into tensor<8x64x64xf16>
    %4 = tensor.empty() : tensor<8x64x64xf32>
    %5 = linalg.fill ins(%cst : f32) outs(%4 : tensor<8x64x64xf32>) -> tensor<8x64x64xf32>
    %6 = linalg.batch_matmul ins(%collapsed_2, %collapsed_3 : tensor<8x64x64xf16>, tensor<8x64x64xf16>) outs(%5 : tensor<8x64x64xf32>) -> tensor<8x64x64xf32>
    %7 = tensor.empty() : tensor<8x64x64xf16>
    %8 = linalg.generic {indexing_maps = [#map2, #map2], iterator_types = ["parallel", "parallel", "parallel"]} ins(%6 : tensor<8x64x64xf32>) outs(%7 : tensor<8x64x64xf16>) {
    ^bb0(%in: f32, %out: f16):
      %17 = arith.truncf %in : f32 to f16
      linalg.yield %17 : f16
    } -> tensor<8x64x64xf16>
    %expanded = tensor.expand_shape %8 [[0, 1], [2], [3]] output_shape [1, 8, 64, 64] : tensor<8x64x64xf16> into tensor<1x8x64x64xf16>
    %9 = linalg.generic {indexing_maps = [#map3, #map3], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%expanded : tensor<1x8x64x64xf16>) outs(%3 : tensor<1x8x64x64xf16>) {
    ^bb0(%in: f16, %out: f16):
      %17 = arith.mulf %in, %cst_1 : f16
      linalg.yield %17 : f16
    } -> tensor<1x8x64x64xf16>
    %10 = linalg.generic {indexing_maps = [#map3, #map3], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%9 : tensor<1x8x64x64xf16>) outs(%3 : tensor<1x8x64x64xf16>) {
    ^bb0(%in: f16, %out: f16):
      %17 = math.exp %in : f16
      linalg.yield %17 : f16
    } -> tensor<1x8x64x64xf16>
    %11 = tensor.empty() : tensor<1x8x64x1xf16>
    %12 = linalg.fill ins(%cst_0 : f16) outs(%11 : tensor<1x8x64x1xf16>) -> tensor<1x8x64x1xf16>
    %13 = linalg.generic {indexing_maps = [#map3, #map4], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%10 : tensor<1x8x64x64xf16>) outs(%12 : tensor<1x8x64x1xf16>) {
    ^bb0(%in: f16, %out: f16):
      %17 = arith.addf %in, %out : f16
      linalg.yield %17 : f16
    } -> tensor<1x8x64x1xf16>
    %14 = linalg.generic {indexing_maps = [#map3, #map4, #map3], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%10, %13 : tensor<1x8x64x64xf16>, tensor<1x8x64x1xf16>) outs(%3 : tensor<1x8x64x64xf16>) {
    ^bb0(%in: f16, %in_7: f16, %out: f16):
      %17 = arith.divf %in, %in_7 : f16
      linalg.yield %17 : f16
    } -> tensor<1x8x64x64xf16>
    %collapsed_4 = tensor.collapse_shape %14 [[0, 1], [2], [3]] : tensor<1x8x64x64xf16> into tensor<8x64x64xf16>
    %collapsed_5 = tensor.collapse_shape %2 [[0, 1, 2], [3], [4]] : tensor<1x2x4x64x64xf16> into tensor<8x64x64xf16>
    %15 = linalg.batch_matmul ins(%collapsed_4, %collapsed_5 : tensor<8x64x64xf16>, tensor<8x64x64xf16>) outs(%5 : tensor<8x64x64xf32>) -> tensor<8x64x64xf32>
    %16 = linalg.generic {indexing_maps = [#map2, #map2], iterator_types = ["parallel", "parallel", "parallel"]} ins(%15 : tensor<8x64x64xf32>) outs(%7 : tensor<8x64x64xf16>) {
    ^bb0(%in: f32, %out: f16):
      %17 = arith.truncf %in : f32 to f16
      linalg.yield %17 : f16
    } -> tensor<8x64x64xf16>
    %expanded_6 = tensor.expand_shape %16 [[0, 1], [2], [3]] output_shape [1, 8, 64, 64] : tensor<8x64x64xf16> into tensor<1x8x64x64xf16>
    return %expanded_6 : tensor<1x8x64x64xf16>
  }
}
