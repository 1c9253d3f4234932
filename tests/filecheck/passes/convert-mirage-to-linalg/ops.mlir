// RUN: mirage-mlir-opt --split-input-file %s -p convert-mirage-to-linalg | filecheck %s
// RUN: mirage-mlir-opt --split-input-file %s -p convert-mirage-to-linalg | filecheck %s --check-prefix=NONE
// RUN: mirage-mlir-opt --split-input-file %s -p convert-mirage-to-linalg | %python -c "import sys; from torch_mlir import ir; ir.Module.parse(sys.stdin.read(), ir.Context())"
// REQUIRES: torch-mlir

// Each mirage op becomes upstream linalg, tensor, arith and math on tensors; the last RUN
// line parses the result with MLIR's own parser. Numerics are checked against the reference
// semantics in tests/passes/test_to_linalg_semantics.py.

// NONE-NOT: mirage.

// Attention: scores with the scale on q, the row max, exp, sum, division, then ·V.
// CHECK-LABEL: func.func @attention
// CHECK-SAME:    (%[[Q:.*]]: tensor<2x16x8xf32>, %[[K:.*]]: tensor<2x32x8xf32>, %[[V:.*]]: tensor<2x32x4xf32>)
// CHECK:         %[[S:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%[[Q]], %[[K]] : {{.*}}) outs(%{{.*}} : tensor<2x16x32xf32>)
// CHECK:           arith.constant 1.250000e-01 : f32
// CHECK:           arith.mulf
// CHECK:           arith.mulf
// CHECK:           arith.addf
// CHECK:         %[[MAX:.*]] = linalg.generic {{.*}}["parallel", "parallel", "reduction"]} ins(%[[S]] : tensor<2x16x32xf32>) outs(%{{.*}} : tensor<2x16xf32>)
// CHECK:           arith.maximumf
// CHECK:         %[[E:.*]] = linalg.generic {{.*}} ins(%[[S]], %[[MAX]] : tensor<2x16x32xf32>, tensor<2x16xf32>)
// CHECK:           arith.subf
// CHECK:           math.exp
// CHECK:         %[[SUM:.*]] = linalg.generic {{.*}} ins(%[[E]] : tensor<2x16x32xf32>) outs(%{{.*}} : tensor<2x16xf32>)
// CHECK:           arith.addf
// CHECK:         %[[P:.*]] = linalg.generic {{.*}} ins(%[[E]], %[[SUM]] : tensor<2x16x32xf32>, tensor<2x16xf32>)
// CHECK:           arith.divf
// CHECK:         %[[O:.*]] = linalg.generic {{.*}} ins(%[[P]], %[[V]] : tensor<2x16x32xf32>, tensor<2x32x4xf32>) outs(%{{.*}} : tensor<2x16x4xf32>)
// CHECK:         func.return %[[O]] : tensor<2x16x4xf32>
func.func @attention(%q: tensor<2x16x8xf32>, %k: tensor<2x32x8xf32>, %v: tensor<2x32x4xf32>) -> tensor<2x16x4xf32> {
  %o = mirage.attention %q, %k, %v scale 1.250000e-01 : tensor<2x16x8xf32>, tensor<2x32x8xf32>, tensor<2x32x4xf32> -> tensor<2x16x4xf32>
  func.return %o : tensor<2x16x4xf32>
}

// -----

