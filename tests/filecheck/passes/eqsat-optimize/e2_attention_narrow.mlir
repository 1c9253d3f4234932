// RUN: mirage-mlir-opt %S/Inputs/e2_attention_f16.mlir -p 'eqsat-optimize{verify=true}' -o %t.f16
// RUN: filecheck %s --input-file %t.f16 --check-prefix=F16
// RUN: filecheck %s --input-file %t.f16 --check-prefix=NONE
// RUN: mirage-mlir-opt %S/Inputs/e2_attention_causal_f16.mlir -p 'eqsat-optimize{verify=true}' -o %t.causal
// RUN: filecheck %s --input-file %t.causal --check-prefix=CAUSAL
// RUN: filecheck %s --input-file %t.causal --check-prefix=NONE
// RUN: mirage-mlir-opt %S/Inputs/e2_attention_heads_bf16.mlir -p 'eqsat-optimize{verify=true}' -o %t.bf16
// RUN: filecheck %s --input-file %t.bf16 --check-prefix=BF16
// RUN: filecheck %s --input-file %t.bf16 --check-prefix=NONE
// REQUIRES: full-suite

// E2 imported in f16 and bf16 (Inputs/narrow_attention.py writes the inputs). torch-mlir
// computes each product into an f32 accumulator and rounds it back, and the softmax in f32
// between an extf and a truncf; the optimiser sees through both, so the block is one
// mirage.attention on the narrow tensors (f32 scores and statistics inside its kernel), the
// signature keeps its element type, and no score matrix, f32 tensor or cast is left.

// F16-LABEL: func.func @main
// F16-SAME:    (%[[Q:.*]]: tensor<1x1024x64xf16>, %[[K:.*]]: tensor<1x1024x64xf16>, %[[V:.*]]: tensor<1x1024x64xf16>) -> tensor<1x1024x64xf16>
// F16:         %[[O:.*]] = mirage.attention %[[Q]], %[[K]], %[[V]] scale 1.250000e-01 : tensor<1x1024x64xf16>, tensor<1x1024x64xf16>, tensor<1x1024x64xf16> -> tensor<1x1024x64xf16>
// F16-NEXT:    func.return %[[O]]

// CAUSAL-LABEL: func.func @main
// CAUSAL-SAME:    (%[[Q:.*]]: tensor<1x4x256x64xf16>, %[[K:.*]]: tensor<1x4x256x64xf16>, %[[V:.*]]: tensor<1x4x256x64xf16>) -> tensor<1x4x256x64xf16>
// CAUSAL:         %[[O:.*]] = mirage.attention %[[Q]], %[[K]], %[[V]] scale 1.250000e-01 causal : {{.*}} -> tensor<1x4x256x64xf16>
// CAUSAL-NEXT:    func.return %[[O]]

// BF16-LABEL: func.func @main
// BF16-SAME:    (%[[Q:.*]]: tensor<1x4x256x64xbf16>, %[[K:.*]]: tensor<1x4x256x64xbf16>, %[[V:.*]]: tensor<1x4x256x64xbf16>) -> tensor<1x4x256x64xbf16>
// BF16:         %[[O:.*]] = mirage.attention %[[Q]], %[[K]], %[[V]] scale 1.250000e-01 : {{.*}} -> tensor<1x4x256x64xbf16>
// BF16-NEXT:    func.return %[[O]]

// NONE-NOT: 1024x1024
// NONE-NOT: 256x256
// NONE-NOT: xf32>
// NONE-NOT: arith.extf
// NONE-NOT: arith.truncf
// NONE-NOT: linalg.
