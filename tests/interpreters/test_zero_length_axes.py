"""`mirage` ops over zero-length axes agree with the linalg they stand for.

A linalg loop nest with no iterations leaves each result equal to its init, so a reduction
over no elements is its identity (-inf for a max, 0 for a sum): softmax over rows of length 0
is an empty array, and attention over no keys is zeros (the product of empty probabilities
with no values is the zero-filled init). The mirage ops run through the xDSL interpreter; the
originals are torch-mlir's decomposed forms (tests/bad_input/inputs), run by MLIR's JIT.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, TensorType, f32
from xdsl.ir import Block, Region

from mirage_mlir.dialects import mirage
from mirage_mlir.interpreters import mirage_numpy as ref
from mirage_mlir.interpreters.mirage import run_function

INPUTS = Path(__file__).parents[1] / "bad_input" / "inputs"


def run_op(build, *arrays: np.ndarray) -> list[np.ndarray]:
    """Interpret a one-op f32 function `build(*args)` on `arrays`."""
    types = [TensorType(f32, a.shape) for a in arrays]
    block = Block(arg_types=types)
    op = build(*block.args)
    block.add_ops([op, func.ReturnOp(*op.results)])
    function = func.FuncOp("main", (types, [r.type for r in op.results]), Region(block))
    module = ModuleOp([function])
    module.verify()
    return run_function(module, "main", *arrays)


def linalg_original(name: str, *arrays: np.ndarray) -> list[np.ndarray]:
    """@main of the torch-mlir form in tests/bad_input/inputs/`name`, by MLIR's JIT."""
    from mirage_mlir.passes.emit.verify import run_original

    return run_original((INPUTS / name).read_text(), "main", list(arrays))


def test_softmax_over_rows_of_length_zero_is_the_linalg_empty_array():
    x = np.zeros((4, 0), np.float32)
    (out,) = run_op(lambda a: mirage.SoftmaxOp(a, axis=-1), x)
    (expected,) = linalg_original("softmax_zero_length_rows.mlir", x)
    assert out.shape == expected.shape == (4, 0)
    assert out.dtype == np.float32


@pytest.mark.parametrize("shape, axis", [((0, 5), 0), ((3, 0, 2), 1), ((0, 5), 1)])
def test_softmax_with_an_empty_axis_is_empty(shape, axis):
    out = ref.softmax(np.zeros(shape, np.float32), axis=axis)
    assert out.shape == shape and out.dtype == np.float32


def test_attention_over_no_keys_is_what_the_linalg_computes():
    rng = np.random.default_rng(0)
    q = rng.uniform(-1, 1, (1, 8, 16)).astype(np.float32)
    kv = np.zeros((1, 0, 16), np.float32)
    (out,) = run_op(lambda a, b, c: mirage.AttentionOp(a, b, c, scale=0.25), q, kv, kv)
    (expected,) = linalg_original("attention_zero_keys.mlir", q, kv, kv)
    assert out.shape == expected.shape == (1, 8, 16)
    np.testing.assert_array_equal(out, expected)
    assert not expected.any()  # the zero init of the product over no keys


@pytest.mark.parametrize("causal", [False, True])
def test_grouped_masked_attention_over_no_keys_is_zeros(causal):
    rng = np.random.default_rng(1)
    q = rng.uniform(-1, 1, (2, 4, 3, 8)).astype(np.float32)
    k = np.zeros((2, 2, 0, 8), np.float32)
    v = np.zeros((2, 2, 0, 5), np.float32)
    mask = np.zeros((3, 0), np.float32)
    out = ref.attention(q, k, v, scale=0.5, causal=causal, mask=mask)
    assert out.shape == (2, 4, 3, 5) and out.dtype == np.float32
    assert not out.any()


def test_attention_with_keys_is_unchanged_by_the_identity():
    """The -inf identity changes nothing where rows have elements: a row of real scores keeps
    its maximum, a fully masked row is still zeros."""
    rng = np.random.default_rng(2)
    q, k, v = (rng.uniform(-1, 1, (1, 4, 8)).astype(np.float32) for _ in range(3))
    mask = np.zeros((4, 4), np.float32)
    mask[1] = -np.inf
    out = ref.attention(q, k, v, scale=0.5, mask=mask)
    scores = 0.5 * q[0] @ k[0].T + mask
    expected = np.zeros((4, 8), np.float32)
    for row in (0, 2, 3):
        p = np.exp(scores[row] - scores[row].max())
        expected[row] = (p / p.sum()) @ v[0]
    np.testing.assert_allclose(out[0], expected, rtol=0, atol=1e-6)
