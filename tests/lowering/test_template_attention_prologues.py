"""The flash-attention template with additive masks, prologues and epilogues.

Masks broadcast from [1, 1, Sq, Skv] or [B, 1, Sq, Skv] to the scores and may
hold -inf, also across a whole row (whose output is zeros); operands may be
computed in the kernel from elementwise prologues read through reshapes and
transposes (ViT's bias add before the head split, Llama's RoPE with grouped
KV heads), and an elementwise epilogue may run on the result before a
permuted store.  Each plan runs in the NumPy tt interpreter against
`interpreters.mirage_numpy.attention` (the reference semantics; the CPU
runtime uses torch's scaled_dot_product_attention), and every kernel
compiles for sm_90 with tensor-core products.
"""

from __future__ import annotations

import numpy as np
import pytest

from mirage_mlir.interpreters.mirage_numpy import attention
from mirage_mlir.lowering.program import lower_module, run_plan_interpreted

_MASKED = """
func.func @main(%q: tensor<2x4x{sq}x16x{t}>, %k: tensor<2x4x{skv}x16x{t}>, %v: tensor<2x4x{skv}x8x{t}>, %m: tensor<{mask}x{sq}x{skv}x{t}>) -> tensor<2x4x{sq}x8x{t}> {{
  %o = mirage.attention %q, %k, %v mask %m scale 2.500000e-01 : tensor<2x4x{sq}x16x{t}>, tensor<2x4x{skv}x16x{t}>, tensor<2x4x{skv}x8x{t}>, tensor<{mask}x{sq}x{skv}x{t}> -> tensor<2x4x{sq}x8x{t}>
  func.return %o : tensor<2x4x{sq}x8x{t}>
}}
"""


def _masked_inputs(mask_batch: int, dtype, seed: int = 0):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((2, 4, 20, 16)).astype(dtype)
    k = rng.standard_normal((2, 4, 33, 16)).astype(dtype)
    v = rng.standard_normal((2, 4, 33, 8)).astype(dtype)
    mask = rng.standard_normal((mask_batch, 1, 20, 33)).astype(dtype)
    mask[..., 5, 7:] = -np.inf  # a padded row: keys past 7 are hidden
    mask[..., 9, :] = -np.inf  # a row that sees no key at all
    mask[..., 11, :30] = np.finfo(dtype).min  # HF's "minimum" mask value
    return q, k, v, mask


def _error(got: np.ndarray, want: np.ndarray) -> float:
    assert got.shape == want.shape and not np.isnan(got).any()
    return float(np.abs(got.astype(np.float64) - want).max())


@pytest.mark.parametrize("mask_batch", (1, 2))
def test_broadcast_mask_with_a_fully_masked_row(mask_batch):
    q, k, v, mask = _masked_inputs(mask_batch, np.float32)
    text = _MASKED.format(t="f32", mask=f"{mask_batch}x1", sq=20, skv=33)
    (out,) = run_plan_interpreted(
        lower_module(text, input_precision="ieee"), q, k, v, mask
    )
    want = attention(q, k, v, scale=0.25, mask=mask).astype(np.float64)
    assert np.all(out[:, :, 9] == 0.0)  # softmax over no key: zeros, not NaN
    assert _error(out, want) < 1e-5


def test_f16_mask():
    q, k, v, mask = _masked_inputs(2, np.float16, seed=3)
    text = _MASKED.format(t="f16", mask="2x1", sq=20, skv=33)
    (out,) = run_plan_interpreted(lower_module(text), q, k, v, mask)
    assert out.dtype == np.float16
    want = attention(
        *(x.astype(np.float32) for x in (q, k, v)),
        scale=0.25,
        mask=mask.astype(np.float32),
    )
    assert np.all(out[:, :, 9] == 0.0)
    assert _error(out, want) < 1e-2


