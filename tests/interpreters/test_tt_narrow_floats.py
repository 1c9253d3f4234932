"""f16 and bf16 in the NumPy tt interpreter: rounding as the GPU rounds.

f16 values are NumPy float16.  NumPy has no bfloat16, so bf16 values are
float32 arrays rounded to bf16 (round to nearest, ties to even, on the top 16
bits) after every op; both are checked against PyTorch's own conversions and
arithmetic, bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from xdsl.builder import ImplicitBuilder
from xdsl.dialects import arith
from xdsl.dialects.builtin import ModuleOp, TensorType, bf16, f16, f32

from mirage_mlir.dialects import tt
from mirage_mlir.interpreters.tt import run_kernel
from mirage_mlir.interpreters.tt_arith import as_type, round_to_bfloat16


def _torch_bf16(values: np.ndarray) -> np.ndarray:
    return torch.from_numpy(values).to(torch.bfloat16).float().numpy()


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    both_nan = np.isnan(a) & np.isnan(b)
    return bool(((a.view(np.uint32) == b.view(np.uint32)) | both_nan).all())


def test_bf16_rounding_matches_torch_on_random_bit_patterns():
    bits = np.random.default_rng(3).integers(0, 2**32, 200_000, dtype=np.uint64).astype(np.uint32)
    values = bits.view(np.float32)
    assert _same_bits(round_to_bfloat16(values), _torch_bf16(values))


@pytest.mark.parametrize(
    "bits, rounded",
    [
        (0x3F808000, 0x3F800000),  # halfway, even upper half: stays
        (0x3F818000, 0x3F820000),  # halfway, odd upper half: up to even
        (0x3F808001, 0x3F810000),  # just above halfway: up
        (0x3F807FFF, 0x3F800000),  # just below halfway: down
        (0xBF818000, 0xBF820000),  # negative ties round the magnitude the same way
        (0x7F7FFFFF, 0x7F800000),  # the largest float32 rounds to infinity
        (0x7F800000, 0x7F800000),  # infinity stays
        (0x00018000, 0x00020000),  # subnormals round like the rest
    ],
)
def test_bf16_rounding_ties_to_even_and_overflow(bits, rounded):
    value = np.array([bits], np.uint32).view(np.float32)
    assert round_to_bfloat16(value).view(np.uint32)[0] == rounded
    assert _same_bits(round_to_bfloat16(value), _torch_bf16(value))


def test_bf16_rounding_keeps_nan():
    assert np.isnan(round_to_bfloat16(np.array([np.nan], np.float32))).all()


def test_as_type_rounds_bf16_and_f16():
    values = np.random.default_rng(4).standard_normal(1000) * 100
    bf16_values = as_type(values, TensorType(bf16, [1000]))
    assert _same_bits(bf16_values, _torch_bf16(values.astype(np.float32)))
    f16_values = as_type(values, TensorType(f16, [1000]))
    assert f16_values.dtype == np.float16
    np.testing.assert_array_equal(f16_values, torch.from_numpy(values).half().numpy())


def _narrow_add_kernel(element, block: int = 64) -> ModuleOp:
    """`out = truncf(x) + truncf(y)` computed in `element` (f16/bf16), x, y f32."""
    kernel = tt.FuncOp("narrow_add", [tt.ptr(f32), tt.ptr(f32), tt.ptr(element)])
    with ImplicitBuilder(kernel.body.block) as (x, y, out):
        offsets = tt.MakeRangeOp(0, block).result
        narrow = TensorType(element, [block])
        loaded = [
            tt.LoadOp(tt.AddPtrOp(tt.SplatOp(p, [block]), offsets).result).result for p in (x, y)
        ]
        a, b = (arith.TruncFOp(v, narrow).result for v in loaded)
        tt.StoreOp(tt.AddPtrOp(tt.SplatOp(out, [block]), offsets).result, arith.AddfOp(a, b))
        tt.ReturnOp()
    return ModuleOp([kernel])


@pytest.mark.parametrize("element, dtype", [(f16, torch.float16), (bf16, torch.bfloat16)])
def test_narrow_arithmetic_rounds_after_every_op(element, dtype):
    rng = np.random.default_rng(5)
    x, y = (rng.standard_normal(64).astype(np.float32) * 10 for _ in range(2))
    out = np.zeros(64, np.float16 if element == f16 else np.float32)
    run_kernel(_narrow_add_kernel(element), (1,), x, y, out)
    # torch rounds each operand to the narrow type and the sum again.
    expected = (torch.from_numpy(x).to(dtype) + torch.from_numpy(y).to(dtype)).float().numpy()
    assert _same_bits(out.astype(np.float32), expected)
