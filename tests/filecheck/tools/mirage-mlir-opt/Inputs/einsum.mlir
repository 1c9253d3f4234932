// torch.einsum("ik,kj,jl,lm->im", A, B, C, D); inputs 100x10, 10x20, 20x5, 5x100 f32.
// Imported by torch_mlir.fx.export_and_import(..., OutputType.LINALG_ON_TENSORS).
module {
  func.func @einsum(%arg0: tensor<100x10xf32>, %arg1: tensor<10x20xf32>, %arg2: tensor<20x5xf32>, %arg3: tensor<5x100xf32>) -> tensor<100x100xf32> {
    %cst = arith.constant 0.000000e+00 : f32
    %expanded = tensor.expand_shape %arg2 [[0], [1, 2, 3, 4]] output_shape [20, 5, 1, 1, 1] : tensor<20x5xf32> into tensor<20x5x1x1x1xf32>
    %expanded_0 = tensor.expand_shape %arg3 [[0], [1, 2, 3, 4]] output_shape [5, 100, 1, 1, 1] : tensor<5x100xf32> into tensor<5x100x1x1x1xf32>
    %expanded_1 = tensor.expand_shape %arg1 [[0, 1], [2]] output_shape [1, 10, 20] : tensor<10x20xf32> into tensor<1x10x20xf32>
    %0 = tensor.empty() : tensor<20x1x1x5x1xf32>
    %transposed = linalg.transpose ins(%expanded : tensor<20x5x1x1x1xf32>) outs(%0 : tensor<20x1x1x5x1xf32>) permutation = [0, 2, 3, 1, 4] 
    %collapsed = tensor.collapse_shape %transposed [[0], [1, 2, 3, 4]] : tensor<20x1x1x5x1xf32> into tensor<20x5xf32>
    %expanded_2 = tensor.expand_shape %collapsed [[0, 1], [2]] output_shape [1, 20, 5] : tensor<20x5xf32> into tensor<1x20x5xf32>
    %1 = tensor.empty() : tensor<1x10x5xf32>
    %2 = linalg.fill ins(%cst : f32) outs(%1 : tensor<1x10x5xf32>) -> tensor<1x10x5xf32>
    %3 = linalg.batch_matmul ins(%expanded_1, %expanded_2 : tensor<1x10x20xf32>, tensor<1x20x5xf32>) outs(%2 : tensor<1x10x5xf32>) -> tensor<1x10x5xf32>
    %collapsed_3 = tensor.collapse_shape %3 [[0, 1], [2]] : tensor<1x10x5xf32> into tensor<10x5xf32>
    %expanded_4 = tensor.expand_shape %collapsed_3 [[0], [1, 2, 3, 4]] output_shape [10, 1, 1, 1, 5] : tensor<10x5xf32> into tensor<10x1x1x1x5xf32>
    %expanded_5 = tensor.expand_shape %arg0 [[0, 1], [2]] output_shape [1, 100, 10] : tensor<100x10xf32> into tensor<1x100x10xf32>
    %4 = tensor.empty() : tensor<10x1x1x5x1xf32>
    %transposed_6 = linalg.transpose ins(%expanded_4 : tensor<10x1x1x1x5xf32>) outs(%4 : tensor<10x1x1x5x1xf32>) permutation = [0, 3, 1, 4, 2] 
    %collapsed_7 = tensor.collapse_shape %transposed_6 [[0], [1, 2, 3, 4]] : tensor<10x1x1x5x1xf32> into tensor<10x5xf32>
    %expanded_8 = tensor.expand_shape %collapsed_7 [[0, 1], [2]] output_shape [1, 10, 5] : tensor<10x5xf32> into tensor<1x10x5xf32>
    %5 = tensor.empty() : tensor<1x100x5xf32>
    %6 = linalg.fill ins(%cst : f32) outs(%5 : tensor<1x100x5xf32>) -> tensor<1x100x5xf32>
    %7 = linalg.batch_matmul ins(%expanded_5, %expanded_8 : tensor<1x100x10xf32>, tensor<1x10x5xf32>) outs(%6 : tensor<1x100x5xf32>) -> tensor<1x100x5xf32>
    %collapsed_9 = tensor.collapse_shape %7 [[0, 1], [2]] : tensor<1x100x5xf32> into tensor<100x5xf32>
    %expanded_10 = tensor.expand_shape %collapsed_9 [[0], [1, 2, 3, 4]] output_shape [100, 1, 1, 1, 5] : tensor<100x5xf32> into tensor<100x1x1x1x5xf32>
    %8 = tensor.empty() : tensor<100x5x1x1x1xf32>
    %transposed_11 = linalg.transpose ins(%expanded_0 : tensor<5x100x1x1x1xf32>) outs(%8 : tensor<100x5x1x1x1xf32>) permutation = [1, 0, 2, 3, 4] 
    %collapsed_12 = tensor.collapse_shape %transposed_11 [[0], [1, 2, 3, 4]] : tensor<100x5x1x1x1xf32> into tensor<100x5xf32>
    %expanded_13 = tensor.expand_shape %collapsed_12 [[0, 1], [2]] output_shape [1, 100, 5] : tensor<100x5xf32> into tensor<1x100x5xf32>
    %9 = tensor.empty() : tensor<5x100x1x1x1xf32>
    %transposed_14 = linalg.transpose ins(%expanded_10 : tensor<100x1x1x1x5xf32>) outs(%9 : tensor<5x100x1x1x1xf32>) permutation = [4, 0, 3, 1, 2] 
    %collapsed_15 = tensor.collapse_shape %transposed_14 [[0], [1, 2, 3, 4]] : tensor<5x100x1x1x1xf32> into tensor<5x100xf32>
    %expanded_16 = tensor.expand_shape %collapsed_15 [[0, 1], [2]] output_shape [1, 5, 100] : tensor<5x100xf32> into tensor<1x5x100xf32>
    %10 = tensor.empty() : tensor<1x100x100xf32>
    %11 = linalg.fill ins(%cst : f32) outs(%10 : tensor<1x100x100xf32>) -> tensor<1x100x100xf32>
    %12 = linalg.batch_matmul ins(%expanded_13, %expanded_16 : tensor<1x100x5xf32>, tensor<1x5x100xf32>) outs(%11 : tensor<1x100x100xf32>) -> tensor<1x100x100xf32>
    %collapsed_17 = tensor.collapse_shape %12 [[0, 1], [2]] : tensor<1x100x100xf32> into tensor<100x100xf32>
    %expanded_18 = tensor.expand_shape %collapsed_17 [[0], [1, 2, 3, 4]] output_shape [100, 1, 100, 1, 1] : tensor<100x100xf32> into tensor<100x1x100x1x1xf32>
    %13 = tensor.empty() : tensor<100x100x1x1x1xf32>
    %transposed_19 = linalg.transpose ins(%expanded_18 : tensor<100x1x100x1x1xf32>) outs(%13 : tensor<100x100x1x1x1xf32>) permutation = [2, 0, 3, 4, 1] 
    %collapsed_20 = tensor.collapse_shape %transposed_19 [[0], [1, 2, 3, 4]] : tensor<100x100x1x1x1xf32> into tensor<100x100xf32>
    return %collapsed_20 : tensor<100x100xf32>
  }
}
