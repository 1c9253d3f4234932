"""The flash-attention template: E2 examples, GQA through a joined QKV buffer, sm_90 PTX.

E2 examples are optimised and lowered; the plans run in the NumPy tt
interpreter (exact f32 `tt.dot`) against eager PyTorch, and every kernel
compiles to a cubin for sm_90 whose PTX uses tensor-core `mma`/`wgmma`.
A hand-built kernel in the form the optimiser gives E7 (q, k, v sliced out of
one QKV projection, 8 query heads on 2 KV heads, causal) checks strided
addressing and KV groups.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from mirage_mlir.lowering.program import lower_module, run_plan_interpreted

FP32_TOLERANCE = 1e-4
NUMERIC_EXAMPLES = ("e2_attention_heads", "e2_attention_causal", "e2_sdpa")


@functools.cache
def lowered_example(name: str):
    import mirage_mlir
    from mirage_mlir.examples import _HERE

    return lower_module(mirage_mlir.optimize((_HERE / f"{name}.mlir").read_text()).mlir)


def _eager(name: str):
    import torch

    from mirage_mlir.examples import all_examples

    example = next(e for e in all_examples() if e.name == name)
    model, inputs = example.make_model(), example.make_inputs(0)
    with torch.no_grad():
        expected = model(*inputs)
    return [x.numpy() for x in inputs], expected.numpy()


def _reference(q, k, v, scale, causal):
    """softmax(scale q kᵀ) v in f64, with KV heads repeated for the groups."""
    q, k, v = (x.astype(np.float64) for x in (q, k, v))
    group = q.shape[1] // k.shape[1]
    k, v = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
    scores = scale * q @ np.swapaxes(k, -1, -2)
    if causal:
        sq, skv = scores.shape[-2:]
        scores = np.where(np.tril(np.ones((sq, skv), bool)), scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    return (weights / weights.sum(-1, keepdims=True)) @ v


@pytest.mark.parametrize("name", NUMERIC_EXAMPLES)
def test_e2_plan_matches_torch(name):
    inputs, expected = _eager(name)
    lowered = lowered_example(name)
    (launch,) = lowered.launches()
    assert launch.kernel_name == "main_attention_0"
    assert launch.grid_sizes == (256 // 64, 4, 1)
    (out,) = run_plan_interpreted(lowered, *inputs)
    assert out.shape == expected.shape
    assert np.abs(out - expected).max() <= FP32_TOLERANCE * max(1.0, np.abs(expected).max())


def test_e2_has_no_seq_by_seq_buffer():
    lowered = lowered_example("e2_attention")
    (launch,) = lowered.launches()
    assert launch.grid_sizes == (1024 // 64, 1, 1)
    host = lowered.plan.body.block.first_op
    for op in host.body.block.ops:
        for result in op.results:
            assert 1024 * 1024 > np.prod(result.type.get_shape())
    (ttir,) = [t for _, t in lowered.kernels]
    assert ttir.count('"tt.dot"') == 2 and ttir.count('"scf.for"') == 1


def test_causal_kernel_stops_at_the_diagonal():
    (ttir,) = [t for _, t in lowered_example("e2_attention_causal").kernels]
    assert '"arith.minsi"' in ttir  # the KV loop ends at min(Skv, last row of the block + 1)


_GQA_QKV = """
func.func @main(%qkv: tensor<40x192xf32>) -> tensor<1x40x8x16xf32> {
  %0 = mirage.kernel (%qkv) : (tensor<40x192xf32>) -> tensor<1x40x8x16xf32> attributes {template = "attention"} {
  ^bb0(%a: tensor<40x192xf32>):
    %q = tensor.extract_slice %a[0, 32] [40, 128] [1, 1] : tensor<40x192xf32> to tensor<40x128xf32>
    %q4 = tensor.expand_shape %q [[0, 1], [2, 3]] output_shape [1, 40, 8, 16] : tensor<40x128xf32> into tensor<1x40x8x16xf32>
    %eq = tensor.empty() : tensor<1x8x40x16xf32>
    %qt = linalg.transpose ins(%q4 : tensor<1x40x8x16xf32>) outs(%eq : tensor<1x8x40x16xf32>) permutation = [0, 2, 1, 3]
    %k = tensor.extract_slice %a[0, 0] [40, 32] [1, 1] : tensor<40x192xf32> to tensor<40x32xf32>
    %k4 = tensor.expand_shape %k [[0, 1], [2, 3]] output_shape [1, 40, 2, 16] : tensor<40x32xf32> into tensor<1x40x2x16xf32>
    %ek = tensor.empty() : tensor<1x2x40x16xf32>
    %kt = linalg.transpose ins(%k4 : tensor<1x40x2x16xf32>) outs(%ek : tensor<1x2x40x16xf32>) permutation = [0, 2, 1, 3]
    %v = tensor.extract_slice %a[0, 160] [40, 32] [1, 1] : tensor<40x192xf32> to tensor<40x32xf32>
    %v4 = tensor.expand_shape %v [[0, 1], [2, 3]] output_shape [1, 40, 2, 16] : tensor<40x32xf32> into tensor<1x40x2x16xf32>
    %ev = tensor.empty() : tensor<1x2x40x16xf32>
    %vt = linalg.transpose ins(%v4 : tensor<1x40x2x16xf32>) outs(%ev : tensor<1x2x40x16xf32>) permutation = [0, 2, 1, 3]
    %o = mirage.attention %qt, %kt, %vt scale 2.500000e-01 causal : tensor<1x8x40x16xf32>, tensor<1x2x40x16xf32>, tensor<1x2x40x16xf32> -> tensor<1x8x40x16xf32>
    %eo = tensor.empty() : tensor<1x40x8x16xf32>
    %ot = linalg.transpose ins(%o : tensor<1x8x40x16xf32>) outs(%eo : tensor<1x40x8x16xf32>) permutation = [0, 2, 1, 3]
    mirage.yield %ot : tensor<1x40x8x16xf32>
  }
  func.return %0 : tensor<1x40x8x16xf32>
}
"""


def _split_heads(columns: np.ndarray, heads: int) -> np.ndarray:
    return columns.reshape(1, 40, heads, 16).transpose(0, 2, 1, 3)


def test_gqa_from_joined_qkv_buffer_with_causal_mask():
    """E7's form: strided q/k/v views, KV head h // 4, odd sequence (masked tiles)."""
    qkv = np.random.default_rng(7).standard_normal((40, 192)).astype(np.float32)
    lowered = lower_module(_GQA_QKV)
    (launch,) = lowered.launches()
    assert launch.grid_sizes == (1, 8, 1)  # one 64-row query block (24 rows masked), 8 heads
    (out,) = run_plan_interpreted(lowered, qkv)
    q, k, v = _split_heads(qkv[:, 32:160], 8), _split_heads(qkv[:, :32], 2), _split_heads(qkv[:, 160:], 2)
    expected = _reference(q, k, v, 0.25, causal=True).transpose(0, 2, 1, 3)
    assert np.abs(out - expected).max() < 1e-5


