// RUN: mirage-mlir-opt --split-input-file --verify-diagnostics %s | filecheck %s

// An empty reassociation is only a reshape of a 0-d tensor to unit dimensions.

func.func @not_unit(%s: tensor<f32>) -> tensor<2xf32> {
  %e = tensor.expand_shape %s [] output_shape [2] : tensor<f32> into tensor<2xf32>
  func.return %e : tensor<2xf32>
}
// CHECK: expected the total number of reassociation dimensions (0) to equal the expanded type's rank (1)
