// RUN: mirage-mlir-opt %examples/e2_attention.mlir -p 'eqsat-optimize,convert-mirage-to-triton' | filecheck %s

// E2 (seq 1024) is one flash-attention launch: no 1024x1024 score buffer in the
// plan, and inside the kernel both products are tt.dot in the loop over KV blocks.

// CHECK-LABEL: func.func @main
// CHECK-NOT:     tensor<1x1024x1024xf32>
// CHECK:         %[[O:.*]] = plan.alloc slot 0 : tensor<1x1024x64xf32>
// CHECK-NEXT:    plan.launch @main_attention_0 grid [16, 1, 1] ins(%{{.*}}, %{{.*}}, %{{.*}} : {{.*}}) outs(%[[O]] : tensor<1x1024x64xf32>)
// CHECK-NEXT:    func.return %[[O]]

// CHECK-LABEL: tt.func public @main_attention_0
// CHECK:         scf.for
// CHECK:         tt.dot
// CHECK:         math.exp
// CHECK:         tt.dot
// CHECK:         scf.yield
// CHECK:         tt.store