_VIT_BIAS = """
#row = affine_map<(d0, d1) -> (d0, d1)>
#bias = affine_map<(d0, d1) -> (d1)>
func.func @main(%xq: tensor<17x64xf32>, %xk: tensor<17x64xf32>, %xv: tensor<17x64xf32>, %bq: tensor<64xf32>, %bk: tensor<64xf32>, %bv: tensor<64xf32>, %m: tensor<1x1x17x17xf32>) -> tensor<1x17x4x16xf32> {
  %0 = mirage.kernel (%xq, %xk, %xv, %bq, %bk, %bv, %m) : (tensor<17x64xf32>, tensor<17x64xf32>, tensor<17x64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<1x1x17x17xf32>) -> tensor<1x17x4x16xf32> attributes {template = "attention"} {
  ^bb0(%aq: tensor<17x64xf32>, %ak: tensor<17x64xf32>, %av: tensor<17x64xf32>, %cq: tensor<64xf32>, %ck: tensor<64xf32>, %cv: tensor<64xf32>, %mm: tensor<1x1x17x17xf32>):
    %e0 = tensor.empty() : tensor<17x64xf32>
    %q = linalg.generic {indexing_maps = [#row, #bias, #row], iterator_types = ["parallel", "parallel"]} ins(%aq, %cq : tensor<17x64xf32>, tensor<64xf32>) outs(%e0 : tensor<17x64xf32>) {
    ^bb0(%x: f32, %b: f32, %o: f32):
      %s = arith.addf %x, %b : f32
      linalg.yield %s : f32
    } -> tensor<17x64xf32>
    %q4 = tensor.expand_shape %q [[0, 1], [2, 3]] output_shape [1, 17, 4, 16] : tensor<17x64xf32> into tensor<1x17x4x16xf32>
    %e1 = tensor.empty() : tensor<1x4x17x16xf32>
    %qt = linalg.transpose ins(%q4 : tensor<1x17x4x16xf32>) outs(%e1 : tensor<1x4x17x16xf32>) permutation = [0, 2, 1, 3]
    %e2 = tensor.empty() : tensor<17x64xf32>
    %k = linalg.generic {indexing_maps = [#bias, #row, #row], iterator_types = ["parallel", "parallel"]} ins(%ck, %ak : tensor<64xf32>, tensor<17x64xf32>) outs(%e2 : tensor<17x64xf32>) {
    ^bb0(%b: f32, %x: f32, %o: f32):
      %s = arith.addf %b, %x : f32
      linalg.yield %s : f32
    } -> tensor<17x64xf32>
    %k4 = tensor.expand_shape %k [[0, 1], [2, 3]] output_shape [1, 17, 4, 16] : tensor<17x64xf32> into tensor<1x17x4x16xf32>
    %e3 = tensor.empty() : tensor<1x4x16x17xf32>
    %kp = linalg.transpose ins(%k4 : tensor<1x17x4x16xf32>) outs(%e3 : tensor<1x4x16x17xf32>) permutation = [0, 2, 3, 1]
    %e4 = tensor.empty() : tensor<1x4x17x16xf32>
    %kt = linalg.transpose ins(%kp : tensor<1x4x16x17xf32>) outs(%e4 : tensor<1x4x17x16xf32>) permutation = [0, 1, 3, 2]
    %e5 = tensor.empty() : tensor<17x64xf32>
    %v = linalg.generic {indexing_maps = [#row, #bias, #row], iterator_types = ["parallel", "parallel"]} ins(%av, %cv : tensor<17x64xf32>, tensor<64xf32>) outs(%e5 : tensor<17x64xf32>) {
    ^bb0(%x: f32, %b: f32, %o: f32):
      %s = arith.addf %x, %b : f32
      linalg.yield %s : f32
    } -> tensor<17x64xf32>
    %v4 = tensor.expand_shape %v [[0, 1], [2, 3]] output_shape [1, 17, 4, 16] : tensor<17x64xf32> into tensor<1x17x4x16xf32>
    %e6 = tensor.empty() : tensor<1x4x17x16xf32>
    %vt = linalg.transpose ins(%v4 : tensor<1x17x4x16xf32>) outs(%e6 : tensor<1x4x17x16xf32>) permutation = [0, 2, 1, 3]
    %o = mirage.attention %qt, %kt, %vt mask %mm scale 2.500000e-01 : tensor<1x4x17x16xf32>, tensor<1x4x17x16xf32>, tensor<1x4x17x16xf32>, tensor<1x1x17x17xf32> -> tensor<1x4x17x16xf32>
    %e7 = tensor.empty() : tensor<1x17x4x16xf32>
    %ot = linalg.transpose ins(%o : tensor<1x4x17x16xf32>) outs(%e7 : tensor<1x17x4x16xf32>) permutation = [0, 2, 1, 3]
    mirage.yield %ot : tensor<1x17x4x16xf32>
  }
  func.return %0 : tensor<1x17x4x16xf32>
}
"""


