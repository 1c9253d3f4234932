// RUN: mirage-mlir-opt %examples/e2_attention_causal.mlir -p 'eqsat-optimize{verify=true}' -o %t
// RUN: filecheck %s --input-file %t
// RUN: filecheck %s --input-file %t --check-prefix=NONE
// REQUIRES: full-suite

// softmax(masked_fill(Q Kᵀ * 0.125, j > i, -inf)) V. The mask is index arithmetic (an iota
// generic, a subtraction and a compare) that recognition folds into a causal mask; the whole
// block becomes one causal mirage.attention and neither the 256x256 mask nor the score
// matrix is left.

// CHECK-LABEL: func.func @main
// CHECK-SAME:    (%[[Q:.*]]: tensor<1x4x256x64xf32>, %[[K:.*]]: tensor<1x4x256x64xf32>, %[[V:.*]]: tensor<1x4x256x64xf32>)
// CHECK:         %[[O:.*]] = mirage.attention %[[Q]], %[[K]], %[[V]] scale 1.250000e-01 causal : {{.*}} -> tensor<1x4x256x64xf32>
// CHECK-NEXT:    func.return %[[O]]

// NONE-NOT: 256x256
// NONE-NOT: linalg.index
// NONE-NOT: linalg.generic