// Causal grouped-query attention in f16: KV head h floordiv 4 read through the maps (no
// repeat), keys j > i replaced by -inf from the loop indices, f32 statistics, one truncf.
// CHECK-LABEL: func.func @causal_gqa_f16
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>, affine_map<(d0, d1, d2, d3, d4) -> (d0, (d1 floordiv 4), d3, d4)>, affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>]
// CHECK:           arith.extf {{.*}} : f16 to f32
// CHECK:         linalg.generic
// CHECK:           %[[I:.*]] = linalg.index 2 : index
// CHECK:           %[[J:.*]] = linalg.index 3 : index
// CHECK:           %[[ALLOWED:.*]] = arith.cmpi sle, %[[J]], %[[I]] : index
// CHECK:           %[[NEG:.*]] = arith.constant 0xff800000 : f32
// CHECK:           arith.select %[[ALLOWED]], %{{.*}}, %[[NEG]] : f32
// CHECK:         arith.maximumf
// CHECK:         math.exp
// CHECK:         arith.divf
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>, affine_map<(d0, d1, d2, d3, d4) -> (d0, (d1 floordiv 4), d4, d3)>, affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>]
// CHECK:         arith.truncf {{.*}} : f32 to f16
// CHECK:         func.return {{.*}} : tensor<1x8x64x16xf16>
// CHECK-NOT:     1x8x64x16xf16>, tensor<1x8x64x16xf16>
func.func @causal_gqa_f16(%q: tensor<1x8x64x16xf16>, %k: tensor<1x2x64x16xf16>, %v: tensor<1x2x64x16xf16>) -> tensor<1x8x64x16xf16> {
  %o = mirage.attention %q, %k, %v scale 2.500000e-01 causal : tensor<1x8x64x16xf16>, tensor<1x2x64x16xf16>, tensor<1x2x64x16xf16> -> tensor<1x8x64x16xf16>
  func.return %o : tensor<1x8x64x16xf16>
}

// -----

// An additive mask broadcast over batch and heads, read through a map with dropped dims.
// CHECK-LABEL: func.func @masked
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>]{{.*}} ins(%{{.*}}, %{{.*}} : tensor<2x4x8x8xf32>, tensor<8x8xf32>)
// CHECK-NEXT:    ^{{.*}}:
// CHECK-NEXT:      arith.addf
// The row max of a fully masked row is replaced by 0 and an all-zero row divides by 1.
// CHECK:           arith.cmpf oeq, %{{.*}}, %{{.*}} : f32
// CHECK:           arith.select
// CHECK:           math.exp
// CHECK:           arith.cmpf oeq
// CHECK:           arith.select
// CHECK:           arith.divf
func.func @masked(%q: tensor<2x4x8x8xf32>, %k: tensor<2x4x8x8xf32>, %v: tensor<2x4x8x8xf32>, %m: tensor<8x8xf32>) -> tensor<2x4x8x8xf32> {
  %o = mirage.attention %q, %k, %v mask %m scale 3.535534e-01 : tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>, tensor<8x8xf32> -> tensor<2x4x8x8xf32>
  func.return %o : tensor<2x4x8x8xf32>
}

// -----

// Softmax along axis 0: the reduced loop is the first one.
// CHECK-LABEL: func.func @softmax
// CHECK:         %[[NEG:.*]] = arith.constant 0xff800000 : f32
// CHECK:         %[[INIT:.*]] = linalg.fill ins(%[[NEG]] : f32) outs(%{{.*}} : tensor<16xf32>)
// CHECK:         %[[MAX:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>], iterator_types = ["reduction", "parallel"]} ins(%{{.*}} : tensor<8x16xf32>) outs(%[[INIT]] : tensor<16xf32>)
// CHECK:           arith.maximumf
// CHECK:         math.exp
// CHECK:         ["reduction", "parallel"]
// CHECK:         arith.addf
// CHECK:         arith.divf
func.func @softmax(%x: tensor<8x16xf32>) -> tensor<8x16xf32> {
  %y = mirage.softmax %x axis = 0 : tensor<8x16xf32>
  func.return %y : tensor<8x16xf32>
}

// -----