def _heads(columns: np.ndarray, heads: int, dim: int) -> np.ndarray:
    """[S, heads * dim] as [1, heads, S, dim]."""
    return columns.reshape(1, columns.shape[0], heads, dim).transpose(0, 2, 1, 3)


def test_bias_prologue_through_reshape_and_transpose():
    rng = np.random.default_rng(5)
    xq, xk, xv = (rng.standard_normal((17, 64)).astype(np.float32) for _ in range(3))
    bq, bk, bv = (rng.standard_normal(64).astype(np.float32) for _ in range(3))
    mask = np.zeros((1, 1, 17, 17), np.float32)
    mask[..., 16:] = -np.inf
    (out,) = run_plan_interpreted(
        lower_module(_VIT_BIAS, input_precision="ieee"), xq, xk, xv, bq, bk, bv, mask
    )
    q, k, v = (_heads(x + b, 4, 16) for x, b in ((xq, bq), (xk, bk), (xv, bv)))
    want = attention(q, k, v, scale=0.25, mask=mask).transpose(0, 2, 1, 3)
    assert _error(out, want) < 1e-5


_ROPE_GQA = """
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#pos = affine_map<(d0, d1, d2, d3) -> (d0, 0, d2, d3)>
func.func @main(%q: tensor<1x4x24x16xf32>, %qr: tensor<1x4x24x16xf32>, %k: tensor<1x2x24x16xf32>, %kr: tensor<1x2x24x16xf32>, %cos: tensor<1x1x24x16xf32>, %sin: tensor<1x1x24x16xf32>, %x: tensor<24x128xf32>, %m: tensor<1x1x24x24xf32>) -> tensor<1x24x4x16xf32> {
  %0 = mirage.kernel (%q, %qr, %k, %kr, %cos, %sin, %x, %m) : (tensor<1x4x24x16xf32>, tensor<1x4x24x16xf32>, tensor<1x2x24x16xf32>, tensor<1x2x24x16xf32>, tensor<1x1x24x16xf32>, tensor<1x1x24x16xf32>, tensor<24x128xf32>, tensor<1x1x24x24xf32>) -> tensor<1x24x4x16xf32> attributes {template = "attention"} {
  ^bb0(%aq: tensor<1x4x24x16xf32>, %aqr: tensor<1x4x24x16xf32>, %ak: tensor<1x2x24x16xf32>, %akr: tensor<1x2x24x16xf32>, %c: tensor<1x1x24x16xf32>, %s: tensor<1x1x24x16xf32>, %ax: tensor<24x128xf32>, %am: tensor<1x1x24x24xf32>):
    %e0 = tensor.empty() : tensor<1x4x24x16xf32>
    %qe = linalg.generic {indexing_maps = [#id, #id, #pos, #pos, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%aq, %aqr, %c, %s : tensor<1x4x24x16xf32>, tensor<1x4x24x16xf32>, tensor<1x1x24x16xf32>, tensor<1x1x24x16xf32>) outs(%e0 : tensor<1x4x24x16xf32>) {
    ^bb0(%a: f32, %r: f32, %cc: f32, %ss: f32, %o: f32):
      %t0 = arith.mulf %a, %cc : f32
      %t1 = arith.mulf %r, %ss : f32
      %t2 = arith.addf %t0, %t1 : f32
      linalg.yield %t2 : f32
    } -> tensor<1x4x24x16xf32>
    %e1 = tensor.empty() : tensor<1x2x24x16xf32>
    %kc = linalg.generic {indexing_maps = [#id, #pos, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%ak, %c : tensor<1x2x24x16xf32>, tensor<1x1x24x16xf32>) outs(%e1 : tensor<1x2x24x16xf32>) {
    ^bb0(%a: f32, %cc: f32, %o: f32):
      %t0 = arith.mulf %a, %cc : f32
      linalg.yield %t0 : f32
    } -> tensor<1x2x24x16xf32>
    %e2 = tensor.empty() : tensor<1x2x24x16xf32>
    %ks = linalg.generic {indexing_maps = [#pos, #id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s, %akr : tensor<1x1x24x16xf32>, tensor<1x2x24x16xf32>) outs(%e2 : tensor<1x2x24x16xf32>) {
    ^bb0(%ss: f32, %r: f32, %o: f32):
      %t0 = arith.mulf %ss, %r : f32
      linalg.yield %t0 : f32
    } -> tensor<1x2x24x16xf32>
    %e3 = tensor.empty() : tensor<1x2x24x16xf32>
    %ke = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%kc, %ks : tensor<1x2x24x16xf32>, tensor<1x2x24x16xf32>) outs(%e3 : tensor<1x2x24x16xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %t0 = arith.addf %a, %b : f32
      linalg.yield %t0 : f32
    } -> tensor<1x2x24x16xf32>
    %vs = tensor.extract_slice %ax[0, 32] [24, 32] [1, 1] : tensor<24x128xf32> to tensor<24x32xf32>
    %v4 = tensor.expand_shape %vs [[0, 1], [2, 3]] output_shape [1, 24, 2, 16] : tensor<24x32xf32> into tensor<1x24x2x16xf32>
    %e4 = tensor.empty() : tensor<1x2x24x16xf32>
    %vt = linalg.transpose ins(%v4 : tensor<1x24x2x16xf32>) outs(%e4 : tensor<1x2x24x16xf32>) permutation = [0, 2, 1, 3]
    %o = mirage.attention %qe, %ke, %vt mask %am scale 2.500000e-01 : tensor<1x4x24x16xf32>, tensor<1x2x24x16xf32>, tensor<1x2x24x16xf32>, tensor<1x1x24x24xf32> -> tensor<1x4x24x16xf32>
    %e5 = tensor.empty() : tensor<1x24x4x16xf32>
    %ot = linalg.transpose ins(%o : tensor<1x4x24x16xf32>) outs(%e5 : tensor<1x24x4x16xf32>) permutation = [0, 2, 1, 3]
    mirage.yield %ot : tensor<1x24x4x16xf32>
  }
  func.return %0 : tensor<1x24x4x16xf32>
}
"""


