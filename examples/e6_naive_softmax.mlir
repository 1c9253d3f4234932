// e6_naive_softmax: naive softmax exp(x)/sum(exp(x)), x [256, 1024]
// Imported from examples/e6_naive_softmax.py by `python -m mirage_mlir.examples.regenerate e6_naive_softmax`; do not edit.
#map = affine_map<(d0, d1) -> (d0, d1)>
#map1 = affine_map<(d0, d1) -> (d0, 0)>
module {
  func.func @main(%arg0: tensor<256x1024xf32>) -> tensor<256x1024xf32> {
    %cst = arith.constant 0.000000e+00 : f32
    %0 = tensor.empty() : tensor<256x1024xf32>
    %1 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%arg0 : tensor<256x1024xf32>) outs(%0 : tensor<256x1024xf32>) {
    ^bb0(%in: f32, %out: f32):
      %6 = math.exp %in : f32
      linalg.yield %6 : f32
    } -> tensor<256x1024xf32>
    %2 = tensor.empty() : tensor<256x1xf32>
    %3 = linalg.fill ins(%cst : f32) outs(%2 : tensor<256x1xf32>) -> tensor<256x1xf32>
    %4 = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["parallel", "reduction"]} ins(%1 : tensor<256x1024xf32>) outs(%3 : tensor<256x1xf32>) {
    ^bb0(%in: f32, %out: f32):
      %6 = arith.addf %in, %out : f32
      linalg.yield %6 : f32
    } -> tensor<256x1xf32>
    %5 = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel"]} ins(%1, %4 : tensor<256x1024xf32>, tensor<256x1xf32>) outs(%0 : tensor<256x1024xf32>) {
    ^bb0(%in: f32, %in_0: f32, %out: f32):
      %6 = arith.divf %in, %in_0 : f32
      linalg.yield %6 : f32
    } -> tensor<256x1024xf32>
    return %5 : tensor<256x1024xf32>
  }
}