_RANK3 = """
func.func @main(%q: tensor<2x20x24xf32>, %k: tensor<2x33x24xf32>, %v: tensor<2x33x8xf32>) -> tensor<2x20x8xf32> {
  %o = mirage.attention %q, %k, %v scale 5.000000e-01 : tensor<2x20x24xf32>, tensor<2x33x24xf32>, tensor<2x33x8xf32> -> tensor<2x20x8xf32>
  func.return %o : tensor<2x20x8xf32>
}
"""


def test_rank3_with_unequal_lengths_and_head_sizes():
    rng = np.random.default_rng(2)
    q = rng.standard_normal((2, 20, 24)).astype(np.float32)
    k = rng.standard_normal((2, 33, 24)).astype(np.float32)
    v = rng.standard_normal((2, 33, 8)).astype(np.float32)
    (out,) = run_plan_interpreted(lower_module(_RANK3), q, k, v)
    expected = _reference(q[:, None], k[:, None], v[:, None], 0.5, causal=False)[:, 0]
    assert np.abs(out - expected).max() < 1e-5


@pytest.mark.parametrize("name", ("e2_attention", "e2_attention_causal", "gqa"))
def test_attention_kernels_compile_for_sm90_with_tensor_cores(name, triton_cache):
    pytest.importorskip("triton")
    from mirage_mlir.lowering.staging import TritonOptions, compile_ttir

    lowered = lower_module(_GQA_QKV) if name == "gqa" else lowered_example(name)
    for kernel_name, ttir in lowered.kernels:
        kernel = compile_ttir(ttir, TritonOptions(arch=90))
        assert kernel.name == kernel_name
        assert kernel.cubin and ".target sm_90" in kernel.ptx
        assert "mma" in kernel.ptx  # mma.sync or wgmma.mma_async
