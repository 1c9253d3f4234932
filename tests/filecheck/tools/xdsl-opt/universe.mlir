// RUN: xdsl-opt %s | filecheck %s

// The project's dialects reach xdsl-opt through the `xdsl.universe` entry point.

// CHECK-LABEL: func.func @softmax
func.func @softmax(%x: tensor<4x16xf32>) -> tensor<4x16xf32> {
  // CHECK: mirage.softmax %{{.*}} axis = -1 : tensor<4x16xf32>
  %y = mirage.softmax %x axis = -1 : tensor<4x16xf32>
  func.return %y : tensor<4x16xf32>
}
