"""The `mirage` ops' reference semantics against PyTorch.

Each op is built from Python into a one-op function and run through the xDSL
interpreter (`mirage_interpreter`), then compared with the PyTorch function
it stands for on random inputs (max abs error 1e-5 in fp32).  The plain NumPy
API (`mirage_numpy`) is checked on the cases the interpreter does not reach.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    BFloat16Type,
    Float16Type,
    ModuleOp,
    TensorType,
    f32,
    f64,
)
from xdsl.ir import Block, Region

from mirage_mlir.dialects import mirage
from mirage_mlir.interpreters import mirage_numpy as ref
from mirage_mlir.interpreters.mirage import run_function

FP32_TOLERANCE = 1e-5
ELEMENT_TYPES = {np.float32: f32, np.float64: f64, np.float16: Float16Type()}


def run_op(build, *arrays: np.ndarray, element=None) -> list[np.ndarray]:
    """Build `build(*args)` in a function over `arrays`' types and interpret it."""
    element = element or ELEMENT_TYPES[arrays[0].dtype.type]
    types = [TensorType(element, a.shape) for a in arrays]
    block = Block(arg_types=types)
    op = build(*block.args)
    block.add_ops([op, func.ReturnOp(*op.results)])
    function = func.FuncOp(
        "main", (types, [r.type for r in op.results]), Region(block)
    )
    module = ModuleOp([function])
    module.verify()
    return run_function(module, "main", *arrays)


def rand(rng: np.random.Generator, *shape: int, dtype=np.float32) -> np.ndarray:
    return rng.standard_normal(shape).astype(dtype)


def assert_close(actual: np.ndarray, expected: torch.Tensor, tol=FP32_TOLERANCE):
    expected = expected.detach().numpy()
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype
    np.testing.assert_allclose(actual, expected, rtol=0, atol=tol)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.mark.parametrize(
    "lhs, rhs, flags",
    [
        ((16, 32), (32, 8), {}),
        ((4, 16, 32), (32, 8), {}),
        ((2, 1, 16, 32), (3, 32, 8), {}),
        ((32, 16), (32, 8), {"transpose_lhs": True}),
        ((4, 16, 32), (4, 8, 32), {"transpose_rhs": True}),
    ],
)
def test_matmul(rng, lhs, rhs, flags):
    a, b = rand(rng, *lhs), rand(rng, *rhs)
    (out,) = run_op(lambda x, y: mirage.MatmulOp(x, y, **flags), a, b)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    if flags.get("transpose_lhs"):
        ta = ta.transpose(-1, -2)
    if flags.get("transpose_rhs"):
        tb = tb.transpose(-1, -2)
    assert_close(out, torch.matmul(ta, tb))


def test_matmul_float64_and_float16(rng):
    a, b = rand(rng, 8, 16, dtype=np.float64), rand(rng, 16, 4, dtype=np.float64)
    (out,) = run_op(mirage.MatmulOp, a, b)
    assert_close(out, torch.from_numpy(a) @ torch.from_numpy(b), tol=1e-12)
    a16, b16 = a.astype(np.float16), b.astype(np.float16)
    (out16,) = run_op(mirage.MatmulOp, a16, b16)
    # float16 accumulates in float32 and rounds once, as a GPU kernel does.
    expected = (torch.from_numpy(a16).float() @ torch.from_numpy(b16).float()).half()
    assert_close(out16, expected, tol=0)


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax(rng, axis):
    x = rand(rng, 6, 10, 12) * 5
    (out,) = run_op(lambda v: mirage.SoftmaxOp(v, axis=axis), x)
    assert_close(out, torch.softmax(torch.from_numpy(x), dim=axis))


def test_softmax_is_stable_for_large_inputs(rng):
    x = rand(rng, 4, 64) + 1000.0
    (out,) = run_op(lambda v: mirage.SoftmaxOp(v, axis=-1), x)
    assert np.isfinite(out).all()
    assert_close(out, torch.softmax(torch.from_numpy(x), dim=-1))
    with np.errstate(over="ignore", invalid="ignore"):
        naive = np.exp(x) / np.exp(x).sum(-1, keepdims=True)
    assert not np.isfinite(naive).all()


