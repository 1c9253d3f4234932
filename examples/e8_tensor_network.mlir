// e8_tensor_network: tensor network einsum "abcd,bcef,cdfg,degh->ah", all dims 12
// Imported from examples/e8_tensor_network.py by `python -m mirage_mlir.examples.regenerate e8_tensor_network`; do not edit.
module {
  func.func @main(%arg0: tensor<12x12x12x12xf32>, %arg1: tensor<12x12x12x12xf32>, %arg2: tensor<12x12x12x12xf32>, %arg3: tensor<12x12x12x12xf32>) -> tensor<12x12xf32> {
    %cst = arith.constant 0.000000e+00 : f32
    %expanded = tensor.expand_shape %arg0 [[0], [1], [2], [3, 4, 5, 6, 7]] output_shape [12, 12, 12, 12, 1, 1, 1, 1] : tensor<12x12x12x12xf32> into tensor<12x12x12x12x1x1x1x1xf32>
    %expanded_0 = tensor.expand_shape %arg1 [[0], [1], [2], [3, 4, 5, 6, 7]] output_shape [12, 12, 12, 12, 1, 1, 1, 1] : tensor<12x12x12x12xf32> into tensor<12x12x12x12x1x1x1x1xf32>
    %expanded_1 = tensor.expand_shape %arg2 [[0], [1], [2], [3, 4, 5, 6, 7]] output_shape [12, 12, 12, 12, 1, 1, 1, 1] : tensor<12x12x12x12xf32> into tensor<12x12x12x12x1x1x1x1xf32>
    %expanded_2 = tensor.expand_shape %arg3 [[0], [1], [2], [3, 4, 5, 6, 7]] output_shape [12, 12, 12, 12, 1, 1, 1, 1] : tensor<12x12x12x12xf32> into tensor<12x12x12x12x1x1x1x1xf32>
    %0 = tensor.empty() : tensor<12x12x12x12x1x1x1x1xf32>
    %transposed = linalg.transpose ins(%expanded : tensor<12x12x12x12x1x1x1x1xf32>) outs(%0 : tensor<12x12x12x12x1x1x1x1xf32>) permutation = [2, 0, 3, 1, 4, 5, 6, 7] 
    %collapsed = tensor.collapse_shape %transposed [[0], [1, 2], [3, 4, 5, 6, 7]] : tensor<12x12x12x12x1x1x1x1xf32> into tensor<12x144x12xf32>
    %1 = tensor.empty() : tensor<12x12x1x12x12x1x1x1xf32>
    %transposed_3 = linalg.transpose ins(%expanded_0 : tensor<12x12x12x12x1x1x1x1xf32>) outs(%1 : tensor<12x12x1x12x12x1x1x1xf32>) permutation = [1, 0, 5, 2, 3, 7, 4, 6] 
    %collapsed_4 = tensor.collapse_shape %transposed_3 [[0], [1], [2, 3, 4, 5, 6, 7]] : tensor<12x12x1x12x12x1x1x1xf32> into tensor<12x12x144xf32>
    %2 = tensor.empty() : tensor<12x144x144xf32>
    %3 = linalg.fill ins(%cst : f32) outs(%2 : tensor<12x144x144xf32>) -> tensor<12x144x144xf32>
    %4 = linalg.batch_matmul ins(%collapsed, %collapsed_4 : tensor<12x144x12xf32>, tensor<12x12x144xf32>) outs(%3 : tensor<12x144x144xf32>) -> tensor<12x144x144xf32>
    %expanded_5 = tensor.expand_shape %4 [[0], [1, 2], [3, 4, 5, 6, 7]] output_shape [12, 12, 12, 1, 1, 12, 12, 1] : tensor<12x144x144xf32> into tensor<12x12x12x1x1x12x12x1xf32>
    %5 = tensor.empty() : tensor<12x12x12x12x12x1x1x1xf32>
    %transposed_6 = linalg.transpose ins(%expanded_5 : tensor<12x12x12x1x1x12x12x1xf32>) outs(%5 : tensor<12x12x12x12x12x1x1x1xf32>) permutation = [2, 1, 5, 0, 6, 4, 3, 7] 
    %collapsed_7 = tensor.collapse_shape %transposed_6 [[0], [1, 2], [3, 4, 5, 6, 7]] : tensor<12x12x12x12x12x1x1x1xf32> into tensor<12x144x144xf32>
    %6 = tensor.empty() : tensor<12x12x12x1x1x12x1x1xf32>
    %transposed_8 = linalg.transpose ins(%expanded_1 : tensor<12x12x12x12x1x1x1x1xf32>) outs(%6 : tensor<12x12x12x1x1x12x1x1xf32>) permutation = [1, 0, 2, 5, 6, 3, 4, 7] 
    %collapsed_9 = tensor.collapse_shape %transposed_8 [[0], [1, 2], [3, 4, 5, 6, 7]] : tensor<12x12x12x1x1x12x1x1xf32> into tensor<12x144x12xf32>
    %7 = tensor.empty() : tensor<12x144x12xf32>
    %8 = linalg.fill ins(%cst : f32) outs(%7 : tensor<12x144x12xf32>) -> tensor<12x144x12xf32>
    %9 = linalg.batch_matmul ins(%collapsed_7, %collapsed_9 : tensor<12x144x144xf32>, tensor<12x144x12xf32>) outs(%8 : tensor<12x144x12xf32>) -> tensor<12x144x12xf32>
    %expanded_10 = tensor.expand_shape %9 [[0], [1, 2], [3, 4, 5, 6, 7]] output_shape [12, 12, 12, 1, 1, 1, 1, 12] : tensor<12x144x12xf32> into tensor<12x12x12x1x1x1x1x12xf32>
    %transposed_11 = linalg.transpose ins(%expanded_10 : tensor<12x12x12x1x1x1x1x12xf32>) outs(%0 : tensor<12x12x12x12x1x1x1x1xf32>) permutation = [1, 0, 2, 7, 5, 6, 3, 4] 
    %collapsed_12 = tensor.collapse_shape %transposed_11 [[0], [1, 2, 3, 4, 5, 6, 7]] : tensor<12x12x12x12x1x1x1x1xf32> into tensor<12x1728xf32>
    %expanded_13 = tensor.expand_shape %collapsed_12 [[0, 1], [2]] output_shape [1, 12, 1728] : tensor<12x1728xf32> into tensor<1x12x1728xf32>
    %transposed_14 = linalg.transpose ins(%expanded_2 : tensor<12x12x12x12x1x1x1x1xf32>) outs(%0 : tensor<12x12x12x12x1x1x1x1xf32>) permutation = [0, 1, 2, 3, 5, 6, 7, 4] 
    %collapsed_15 = tensor.collapse_shape %transposed_14 [[0, 1, 2], [3, 4, 5, 6, 7]] : tensor<12x12x12x12x1x1x1x1xf32> into tensor<1728x12xf32>
    %expanded_16 = tensor.expand_shape %collapsed_15 [[0, 1], [2]] output_shape [1, 1728, 12] : tensor<1728x12xf32> into tensor<1x1728x12xf32>
    %10 = tensor.empty() : tensor<1x12x12xf32>
    %11 = linalg.fill ins(%cst : f32) outs(%10 : tensor<1x12x12xf32>) -> tensor<1x12x12xf32>
    %12 = linalg.batch_matmul ins(%expanded_13, %expanded_16 : tensor<1x12x1728xf32>, tensor<1x1728x12xf32>) outs(%11 : tensor<1x12x12xf32>) -> tensor<1x12x12xf32>
    %collapsed_17 = tensor.collapse_shape %12 [[0, 1], [2]] : tensor<1x12x12xf32> into tensor<12x12xf32>
    %expanded_18 = tensor.expand_shape %collapsed_17 [[0], [1, 2, 3, 4, 5, 6, 7]] output_shape [12, 1, 1, 1, 12, 1, 1, 1] : tensor<12x12xf32> into tensor<12x1x1x1x12x1x1x1xf32>
    %13 = tensor.empty() : tensor<12x12x1x1x1x1x1x1xf32>
    %transposed_19 = linalg.transpose ins(%expanded_18 : tensor<12x1x1x1x12x1x1x1xf32>) outs(%13 : tensor<12x12x1x1x1x1x1x1xf32>) permutation = [0, 4, 5, 6, 1, 2, 7, 3] 
    %collapsed_20 = tensor.collapse_shape %transposed_19 [[0], [1, 2, 3, 4, 5, 6, 7]] : tensor<12x12x1x1x1x1x1x1xf32> into tensor<12x12xf32>
    return %collapsed_20 : tensor<12x12xf32>
  }
}
