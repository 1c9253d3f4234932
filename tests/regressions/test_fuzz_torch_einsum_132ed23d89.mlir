// Found by test_fuzz_torch_einsum: {'family': 'einsum', 'spec': 'a,ab->a', 'sizes': {'a': 2, 'b': 1}}
// target: h100

#map = affine_map<(d0, d1) -> (d0, d1)>
module {
  func.func @main(%arg0: tensor<2xf32>, %arg1: tensor<2x1xf32>) -> tensor<2xf32> {
    %expanded = tensor.expand_shape %arg0 [[0, 1]] output_shape [2, 1] : tensor<2xf32> into tensor<2x1xf32>
    %0 = tensor.empty() : tensor<2x1xf32>
    %1 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel"]} ins(%expanded, %arg1 : tensor<2x1xf32>, tensor<2x1xf32>) outs(%0 : tensor<2x1xf32>) {
    ^bb0(%in: f32, %in_0: f32, %out: f32):
      %2 = arith.mulf %in, %in_0 : f32
      linalg.yield %2 : f32
    } -> tensor<2x1xf32>
    %collapsed = tensor.collapse_shape %1 [[0, 1]] : tensor<2x1xf32> into tensor<2xf32>
    return %collapsed : tensor<2xf32>
  }
}