def sdpa(q, k, v, scale, causal=False, mask=None, gqa=False):
    tensors = [torch.from_numpy(t) for t in (q, k, v)]
    attn_mask = None if mask is None else torch.from_numpy(mask)
    return F.scaled_dot_product_attention(
        *tensors, attn_mask=attn_mask, is_causal=causal, scale=scale, enable_gqa=gqa
    )


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize(
    "q_shape, kv_shape",
    [
        ((2, 8, 16, 32), (2, 2, 16, 32)),  # grouped-query attention
        ((1, 4, 24, 16), (1, 4, 24, 16)),  # multi-head
        ((2, 4, 8, 16), (2, 1, 20, 16)),  # one KV head, Sq < Skv
        ((1, 2, 20, 16), (1, 2, 8, 16)),  # Sq > Skv
    ],
)
def test_attention_against_sdpa(rng, q_shape, kv_shape, causal):
    q, k, v = rand(rng, *q_shape), rand(rng, *kv_shape), rand(rng, *kv_shape)
    (out,) = run_op(
        lambda a, b, c: mirage.AttentionOp(a, b, c, scale=0.3, causal=causal), q, k, v
    )
    gqa = q_shape[1] != kv_shape[1]
    assert_close(out, sdpa(q, k, v, 0.3, causal=causal, gqa=gqa))


def test_attention_rank3_with_mask_and_value_dim(rng):
    q, k, v = rand(rng, 2, 12, 16), rand(rng, 2, 20, 16), rand(rng, 2, 20, 24)
    mask = rand(rng, 12, 20)
    mask[3, 5:] = -np.inf
    (out,) = run_op(
        lambda a, b, c, m: mirage.AttentionOp(a, b, c, scale=0.25, mask=m),
        q, k, v, mask,
    )
    assert_close(out, sdpa(q, k, v, 0.25, mask=mask))


def test_attention_mask_with_grouped_heads_and_causal(rng):
    q, kv = rand(rng, 1, 6, 10, 8), rand(rng, 1, 3, 10, 8)
    mask = rand(rng, 1, 6, 10, 10)
    (out,) = run_op(
        lambda a, b, c, m: mirage.AttentionOp(a, b, c, scale=0.5, causal=True, mask=m),
        q, kv, kv, mask,
    )
    torch_mask = torch.from_numpy(mask) + torch.full((10, 10), float("-inf")).triu(1)
    expected = F.scaled_dot_product_attention(
        torch.from_numpy(q), torch.from_numpy(kv), torch.from_numpy(kv),
        attn_mask=torch_mask, scale=0.5, enable_gqa=True,
    )
    assert_close(out, expected)


def test_attention_fully_masked_row_is_zero(rng):
    q, k, v = rand(rng, 1, 1, 3, 4), rand(rng, 1, 1, 5, 4), rand(rng, 1, 1, 5, 4)
    mask = np.zeros((3, 5), np.float32)
    mask[1] = -np.inf
    out = ref.attention(q, k, v, scale=0.5, mask=mask)
    assert (out[0, 0, 1] == 0).all()
    assert_close(out, sdpa(q, k, v, 0.5, mask=mask))


def test_rms_norm(rng):
    x, w = rand(rng, 4, 8, 64), rand(rng, 64)
    (out,) = run_op(lambda a, b: mirage.RmsNormOp(a, b, 1e-6), x, w)
    expected = F.rms_norm(torch.from_numpy(x), [64], torch.from_numpy(w), eps=1e-6)
    assert_close(out, expected)


def test_layer_norm(rng):
    x, w, b = rand(rng, 4, 8, 64) * 3 + 2, rand(rng, 64), rand(rng, 64)
    (out,) = run_op(lambda a, c, d: mirage.LayerNormOp(a, c, d, 1e-5), x, w, b)
    expected = F.layer_norm(
        torch.from_numpy(x), [64], torch.from_numpy(w), torch.from_numpy(b), eps=1e-5
    )
    assert_close(out, expected)


