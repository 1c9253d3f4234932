"""bf16 in the CPU reference executor does not depend on the machine it runs on.

LLVM turns bf16 arithmetic and f32 <-> bf16 conversions into native instructions on CPUs
with AVX512-BF16 and into calls to `__truncsfbf2` elsewhere; libgcc before GCC 13 lacks
that helper, so the same module ran on one machine and failed to link on another. The
lowering (`driver/cpu_lowering.py`) computes bf16 math in f32 and expands the conversions
into integer operations, so no LLVM float operation ever sees a bf16 value. These tests
check that structurally (it holds whatever this machine's CPU is) and numerically against
torch's own bf16 arithmetic.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from mirage_mlir.driver import cpu_lowering
from mirage_mlir.driver.executor import execute_mlir

# Every arith/math op torch-mlir emits on bf16 values in the zoo and the examples, plus the
# conversions both ways: x rounded to bf16, computed on in bf16, widened back to f32.
BF16_BODY = """
func.func @main(%a: tensor<64xf32>, %b: tensor<64xf32>) -> tensor<64xf32> {
  %e = tensor.empty() : tensor<64xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>,
                                        affine_map<(d0) -> (d0)>],
                       iterator_types = ["parallel"]}
      ins(%a, %b : tensor<64xf32>, tensor<64xf32>) outs(%e : tensor<64xf32>) {
  ^bb0(%x32: f32, %y32: f32, %o: f32):
    %x = arith.truncf %x32 : f32 to bf16
    %y = arith.truncf %y32 : f32 to bf16
    %s = arith.addf %x, %y : bf16
    %p = arith.mulf %s, %x : bf16
    %d = arith.divf %p, %y : bf16
    %m = arith.maximumf %d, %x : bf16
    %n = arith.negf %m : bf16
    %t = math.tanh %n : bf16
    %q = math.exp %t : bf16
    %c = arith.cmpf ogt, %q, %x : bf16
    %sel = arith.select %c, %q, %s : bf16
    %w = arith.extf %sel : bf16 to f32
    linalg.yield %w : f32
  } -> tensor<64xf32>
  return %r : tensor<64xf32>
}
"""


def lower_to_llvm_dialect(text: str) -> str:
    """`text` through every stage of the CPU lowering, printed."""
    from torch_mlir import ir, passmanager

    with ir.Context():
        module = ir.Module.parse(text)

        def run(stage: cpu_lowering.LoweringStage) -> None:
            passmanager.PassManager.parse(stage.pipeline).run(module.operation)

        cpu_lowering.lower_to_llvm(module, run)
        return str(module)


# LLVM operations that only move or reinterpret a bf16 value's bits.
BIT_MOVES = re.compile(r"= llvm\.(bitcast|select|load|mlir\.constant)\b|^llvm\.store\b")


def test_no_llvm_float_operation_sees_bf16() -> None:
    lowered = lower_to_llvm_dialect(BF16_BODY)
    bf16_lines = [line.strip() for line in lowered.splitlines() if "bf16" in line]
    # No arithmetic, no fptrunc/fpext, no intrinsic, no call into a runtime helper.
    offending = [line for line in bf16_lines if not BIT_MOVES.search(line)]
    assert bf16_lines, "the test module should have produced bf16 values"
    assert offending == []
    assert "__truncsfbf2" not in lowered and "__extendbfsf2" not in lowered


def bf16_reference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """BF16_BODY computed by torch in bf16, op by op."""
    x = torch.from_numpy(a).bfloat16()
    y = torch.from_numpy(b).bfloat16()
    s = x + y
    d = (s * x) / y
    m = torch.maximum(d, x)
    q = torch.exp(torch.tanh(-m))
    return torch.where(q > x, q, s).float().numpy()


def test_bf16_arithmetic_matches_torch() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal(64).astype(np.float32) * 3
    b = rng.standard_normal(64).astype(np.float32) + 4
    (got,) = execute_mlir(BF16_BODY, a, b)
    np.testing.assert_array_equal(got, bf16_reference(a, b))


@pytest.mark.parametrize(
    "value",
    [
        1.00390625,
        1.01171875,
        -2.5e-39,
        3.3895e38,
        float("inf"),
        -float("inf"),
        float("nan"),
    ],
)
def test_f32_to_bf16_rounding_is_torchs(value: float) -> None:
    """Ties to even, subnormals, overflow to inf, infinities and NaN round as torch rounds."""
    text = """
func.func @main(%a: tensor<1xf32>) -> tensor<1xf32> {
  %e = tensor.empty() : tensor<1xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>],
                       iterator_types = ["parallel"]}
      ins(%a : tensor<1xf32>) outs(%e : tensor<1xf32>) {
  ^bb0(%x: f32, %o: f32):
    %t = arith.truncf %x : f32 to bf16
    %w = arith.extf %t : bf16 to f32
    linalg.yield %w : f32
  } -> tensor<1xf32>
  return %r : tensor<1xf32>
}
"""
    array = np.array([value], dtype=np.float32)
    (got,) = execute_mlir(text, array)
    want = torch.from_numpy(array).bfloat16().float().numpy()
    np.testing.assert_array_equal(got, want)
