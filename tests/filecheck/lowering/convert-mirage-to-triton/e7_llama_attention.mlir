// RUN: mirage-mlir-opt %examples/e7_llama_attention.mlir -p 'eqsat-optimize,convert-mirage-to-triton' | filecheck %s
// REQUIRES: full-suite

// E7 lowers to five launches: RMSNorm, one joined QKV matmul (the three weights folded into
// one 512x768 constant), one causal GQA flash-attention kernel reading q, k and v straight from
// the joined result (no repeated K/V, no 128x128 score buffer), the output projection and the
// residual add.

// CHECK-LABEL: func.func @main
// CHECK-NOT:     tensor<1x8x128x128xf32>
// CHECK-NOT:     tensor<1x2x4x128x64xf32>
// CHECK:         plan.launch @main_row_reduction_{{[0-9]+}}
// CHECK:         %[[QKV:.*]] = plan.alloc slot {{[0-9]+}} : tensor<128x768xf32>
// CHECK-NEXT:    plan.launch @main_matmul_{{[0-9]+}} grid {{.*}} ins(%{{.*}}, %{{.*}} : tensor<128x512xf32>, tensor<512x768xf32>) outs(%[[QKV]] : tensor<128x768xf32>)
// CHECK:         plan.launch @[[$ATTN:main_attention_[0-9]+]] grid {{.*}} ins(%[[QKV]] : tensor<128x768xf32>)
// CHECK:         plan.launch @main_matmul_{{[0-9]+}}
// CHECK:         plan.launch @main_elementwise_{{[0-9]+}}
// CHECK-NOT:     plan.launch

// CHECK:       tt.func public @[[$ATTN]]
// CHECK:         scf.for
// CHECK:         tt.dot
// CHECK:         math.exp
// CHECK:         tt.dot
// CHECK:         scf.yield
// CHECK:         tt.store
