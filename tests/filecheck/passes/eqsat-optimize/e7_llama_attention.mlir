// RUN: mirage-mlir-opt %examples/e7_llama_attention.mlir -p 'eqsat-optimize{verify=true}' -o %t
// RUN: filecheck %s --input-file %t
// RUN: filecheck %s --input-file %t --check-prefix=NONE
// REQUIRES: full-suite

// The Llama attention block: RMSNorm, q/k/v projections, grouped-query causal SDPA (8 query
// heads, 2 KV heads repeated by repeat_interleave), the output projection and the residual.
// The weights' transposes are computed when the program is built, and the three projections
// of the normalised x become one matmul on the joined weights (768 = 512 + 128 + 128 columns); its pieces are strided loads of one flash-attention
// kernel, causal, over the 2 un-repeated KV heads.

// CHECK-LABEL: func.func @main
// CHECK-SAME:    (%[[X:.*]]: tensor<1x128x512xf32>) -> tensor<1x128x512xf32>
// CHECK:         %[[H:.*]] = mirage.rms_norm %[[X]], {{.*}} : tensor<1x128x512xf32>, tensor<512xf32>
// CHECK:         %[[H2:.*]] = tensor.collapse_shape %[[H]] {{.*}} into tensor<128x512xf32>
// CHECK:         %[[W:.*]] = mirage.concat {{.*}} -> tensor<512x768xf32>
// CHECK:         %[[QKV:.*]] = linalg.matmul ins(%[[H2]], %[[W]] : tensor<128x512xf32>, tensor<512x768xf32>) {{.*}} -> tensor<128x768xf32>
// CHECK:         %[[ATT:.*]] = mirage.kernel (%[[QKV]]) : (tensor<128x768xf32>) -> tensor<1x128x8x64xf32> attributes {template = "attention"}
// CHECK-COUNT-3:   tensor.extract_slice %{{.*}} : tensor<128x768xf32> to
// CHECK:           mirage.attention {{.*}} causal : tensor<1x8x128x64xf32>, tensor<1x2x128x64xf32>, tensor<1x2x128x64xf32> -> tensor<1x8x128x64xf32>
// CHECK:           mirage.yield
// CHECK:         %[[A:.*]] = tensor.collapse_shape %[[ATT]] {{.*}} into tensor<128x512xf32>
// CHECK:         linalg.matmul ins(%[[A]], {{.*}} -> tensor<128x512xf32>
// CHECK:         func.return

// Exactly two matmuls (the joined QKV projection and the output projection); no repeated
// K/V (a 5-D [1, 2, 4, 128, 64] broadcast), no mask (index arithmetic, i1 tensors), no score
// matrix (8 heads x 128 x 128) and no softmax left outside the attention.
// NONE-COUNT-2: linalg.matmul
// NONE-NOT:     linalg.matmul
// NONE-NOT:     1x2x4x128x64
// NONE-NOT:     linalg.index
// NONE-NOT:     xi1>
// NONE-NOT:     8x128x128
// NONE-NOT:     mirage.softmax
// NONE-NOT:     math.exp