def _rope_inputs():
    rng = np.random.default_rng(11)
    shapes = [(1, 4, 24, 16), (1, 4, 24, 16), (1, 2, 24, 16), (1, 2, 24, 16)]
    q, qr, k, kr = (rng.standard_normal(s).astype(np.float32) for s in shapes)
    angles = rng.uniform(0, 6.3, (1, 1, 24, 16)).astype(np.float32)
    x = rng.standard_normal((24, 128)).astype(np.float32)
    causal = np.triu(np.full((24, 24), -np.inf, np.float32), 1)[None, None]
    return q, qr, k, kr, np.cos(angles), np.sin(angles), x, causal


def test_rope_prologue_with_grouped_kv_heads():
    """Llama's form: q·cos + rot(q)·sin on 4 query heads, k on 2 KV heads, v sliced."""
    q, qr, k, kr, cos, sin, x, mask = inputs = _rope_inputs()
    (out,) = run_plan_interpreted(
        lower_module(_ROPE_GQA, input_precision="ieee"), *inputs
    )
    v = _heads(x[:, 32:64], 2, 16)
    want = attention(q * cos + qr * sin, k * cos + sin * kr, v, scale=0.25, mask=mask)
    assert _error(out, want.transpose(0, 2, 1, 3)) < 1e-5


