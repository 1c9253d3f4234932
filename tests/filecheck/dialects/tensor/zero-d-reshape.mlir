// RUN: mirage-mlir-opt %s | filecheck %s

// Reshapes between a 0-d tensor and all-unit dimensions have an empty reassociation
// (torch-mlir writes them for softmax of a tensor<1xf32>); MLIR accepts them and so must we.

// CHECK-LABEL: func.func @unit
func.func @unit(%s: tensor<f32>) -> tensor<f32> {
  // CHECK: %[[E:.*]] = tensor.expand_shape %{{.*}} [] output_shape [1, 1] : tensor<f32> into tensor<1x1xf32>
  %e = tensor.expand_shape %s [] output_shape [1, 1] : tensor<f32> into tensor<1x1xf32>
  // CHECK: tensor.collapse_shape %[[E]] [] : tensor<1x1xf32> into tensor<f32>
  %c = tensor.collapse_shape %e [] : tensor<1x1xf32> into tensor<f32>
  func.return %c : tensor<f32>
}
