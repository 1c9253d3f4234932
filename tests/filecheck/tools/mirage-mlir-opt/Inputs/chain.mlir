// A @ B @ C @ D; inputs 100x2, 2x100, 100x2, 2x100 f32.
// Imported by torch_mlir.fx.export_and_import(..., OutputType.LINALG_ON_TENSORS).
module {
  func.func @chain(%arg0: tensor<100x2xf32>, %arg1: tensor<2x100xf32>, %arg2: tensor<100x2xf32>, %arg3: tensor<2x100xf32>) -> tensor<100x100xf32> {
    %cst = arith.constant 0.000000e+00 : f32
    %0 = tensor.empty() : tensor<100x100xf32>
    %1 = linalg.fill ins(%cst : f32) outs(%0 : tensor<100x100xf32>) -> tensor<100x100xf32>
    %2 = linalg.matmul ins(%arg0, %arg1 : tensor<100x2xf32>, tensor<2x100xf32>) outs(%1 : tensor<100x100xf32>) -> tensor<100x100xf32>
    %3 = tensor.empty() : tensor<100x2xf32>
    %4 = linalg.fill ins(%cst : f32) outs(%3 : tensor<100x2xf32>) -> tensor<100x2xf32>
    %5 = linalg.matmul ins(%2, %arg2 : tensor<100x100xf32>, tensor<100x2xf32>) outs(%4 : tensor<100x2xf32>) -> tensor<100x2xf32>
    %6 = linalg.matmul ins(%5, %arg3 : tensor<100x2xf32>, tensor<2x100xf32>) outs(%1 : tensor<100x100xf32>) -> tensor<100x100xf32>
    return %6 : tensor<100x100xf32>
  }
}