@pytest.mark.parametrize("x_shape", [(64, 16), (8, 6, 5, 3)])
def test_batch_norm_training_and_running_stats(rng, x_shape):
    channels = x_shape[1]
    x = rand(rng, *x_shape) * 2 + 1
    gamma, beta = rand(rng, channels), rand(rng, channels)
    mean, var = rand(rng, channels), np.abs(rand(rng, channels)) + 0.5
    y, new_mean, new_var = run_op(
        lambda *a: mirage.BatchNormOp(*a, eps=1e-5, momentum=0.1),
        x, gamma, beta, mean, var,
    )
    running_mean, running_var = torch.from_numpy(mean.copy()), torch.from_numpy(var.copy())
    expected = F.batch_norm(
        torch.from_numpy(x), running_mean, running_var,
        torch.from_numpy(gamma), torch.from_numpy(beta),
        training=True, momentum=0.1, eps=1e-5,
    )
    assert_close(y, expected)
    assert_close(new_mean, running_mean)
    assert_close(new_var, running_var)
    assert not np.allclose(new_var, var)  # the update did happen


def test_concat_and_slice(rng):
    a, b = rand(rng, 4, 6), rand(rng, 4, 3)
    (cat,) = run_op(lambda x, y: mirage.ConcatOp([x, y], axis=-1), a, b)
    assert_close(cat, torch.cat([torch.from_numpy(a), torch.from_numpy(b)], dim=-1))
    (part,) = run_op(lambda x: mirage.SliceOp(x, [1, 2], [3, 2], [1, 3]), cat)
    assert_close(part, torch.from_numpy(cat)[1:4, 2:8:3])


def test_bfloat16_results_are_rounded_like_torch(rng):
    a, b = rand(rng, 8, 16), rand(rng, 16, 4)
    a = torch.from_numpy(a).bfloat16().float().numpy()
    b = torch.from_numpy(b).bfloat16().float().numpy()
    (out,) = run_op(mirage.MatmulOp, a, b, element=BFloat16Type())
    expected = (torch.from_numpy(a) @ torch.from_numpy(b)).bfloat16().float()
    assert_close(out, expected, tol=0)
    values = rand(rng, 1000) * 1e3
    rounded = ref.round_to_bfloat16(values)
    assert_close(rounded, torch.from_numpy(values).bfloat16().float(), tol=0)


def test_kernel_runs_its_body_through_the_interpreter(rng):
    """A module with a mirage.kernel (attention, then a norm and a projection)."""
    q, kv = rand(rng, 1, 4, 8, 16), rand(rng, 1, 2, 8, 16)
    w, proj = rand(rng, 16), rand(rng, 16, 16)
    types = [TensorType(f32, a.shape) for a in (q, kv, w, proj)]
    block = Block(arg_types=types)

    def body(qa, ka, wa, pa):
        attn = mirage.AttentionOp(qa, ka, ka, scale=0.25, causal=True)
        norm = mirage.RmsNormOp(attn, wa, 1e-6)
        out = mirage.MatmulOp(norm, pa)
        return (out, attn)

    kernel = mirage.KernelOp.from_body(block.args, body)
    block.add_ops([kernel, func.ReturnOp(*kernel.results)])
    function = func.FuncOp("main", (types, [r.type for r in kernel.results]), Region(block))
    module = ModuleOp([function])
    module.verify()
    out, attn = run_function(module, "main", q, kv, w, proj)
    t_attn = sdpa(q, kv, kv, 0.25, causal=True, gqa=True)
    t_out = F.rms_norm(t_attn, [16], torch.from_numpy(w), eps=1e-6) @ torch.from_numpy(proj)
    assert_close(attn, t_attn)
    assert_close(out, t_out)


def test_interpreter_rejects_runtime_shapes_that_contradict_types(rng):
    from xdsl.utils.exceptions import InterpretationError

    x = rand(rng, 4, 8)
    types = [TensorType(f32, [4, 8])]
    block = Block(arg_types=types)
    op = mirage.SoftmaxOp(block.args[0])
    block.add_ops([op, func.ReturnOp(op.result)])
    module = ModuleOp([func.FuncOp("main", (types, types), Region(block))])
    with pytest.raises(InterpretationError, match="does not match type"):
        run_function(module, "main", x.T.copy())
