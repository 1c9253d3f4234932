// Found by test_fuzz_torch_reduction: {'family': 'reduction', 'shape': [2], 'op': 'max', 'dim': 0, 'keepdim': True, 'prologue': None, 'subtract': False}
// target: h100
#map = affine_map<(d0) -> (d0)>
#map1 = affine_map<(d0) -> ()>
module {
  func.func @main(%arg0: tensor<2xf32>) -> (tensor<1xf32>, tensor<1xi64>) {
    %c0_i64 = arith.constant 0 : i64
    %cst = arith.constant 0xFF800000 : f32
    %0 = tensor.empty() : tensor<i64>
    %1 = linalg.fill ins(%c0_i64 : i64) outs(%0 : tensor<i64>) -> tensor<i64>
    %2 = tensor.empty() : tensor<f32>
    %3 = linalg.fill ins(%cst : f32) outs(%2 : tensor<f32>) -> tensor<f32>
    %4:2 = linalg.generic {indexing_maps = [#map, #map1, #map1], iterator_types = ["reduction"]} ins(%arg0 : tensor<2xf32>) outs(%3, %1 : tensor<f32>, tensor<i64>) {
    ^bb0(%in: f32, %out: f32, %out_1: i64):
      %5 = linalg.index 0 : index
      %6 = arith.index_cast %5 : index to i64
      %7 = arith.maximumf %in, %out : f32
      %8 = arith.cmpf ogt, %in, %out : f32
      %9 = arith.select %8, %6, %out_1 : i64
      linalg.yield %7, %9 : f32, i64
    } -> (tensor<f32>, tensor<i64>)
    %expanded = tensor.expand_shape %4#0 [] output_shape [1] : tensor<f32> into tensor<1xf32>
    %expanded_0 = tensor.expand_shape %4#1 [] output_shape [1] : tensor<i64> into tensor<1xi64>
    return %expanded, %expanded_0 : tensor<1xf32>, tensor<1xi64>
  }
}