// RMSNorm in bf16: the sum of squares in f32, x / sqrt(sum / N + eps) * w, one truncf.
// CHECK-LABEL: func.func @rms_norm
// CHECK:         %[[SQ:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]} ins(%{{.*}} : tensor<2x4x64xbf16>) outs(%{{.*}} : tensor<2x4xf32>)
// CHECK:           arith.extf {{.*}} : bf16 to f32
// CHECK:           arith.mulf
// CHECK:           arith.addf
// CHECK:         linalg.generic {{.*}} ins(%{{.*}}, %[[SQ]], %{{.*}} : tensor<2x4x64xbf16>, tensor<2x4xf32>, tensor<64xbf16>) outs(%{{.*}} : tensor<2x4x64xbf16>)
// CHECK:           arith.constant 6.400000e+01 : f32
// CHECK:           arith.divf
// CHECK:           arith.constant 1.000000e-06 : f32
// CHECK:           math.sqrt
// CHECK:           arith.truncf {{.*}} : f32 to bf16
func.func @rms_norm(%x: tensor<2x4x64xbf16>, %w: tensor<64xbf16>) -> tensor<2x4x64xbf16> {
  %y = mirage.rms_norm %x, %w eps 1.000000e-06 : tensor<2x4x64xbf16>, tensor<64xbf16>
  func.return %y : tensor<2x4x64xbf16>
}

// -----

// LayerNorm: the mean, then the squared deviations from it, then the affine normalisation.
// CHECK-LABEL: func.func @layer_norm
// CHECK:         %[[SUM:.*]] = linalg.generic {{.*}} ins(%{{.*}} : tensor<8x32xf32>) outs(%{{.*}} : tensor<8xf32>)
// CHECK:         %[[DEV:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %[[SUM]] : tensor<8x32xf32>, tensor<8xf32>) outs(%{{.*}} : tensor<8xf32>)
// CHECK:           arith.subf
// CHECK:           arith.mulf
// CHECK:         linalg.generic {{.*}} ins(%{{.*}}, %[[SUM]], %[[DEV]], %{{.*}}, %{{.*}} : tensor<8x32xf32>, tensor<8xf32>, tensor<8xf32>, tensor<32xf32>, tensor<32xf32>)
// CHECK:           math.sqrt
func.func @layer_norm(%x: tensor<8x32xf32>, %w: tensor<32xf32>, %b: tensor<32xf32>) -> tensor<8x32xf32> {
  %y = mirage.layer_norm %x, %w, %b eps 1.000000e-05 : tensor<8x32xf32>, tensor<32xf32>
  func.return %y : tensor<8x32xf32>
}

// -----

// BatchNorm over N, H, W per channel (dim 1), with the running statistics updated
// (momentum 0.1, the variance's unbiased correction 96/95).
// CHECK-LABEL: func.func @batch_norm
// CHECK:         %[[SUM:.*]] = linalg.generic {{.*}}iterator_types = ["reduction", "parallel", "reduction", "reduction"]} ins(%{{.*}} : tensor<4x3x4x6xf32>) outs(%{{.*}} : tensor<3xf32>)
// CHECK:         %[[DEV:.*]] = linalg.generic {{.*}}iterator_types = ["reduction", "parallel", "reduction", "reduction"]}
// CHECK:         %[[SCALE:.*]] = linalg.generic {{.*}} ins(%[[DEV]], %{{.*}} : tensor<3xf32>, tensor<3xf32>)
// CHECK:           arith.constant 9.600000e+01 : f32
// CHECK:           math.sqrt
// CHECK:         %[[Y:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %[[SUM]], %[[SCALE]], %{{.*}} : tensor<4x3x4x6xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>)
// CHECK:         %[[MEAN:.*]] = linalg.generic
// CHECK:           arith.constant 9.000000e-01 : f32
// CHECK:         %[[VAR:.*]] = linalg.generic
// CHECK:           arith.constant 1.0105263 : f32
// CHECK:         func.return %[[Y]], %[[MEAN]], %[[VAR]]
func.func @batch_norm(%x: tensor<4x3x4x6xf32>, %g: tensor<3xf32>, %b: tensor<3xf32>, %rm: tensor<3xf32>, %rv: tensor<3xf32>) -> (tensor<4x3x4x6xf32>, tensor<3xf32>, tensor<3xf32>) {
  %y, %mean, %var = mirage.batch_norm %x, %g, %b, %rm, %rv eps 1.000000e-05 momentum 1.000000e-01 : tensor<4x3x4x6xf32>, tensor<3xf32>
  func.return %y, %mean, %var : tensor<4x3x4x6xf32>, tensor<3xf32>, tensor<3xf32>
}

