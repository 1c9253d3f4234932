// RUN: mirage-mlir-opt %s -p 'arith-add-fastmath{flags=fast}' | filecheck %s
// RUN: mirage-mlir-opt %s -p 'arith-add-fastmath{flags=nnan,ninf},canonicalize' | filecheck %s --check-prefix=TWO

// A pipeline with options reaches the pass.

// CHECK-LABEL: func.func @add
// TWO-LABEL: func.func @add
func.func @add(%a: f32, %b: f32) -> f32 {
  // CHECK: arith.addf %{{.*}}, %{{.*}} fastmath<fast> : f32
  // TWO: arith.addf %{{.*}}, %{{.*}} fastmath<nnan,ninf> : f32
  %0 = arith.addf %a, %b : f32
  func.return %0 : f32
}
