// nn.ReLU()(nn.BatchNorm1d(8)(x)) in training mode; inputs 16x8 f32.
// Imported by torch_mlir.fx.export_and_import(..., OutputType.LINALG_ON_TENSORS).
#map = affine_map<(d0, d1) -> (d0, d1)>
#map1 = affine_map<(d0, d1) -> (0, d1)>
#map2 = affine_map<(d0) -> (d0)>
#map3 = affine_map<(d0, d1) -> (d1)>
module {
  func.func @batchnorm_train(%arg0: tensor<16x8xf32>) -> (tensor<8xf32>, tensor<8xf32>, tensor<i64>, tensor<16x8xf32>) {
    %cst = arith.constant dense<1> : tensor<i64>
    %cst_0 = arith.constant 0.000000e+00 : f64
    %cst_1 = arith.constant 0.000000e+00 : f32
    %cst_2 = arith.constant dense_resource<torch_tensor_8_torch.float32_3> : tensor<8xf32>
    %cst_3 = arith.constant dense_resource<torch_tensor_8_torch.float32_2> : tensor<8xf32>
    %cst_4 = arith.constant dense_resource<torch_tensor_8_torch.float32_1> : tensor<8xf32>
    %cst_5 = arith.constant 1.0666666666666667 : f64
    %cst_6 = arith.constant 9.000000e-01 : f64
    %cst_7 = arith.constant dense_resource<torch_tensor_8_torch.float32> : tensor<8xf32>
    %cst_8 = arith.constant 1.000000e-01 : f64
    %cst_9 = arith.constant 1.000000e-05 : f64
    %cst_10 = arith.constant 1.600000e+01 : f64
    %cst_11 = arith.constant 1.600000e+01 : f32
    %0 = tensor.empty() : tensor<16x8xf64>
    %1 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%arg0 : tensor<16x8xf32>) outs(%0 : tensor<16x8xf64>) {
    ^bb0(%in: f32, %out: f64):
      %31 = arith.extf %in : f32 to f64
      linalg.yield %31 : f64
    } -> tensor<16x8xf64>
    %2 = tensor.empty() : tensor<1x8xf64>
    %3 = linalg.fill ins(%cst_0 : f64) outs(%2 : tensor<1x8xf64>) -> tensor<1x8xf64>
    %4 = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["reduction", "parallel"]} ins(%1 : tensor<16x8xf64>) outs(%3 : tensor<1x8xf64>) {
    ^bb0(%in: f64, %out: f64):
      %31 = arith.addf %in, %out : f64
      linalg.yield %31 : f64
    } -> tensor<1x8xf64>
    %5 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%4 : tensor<1x8xf64>) outs(%2 : tensor<1x8xf64>) {
    ^bb0(%in: f64, %out: f64):
      %31 = arith.divf %in, %cst_10 : f64
      linalg.yield %31 : f64
    } -> tensor<1x8xf64>
    %6 = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel"]} ins(%1, %5 : tensor<16x8xf64>, tensor<1x8xf64>) outs(%0 : tensor<16x8xf64>) {
    ^bb0(%in: f64, %in_13: f64, %out: f64):
      %31 = arith.subf %in, %in_13 : f64
      linalg.yield %31 : f64
    } -> tensor<16x8xf64>
    %7 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel"]} ins(%6, %6 : tensor<16x8xf64>, tensor<16x8xf64>) outs(%0 : tensor<16x8xf64>) {
    ^bb0(%in: f64, %in_13: f64, %out: f64):
      %31 = arith.mulf %in, %in_13 : f64
      linalg.yield %31 : f64
    } -> tensor<16x8xf64>
    %8 = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["reduction", "parallel"]} ins(%7 : tensor<16x8xf64>) outs(%3 : tensor<1x8xf64>) {
    ^bb0(%in: f64, %out: f64):
      %31 = arith.addf %in, %out : f64
      linalg.yield %31 : f64
    } -> tensor<1x8xf64>
    %9 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%8 : tensor<1x8xf64>) outs(%2 : tensor<1x8xf64>) {
    ^bb0(%in: f64, %out: f64):
      %31 = arith.divf %in, %cst_10 : f64
      linalg.yield %31 : f64
    } -> tensor<1x8xf64>
    %10 = tensor.empty() : tensor<1x8xf32>
    %11 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%9 : tensor<1x8xf64>) outs(%10 : tensor<1x8xf32>) {
    ^bb0(%in: f64, %out: f32):
      %31 = arith.truncf %in : f64 to f32
      linalg.yield %31 : f32
    } -> tensor<1x8xf32>
    %12 = linalg.fill ins(%cst_1 : f32) outs(%10 : tensor<1x8xf32>) -> tensor<1x8xf32>
    %13 = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["reduction", "parallel"]} ins(%arg0 : tensor<16x8xf32>) outs(%12 : tensor<1x8xf32>) {
    ^bb0(%in: f32, %out: f32):
      %31 = arith.addf %in, %out : f32
      linalg.yield %31 : f32
    } -> tensor<1x8xf32>
    %14 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%13 : tensor<1x8xf32>) outs(%10 : tensor<1x8xf32>) {
    ^bb0(%in: f32, %out: f32):
      %31 = arith.divf %in, %cst_11 : f32
      linalg.yield %31 : f32
    } -> tensor<1x8xf32>
    %15 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%11 : tensor<1x8xf32>) outs(%10 : tensor<1x8xf32>) {
    ^bb0(%in: f32, %out: f32):
      %31 = arith.truncf %cst_9 : f64 to f32
      %32 = arith.addf %in, %31 : f32
      linalg.yield %32 : f32
    } -> tensor<1x8xf32>
    %16 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%15 : tensor<1x8xf32>) outs(%10 : tensor<1x8xf32>) {
    ^bb0(%in: f32, %out: f32):
      %31 = math.rsqrt %in : f32
      linalg.yield %31 : f32
    } -> tensor<1x8xf32>
    %17 = tensor.empty() : tensor<16x8xf32>
    %18 = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel"]} ins(%arg0, %14 : tensor<16x8xf32>, tensor<1x8xf32>) outs(%17 : tensor<16x8xf32>) {
    ^bb0(%in: f32, %in_13: f32, %out: f32):
      %31 = arith.subf %in, %in_13 : f32
      linalg.yield %31 : f32
    } -> tensor<16x8xf32>
    %19 = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel"]} ins(%18, %16 : tensor<16x8xf32>, tensor<1x8xf32>) outs(%17 : tensor<16x8xf32>) {
    ^bb0(%in: f32, %in_13: f32, %out: f32):
      %31 = arith.mulf %in, %in_13 : f32
      linalg.yield %31 : f32
    } -> tensor<16x8xf32>
    %collapsed = tensor.collapse_shape %14 [[0, 1]] : tensor<1x8xf32> into tensor<8xf32>
    %20 = tensor.empty() : tensor<8xf32>
    %21 = linalg.generic {indexing_maps = [#map2, #map2], iterator_types = ["parallel"]} ins(%collapsed : tensor<8xf32>) outs(%20 : tensor<8xf32>) {
    ^bb0(%in: f32, %out: f32):
      %31 = arith.truncf %cst_8 : f64 to f32
      %32 = arith.mulf %in, %31 : f32
      linalg.yield %32 : f32
    } -> tensor<8xf32>
    %22 = linalg.generic {indexing_maps = [#map2, #map2], iterator_types = ["parallel"]} ins(%cst_7 : tensor<8xf32>) outs(%20 : tensor<8xf32>) {
    ^bb0(%in: f32, %out: f32):
      %31 = arith.truncf %cst_6 : f64 to f32
      %32 = arith.mulf %in, %31 : f32
      linalg.yield %32 : f32
    } -> tensor<8xf32>
    %23 = linalg.generic {indexing_maps = [#map2, #map2, #map2], iterator_types = ["parallel"]} ins(%21, %22 : tensor<8xf32>, tensor<8xf32>) outs(%20 : tensor<8xf32>) {
    ^bb0(%in: f32, %in_13: f32, %out: f32):
      %31 = arith.addf %in, %in_13 : f32
      linalg.yield %31 : f32
    } -> tensor<8xf32>
    %collapsed_12 = tensor.collapse_shape %11 [[0, 1]] : tensor<1x8xf32> into tensor<8xf32>
    %24 = linalg.generic {indexing_maps = [#map2, #map2], iterator_types = ["parallel"]} ins(%collapsed_12 : tensor<8xf32>) outs(%20 : tensor<8xf32>) {
    ^bb0(%in: f32, %out: f32):
      %31 = arith.truncf %cst_5 : f64 to f32
      %32 = arith.mulf %in, %31 : f32
      linalg.yield %32 : f32
    } -> tensor<8xf32>
    %25 = linalg.generic {indexing_maps = [#map2, #map2], iterator_types = ["parallel"]} ins(%24 : tensor<8xf32>) outs(%20 : tensor<8xf32>) {
    ^bb0(%in: f32, %out: f32):
      %31 = arith.truncf %cst_8 : f64 to f32
      %32 = arith.mulf %in, %31 : f32
      linalg.yield %32 : f32
    } -> tensor<8xf32>
    %26 = linalg.generic {indexing_maps = [#map2, #map2], iterator_types = ["parallel"]} ins(%cst_4 : tensor<8xf32>) outs(%20 : tensor<8xf32>) {
    ^bb0(%in: f32, %out: f32):
      %31 = arith.truncf %cst_6 : f64 to f32
      %32 = arith.mulf %in, %31 : f32
      linalg.yield %32 : f32
    } -> tensor<8xf32>
    %27 = linalg.generic {indexing_maps = [#map2, #map2, #map2], iterator_types = ["parallel"]} ins(%25, %26 : tensor<8xf32>, tensor<8xf32>) outs(%20 : tensor<8xf32>) {
    ^bb0(%in: f32, %in_13: f32, %out: f32):
      %31 = arith.addf %in, %in_13 : f32
      linalg.yield %31 : f32
    } -> tensor<8xf32>
    %28 = linalg.generic {indexing_maps = [#map, #map3, #map], iterator_types = ["parallel", "parallel"]} ins(%19, %cst_3 : tensor<16x8xf32>, tensor<8xf32>) outs(%17 : tensor<16x8xf32>) {
    ^bb0(%in: f32, %in_13: f32, %out: f32):
      %31 = arith.mulf %in, %in_13 : f32
      linalg.yield %31 : f32
    } -> tensor<16x8xf32>
    %29 = linalg.generic {indexing_maps = [#map, #map3, #map], iterator_types = ["parallel", "parallel"]} ins(%28, %cst_2 : tensor<16x8xf32>, tensor<8xf32>) outs(%17 : tensor<16x8xf32>) {
    ^bb0(%in: f32, %in_13: f32, %out: f32):
      %31 = arith.addf %in, %in_13 : f32
      linalg.yield %31 : f32
    } -> tensor<16x8xf32>
    %30 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%29 : tensor<16x8xf32>) outs(%17 : tensor<16x8xf32>) {
    ^bb0(%in: f32, %out: f32):
      %31 = arith.cmpf ugt, %in, %cst_1 : f32
      %32 = arith.select %31, %in, %cst_1 : f32
      linalg.yield %32 : f32
    } -> tensor<16x8xf32>
    return %23, %27, %cst, %30 : tensor<8xf32>, tensor<8xf32>, tensor<i64>, tensor<16x8xf32>
  }
}

{-#
  dialect_resources: {
    builtin: {
      torch_tensor_8_torch.float32_3: "0x040000000000000000000000000000000000000000000000000000000000000000000000",
      torch_tensor_8_torch.float32_2: "0x040000000000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F",
      torch_tensor_8_torch.float32_1: "0x040000000000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F",
      torch_tensor_8_torch.float32: "0x040000000000000000000000000000000000000000000000000000000000000000000000"
    }
  }
#-}
