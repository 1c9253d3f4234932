// RUN: mirage-mlir-opt %s --split-input-file -p convert-mirage-to-triton | filecheck %s

// f16 attention (causal, 4 query heads on 2 KV heads): Q, K and V are loaded
// as f16 and go to tt.dot as they are, accumulating in f32; the scale
// multiplies the f32 scores; P is rounded to f16 for P·V; m, l and the
// output accumulator are f32, and the result is rounded to f16 when stored.

func.func @main(%q: tensor<2x4x40x32xf16>, %k: tensor<2x2x40x32xf16>, %v: tensor<2x2x40x32xf16>) -> tensor<2x4x40x32xf16> {
  %o = mirage.attention %q, %k, %v scale 1.767766952966369e-01 causal : tensor<2x4x40x32xf16>, tensor<2x2x40x32xf16>, tensor<2x2x40x32xf16> -> tensor<2x4x40x32xf16>
  func.return %o : tensor<2x4x40x32xf16>
}

// CHECK-LABEL: func.func @main
// CHECK:         %[[O:.*]] = plan.alloc slot 0 : tensor<2x4x40x32xf16>
// CHECK-NEXT:    plan.launch @main_attention_0 grid [1, 8, 1] ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<2x4x40x32xf16>, tensor<2x2x40x32xf16>, tensor<2x2x40x32xf16>) outs(%[[O]] : tensor<2x4x40x32xf16>)

// CHECK-LABEL: tt.func public @main_attention_0
// CHECK-SAME:      !tt.ptr<f16>
// CHECK:         %[[Q:.*]] = tt.load %{{.*}}, %{{.*}}, %{{.*}} : tensor<64x32x!tt.ptr<f16>>
// CHECK:         scf.for {{.*}} -> (tensor<64xf32>, tensor<64xf32>, tensor<64x32xf32>)
// CHECK:           %[[K:.*]] = tt.load %{{.*}}, %{{.*}}, %{{.*}} : tensor<32x64x!tt.ptr<f16>>
// CHECK:           %[[V:.*]] = tt.load %{{.*}}, %{{.*}}, %{{.*}} : tensor<64x32x!tt.ptr<f16>>
// CHECK:           %[[S:.*]] = tt.dot %[[Q]], %[[K]], %{{.*}} : tensor<64x32xf16> * tensor<32x64xf16> -> tensor<64x64xf32>
// CHECK-NEXT:      %{{.*}} = arith.constant dense<0.176776{{[0-9]*}}> : tensor<64x64xf32>
// CHECK-NEXT:      %{{.*}} = arith.mulf %[[S]], %{{.*}} : tensor<64x64xf32>
// CHECK:           %[[P:.*]] = math.exp %{{.*}} : tensor<64x64xf32>
// CHECK:           %[[P16:.*]] = arith.truncf %[[P]] : tensor<64x64xf32> to tensor<64x64xf16>
// CHECK:           %[[ACC:.*]] = tt.dot %[[P16]], %[[V]], %{{.*}} : tensor<64x64xf16> * tensor<64x32xf16> -> tensor<64x32xf32>
// CHECK:           scf.yield %{{.*}}, %{{.*}}, %[[ACC]] : tensor<64xf32>, tensor<64xf32>, tensor<64x32xf32>
// CHECK:         %[[OUT:.*]] = arith.truncf %{{.*}} : tensor<64x32xf32> to tensor<64x32xf16>
// CHECK:         tt.store %{{.*}}, %[[OUT]], %{{.*}} : tensor<64x32x!tt.ptr<f16>>

// -----

// torch-mlir's bf16 form: attention in f32 on inputs widened from bf16 and a
// result narrowed back.  The widening is exact, so the kernel still feeds the
// bf16 tiles to tt.dot, and stores bf16 without an f32 round trip.

#id = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
func.func @sdpa(%q: tensor<1x48x16xbf16>, %k: tensor<1x48x16xbf16>, %v: tensor<1x48x16xbf16>) -> tensor<1x48x16xbf16> {
  %0 = mirage.kernel (%q, %k, %v) : (tensor<1x48x16xbf16>, tensor<1x48x16xbf16>, tensor<1x48x16xbf16>) -> tensor<1x48x16xbf16> attributes {template = "attention"} {
  ^bb0(%a: tensor<1x48x16xbf16>, %b: tensor<1x48x16xbf16>, %c: tensor<1x48x16xbf16>):
    %e = tensor.empty() : tensor<1x48x16xf32>
    %qw = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel"]} ins(%a : tensor<1x48x16xbf16>) outs(%e : tensor<1x48x16xf32>) {
    ^bb0(%x: bf16, %y: f32):
      %w = arith.extf %x : bf16 to f32
      linalg.yield %w : f32
    } -> tensor<1x48x16xf32>
    %kw = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel"]} ins(%b : tensor<1x48x16xbf16>) outs(%e : tensor<1x48x16xf32>) {
    ^bb0(%x: bf16, %y: f32):
      %w = arith.extf %x : bf16 to f32
      linalg.yield %w : f32
    } -> tensor<1x48x16xf32>
    %vw = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel"]} ins(%c : tensor<1x48x16xbf16>) outs(%e : tensor<1x48x16xf32>) {
    ^bb0(%x: bf16, %y: f32):
      %w = arith.extf %x : bf16 to f32
      linalg.yield %w : f32
    } -> tensor<1x48x16xf32>
    %o = mirage.attention %qw, %kw, %vw scale 2.500000e-01 : tensor<1x48x16xf32>, tensor<1x48x16xf32>, tensor<1x48x16xf32> -> tensor<1x48x16xf32>
    %en = tensor.empty() : tensor<1x48x16xbf16>
    %on = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel"]} ins(%o : tensor<1x48x16xf32>) outs(%en : tensor<1x48x16xbf16>) {
    ^bb0(%x: f32, %y: bf16):
      %n = arith.truncf %x : f32 to bf16
      linalg.yield %n : bf16
    } -> tensor<1x48x16xbf16>
    mirage.yield %on : tensor<1x48x16xbf16>
  }
  func.return %0 : tensor<1x48x16xbf16>
}

// CHECK-LABEL: func.func @sdpa
// CHECK:         plan.launch @sdpa_attention_0 grid [1, 1, 1]

// CHECK-LABEL: tt.func public @sdpa_attention_0
// CHECK-NOT:     arith.extf
// CHECK:         tt.dot %{{.*}}, %{{.*}}, %{{.*}} : tensor<64x16xbf16> * tensor<16x64xbf16> -> tensor<64x64xf32>
// CHECK:         tt.dot %{{.*}}, %{{.*}}, %{{.*}} : tensor<64x64xbf16> * tensor<64x16xbf16> -> tensor<64x16xf32>
// CHECK:         %[[OUT:.*]] = arith.truncf %{{.*}} : tensor<64x16xf32> to tensor<64x16xbf16>
// CHECK:         tt.store %{{.*}}, %[[OUT]], %{{.*}} : tensor<64x16x!tt.ptr<bf16>>