// -----

// Matmuls: a plain 2-D one is linalg.matmul; a broadcast batch with a transposed rhs is one
// generic whose maps drop and swap dims (nothing is copied).
// CHECK-LABEL: func.func @matmuls
// CHECK:         linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<16x32xf32>, tensor<32x8xf32>) outs(%{{.*}} : tensor<16x8xf32>)
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>, affine_map<(d0, d1, d2, d3) -> (d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
func.func @matmuls(%a: tensor<16x32xf32>, %b: tensor<32x8xf32>, %c: tensor<4x16x32xf32>, %d: tensor<8x32xf32>) -> (tensor<16x8xf32>, tensor<4x16x8xf32>) {
  %0 = mirage.matmul %a, %b : tensor<16x32xf32>, tensor<32x8xf32> -> tensor<16x8xf32>
  %1 = mirage.matmul %c, %d transpose_rhs : tensor<4x16x32xf32>, tensor<8x32xf32> -> tensor<4x16x8xf32>
  func.return %0, %1 : tensor<16x8xf32>, tensor<4x16x8xf32>
}

// -----

// concat: insert_slice at running offsets; slice: extract_slice with the same strides.
// CHECK-LABEL: func.func @concat_slice
// CHECK:         %[[E:.*]] = tensor.empty() : tensor<16x24xf32>
// CHECK:         %[[C0:.*]] = tensor.insert_slice %{{.*}} into %[[E]][0, 0] [16, 8] [1, 1] : tensor<16x8xf32> into tensor<16x24xf32>
// CHECK:         %[[C1:.*]] = tensor.insert_slice %{{.*}} into %[[C0]][0, 8] [16, 16] [1, 1] : tensor<16x16xf32> into tensor<16x24xf32>
// CHECK:         tensor.extract_slice %[[C1]][2, 1] [7, 8] [2, 3] : tensor<16x24xf32> to tensor<7x8xf32>
func.func @concat_slice(%a: tensor<16x8xf32>, %b: tensor<16x16xf32>) -> tensor<7x8xf32> {
  %c = mirage.concat %a, %b axis = -1 : tensor<16x8xf32>, tensor<16x16xf32> -> tensor<16x24xf32>
  %s = mirage.slice %c[2, 1] [7, 8] [2, 3] : tensor<16x24xf32> to tensor<7x8xf32>
  func.return %s : tensor<7x8xf32>
}

// -----

// A kernel group is inlined: its body's ops (lowered) take its place.
// CHECK-LABEL: func.func @kernel
// CHECK-SAME:    (%[[X:.*]]: tensor<4x64xf32>, %[[W:.*]]: tensor<64xf32>)
// CHECK-NOT:     template
// CHECK:         linalg.generic {{.*}} ins(%[[X]] : tensor<4x64xf32>)
// CHECK:         math.sqrt
// CHECK:         math.exp
// CHECK:         arith.addf
// CHECK:         %[[Y:.*]] = linalg.generic
// CHECK-NEXT:    ^{{.*}}:
// CHECK-NEXT:      arith.divf
// CHECK-NEXT:      linalg.yield
// CHECK-NEXT:    }
// CHECK-NEXT:    func.return %[[Y]] : tensor<4x64xf32>
func.func @kernel(%x: tensor<4x64xf32>, %w: tensor<64xf32>) -> tensor<4x64xf32> {
  %y = mirage.kernel (%x, %w) : (tensor<4x64xf32>, tensor<64xf32>) -> tensor<4x64xf32> attributes {template = "row_reduction"} {
  ^bb0(%a: tensor<4x64xf32>, %b: tensor<64xf32>):
    %n = mirage.rms_norm %a, %b eps 1.000000e-06 : tensor<4x64xf32>, tensor<64xf32>
    %s = mirage.softmax %n axis = -1 : tensor<4x64xf32>
    mirage.yield %s : tensor<4x64xf32>
  }
  func.return %y : tensor<4x64xf32>
}
