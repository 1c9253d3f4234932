// Found by test_fuzz_torch_elementwise: {'family': 'elementwise', 'inputs': [[5], [1]], 'ops': [['scalar_add', 1, 0.125], ['sub', 2, 2]]}
// target: h100

#map = affine_map<(d0) -> (d0)>
module {
  func.func @main(%arg0: tensor<5xf32>, %arg1: tensor<1xf32>) -> tensor<1xf32> {
    %cst = arith.constant 1.250000e-01 : f32
    %0 = tensor.empty() : tensor<1xf32>
    %1 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]} ins(%arg1 : tensor<1xf32>) outs(%0 : tensor<1xf32>) {
    ^bb0(%in: f32, %out: f32):
      %3 = arith.addf %in, %cst : f32
      linalg.yield %3 : f32
    } -> tensor<1xf32>
    %2 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel"]} ins(%1, %1 : tensor<1xf32>, tensor<1xf32>) outs(%0 : tensor<1xf32>) {
    ^bb0(%in: f32, %in_0: f32, %out: f32):
      %3 = arith.subf %in, %in_0 : f32
      linalg.yield %3 : f32
    } -> tensor<1xf32>
    return %2 : tensor<1xf32>
  }
}