_EPILOGUE = """
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#head = affine_map<(d0, d1, d2, d3) -> (d1, d3)>
func.func @main(%q: tensor<1x2x20x16xf32>, %k: tensor<1x2x20x16xf32>, %v: tensor<1x2x20x16xf32>, %g: tensor<2x16xf32>) -> tensor<1x20x32xf32> {
  %0 = mirage.kernel (%q, %k, %v, %g) : (tensor<1x2x20x16xf32>, tensor<1x2x20x16xf32>, tensor<1x2x20x16xf32>, tensor<2x16xf32>) -> tensor<1x20x32xf32> attributes {template = "attention"} {
  ^bb0(%aq: tensor<1x2x20x16xf32>, %ak: tensor<1x2x20x16xf32>, %av: tensor<1x2x20x16xf32>, %ag: tensor<2x16xf32>):
    %o = mirage.attention %aq, %ak, %av scale 2.500000e-01 causal : tensor<1x2x20x16xf32>, tensor<1x2x20x16xf32>, tensor<1x2x20x16xf32> -> tensor<1x2x20x16xf32>
    %e0 = tensor.empty() : tensor<1x2x20x16xf32>
    %y = linalg.generic {indexing_maps = [#id, #head, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%o, %ag : tensor<1x2x20x16xf32>, tensor<2x16xf32>) outs(%e0 : tensor<1x2x20x16xf32>) {
    ^bb0(%a: f32, %b: f32, %out: f32):
      %t0 = arith.mulf %a, %b : f32
      linalg.yield %t0 : f32
    } -> tensor<1x2x20x16xf32>
    %e1 = tensor.empty() : tensor<1x20x2x16xf32>
    %yt = linalg.transpose ins(%y : tensor<1x2x20x16xf32>) outs(%e1 : tensor<1x20x2x16xf32>) permutation = [0, 2, 1, 3]
    %yc = tensor.collapse_shape %yt [[0], [1], [2, 3]] : tensor<1x20x2x16xf32> into tensor<1x20x32xf32>
    mirage.yield %yc : tensor<1x20x32xf32>
  }
  func.return %0 : tensor<1x20x32xf32>
}
"""


def test_epilogue_before_a_permuted_store():
    rng = np.random.default_rng(13)
    q, k, v = (rng.standard_normal((1, 2, 20, 16)).astype(np.float32) for _ in range(3))
    g = rng.standard_normal((2, 16)).astype(np.float32)
    (out,) = run_plan_interpreted(
        lower_module(_EPILOGUE, input_precision="ieee"), q, k, v, g
    )
    want = attention(q, k, v, scale=0.25, causal=True) * g[None, :, None, :]
    assert _error(out, want.transpose(0, 2, 1, 3).reshape(1, 20, 32)) < 1e-5


def _modules():
    # 128 query rows: 64-row tiles, which Hopper's warp-group MMA (wgmma) takes.
    masked = {
        f"masked_{t}": _MASKED.format(t=t, mask="2x1", sq=128, skv=96)
        for t in ("f32", "f16")
    }
    return {
        **masked,
        "vit_bias": _VIT_BIAS,
        "rope_gqa": _ROPE_GQA,
        "epilogue": _EPILOGUE,
    }


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(_modules()))
def test_kernels_compile_for_sm90_with_tensor_cores(name, triton_cache):
    pytest.importorskip("triton")
    from mirage_mlir.lowering.staging import TritonOptions, compile_ttir

    lowered = lower_module(_modules()[name])
    for kernel_name, ttir in lowered.kernels:
        assert ttir.count('"tt.dot"') == 2
        kernel = compile_ttir(ttir, TritonOptions(arch=90))
        assert kernel.name == kernel_name
        assert kernel.cubin and ".target sm_90" in kernel.ptx
        # wgmma for 64-row tiles; smaller tiles (the rest) use mma.sync.
        assert ("wgmma.mma_async" if name.startswith("masked") else "mma") in kernel.ptx
