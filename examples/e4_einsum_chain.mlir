// e4_einsum_chain: einsum "ik,kj,jl,lm->im" (i=100 k=10 j=20 l=5 m=100)
// Imported from examples/e4_einsum_chain.py by `python -m mirage_mlir.examples.regenerate e4_einsum_chain`; do not edit.
module {
  func.func @main(%arg0: tensor<100x10xf32>, %arg1: tensor<10x20xf32>, %arg2: tensor<20x5xf32>, %arg3: tensor<5x100xf32>) -> tensor<100x100xf32> {
    %cst = arith.constant 0.000000e+00 : f32
    %expanded = tensor.expand_shape %arg1 [[0], [1, 2, 3, 4]] output_shape [10, 20, 1, 1, 1] : tensor<10x20xf32> into tensor<10x20x1x1x1xf32>
    %expanded_0 = tensor.expand_shape %arg2 [[0], [1, 2, 3, 4]] output_shape [20, 5, 1, 1, 1] : tensor<20x5xf32> into tensor<20x5x1x1x1xf32>
    %expanded_1 = tensor.expand_shape %arg3 [[0], [1, 2, 3, 4]] output_shape [5, 100, 1, 1, 1] : tensor<5x100xf32> into tensor<5x100x1x1x1xf32>
    %expanded_2 = tensor.expand_shape %arg0 [[0, 1], [2]] output_shape [1, 100, 10] : tensor<100x10xf32> into tensor<1x100x10xf32>
    %0 = tensor.empty() : tensor<10x1x20x1x1xf32>
    %transposed = linalg.transpose ins(%expanded : tensor<10x20x1x1x1xf32>) outs(%0 : tensor<10x1x20x1x1xf32>) permutation = [0, 3, 1, 4, 2] 
    %collapsed = tensor.collapse_shape %transposed [[0], [1, 2, 3, 4]] : tensor<10x1x20x1x1xf32> into tensor<10x20xf32>
    %expanded_3 = tensor.expand_shape %collapsed [[0, 1], [2]] output_shape [1, 10, 20] : tensor<10x20xf32> into tensor<1x10x20xf32>
    %1 = tensor.empty() : tensor<1x100x20xf32>
    %2 = linalg.fill ins(%cst : f32) outs(%1 : tensor<1x100x20xf32>) -> tensor<1x100x20xf32>
    %3 = linalg.batch_matmul ins(%expanded_2, %expanded_3 : tensor<1x100x10xf32>, tensor<1x10x20xf32>) outs(%2 : tensor<1x100x20xf32>) -> tensor<1x100x20xf32>
    %collapsed_4 = tensor.collapse_shape %3 [[0, 1], [2]] : tensor<1x100x20xf32> into tensor<100x20xf32>
    %expanded_5 = tensor.expand_shape %collapsed_4 [[0], [1, 2, 3, 4]] output_shape [100, 1, 1, 20, 1] : tensor<100x20xf32> into tensor<100x1x1x20x1xf32>
    %4 = tensor.empty() : tensor<100x20x1x1x1xf32>
    %transposed_6 = linalg.transpose ins(%expanded_5 : tensor<100x1x1x20x1xf32>) outs(%4 : tensor<100x20x1x1x1xf32>) permutation = [0, 3, 2, 1, 4] 
    %collapsed_7 = tensor.collapse_shape %transposed_6 [[0], [1, 2, 3, 4]] : tensor<100x20x1x1x1xf32> into tensor<100x20xf32>
    %expanded_8 = tensor.expand_shape %collapsed_7 [[0, 1], [2]] output_shape [1, 100, 20] : tensor<100x20xf32> into tensor<1x100x20xf32>
    %5 = tensor.empty() : tensor<20x1x1x5x1xf32>
    %transposed_9 = linalg.transpose ins(%expanded_0 : tensor<20x5x1x1x1xf32>) outs(%5 : tensor<20x1x1x5x1xf32>) permutation = [0, 3, 4, 1, 2] 
    %collapsed_10 = tensor.collapse_shape %transposed_9 [[0], [1, 2, 3, 4]] : tensor<20x1x1x5x1xf32> into tensor<20x5xf32>
    %expanded_11 = tensor.expand_shape %collapsed_10 [[0, 1], [2]] output_shape [1, 20, 5] : tensor<20x5xf32> into tensor<1x20x5xf32>
    %6 = tensor.empty() : tensor<1x100x5xf32>
    %7 = linalg.fill ins(%cst : f32) outs(%6 : tensor<1x100x5xf32>) -> tensor<1x100x5xf32>
    %8 = linalg.batch_matmul ins(%expanded_8, %expanded_11 : tensor<1x100x20xf32>, tensor<1x20x5xf32>) outs(%7 : tensor<1x100x5xf32>) -> tensor<1x100x5xf32>
    %collapsed_12 = tensor.collapse_shape %8 [[0, 1], [2]] : tensor<1x100x5xf32> into tensor<100x5xf32>
    %expanded_13 = tensor.expand_shape %collapsed_12 [[0], [1, 2, 3, 4]] output_shape [100, 1, 1, 1, 5] : tensor<100x5xf32> into tensor<100x1x1x1x5xf32>
    %9 = tensor.empty() : tensor<100x5x1x1x1xf32>
    %transposed_14 = linalg.transpose ins(%expanded_13 : tensor<100x1x1x1x5xf32>) outs(%9 : tensor<100x5x1x1x1xf32>) permutation = [0, 4, 2, 1, 3] 
    %collapsed_15 = tensor.collapse_shape %transposed_14 [[0], [1, 2, 3, 4]] : tensor<100x5x1x1x1xf32> into tensor<100x5xf32>
    %expanded_16 = tensor.expand_shape %collapsed_15 [[0, 1], [2]] output_shape [1, 100, 5] : tensor<100x5xf32> into tensor<1x100x5xf32>
    %10 = tensor.empty() : tensor<5x100x1x1x1xf32>
    %transposed_17 = linalg.transpose ins(%expanded_1 : tensor<5x100x1x1x1xf32>) outs(%10 : tensor<5x100x1x1x1xf32>) permutation = [0, 1, 3, 4, 2] 
    %collapsed_18 = tensor.collapse_shape %transposed_17 [[0], [1, 2, 3, 4]] : tensor<5x100x1x1x1xf32> into tensor<5x100xf32>
    %expanded_19 = tensor.expand_shape %collapsed_18 [[0, 1], [2]] output_shape [1, 5, 100] : tensor<5x100xf32> into tensor<1x5x100xf32>
    %11 = tensor.empty() : tensor<1x100x100xf32>
    %12 = linalg.fill ins(%cst : f32) outs(%11 : tensor<1x100x100xf32>) -> tensor<1x100x100xf32>
    %13 = linalg.batch_matmul ins(%expanded_16, %expanded_19 : tensor<1x100x5xf32>, tensor<1x5x100xf32>) outs(%12 : tensor<1x100x100xf32>) -> tensor<1x100x100xf32>
    %collapsed_20 = tensor.collapse_shape %13 [[0, 1], [2]] : tensor<1x100x100xf32> into tensor<100x100xf32>
    %expanded_21 = tensor.expand_shape %collapsed_20 [[0], [1, 2, 3, 4]] output_shape [100, 1, 100, 1, 1] : tensor<100x100xf32> into tensor<100x1x100x1x1xf32>
    %14 = tensor.empty() : tensor<100x100x1x1x1xf32>
    %transposed_22 = linalg.transpose ins(%expanded_21 : tensor<100x1x100x1x1xf32>) outs(%14 : tensor<100x100x1x1x1xf32>) permutation = [0, 2, 3, 4, 1] 
    %collapsed_23 = tensor.collapse_shape %transposed_22 [[0], [1, 2, 3, 4]] : tensor<100x100x1x1x1xf32> into tensor<100x100xf32>
    return %collapsed_23 : tensor<100x100xf32>
  }
}
