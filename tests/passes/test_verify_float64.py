"""`verify` judges the original and the optimised function against the original's float64 twin.

A rewrite that is more accurate than an overflowing original passes, and the report says the
original overflowed; a rewrite that overflows where the original did not fails; the twin is
the original with its narrow float types widened (constants, casts, weights, calls).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mirage_mlir
from mirage_mlir.dialects.context import parse_mlir, print_mlir
from mirage_mlir.passes.emit.accuracy import judge_output
from mirage_mlir.passes.emit.verify import (
    VerificationError,
    run_reference,
    verify_function,
)
from mirage_mlir.passes.emit.widen import WideningError, widened_functions


class NaiveGQA(torch.nn.Module):
    """Grouped-query attention with the softmax written as exp / sum (no max subtracted)."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, q, k, v):
        group = q.shape[1] // k.shape[1]
        k = k.repeat_interleave(group, dim=1)
        v = v.repeat_interleave(group, dim=1)
        p = torch.exp((q @ k.transpose(-1, -2)) * self.scale)
        return (p / p.sum(-1, keepdim=True)) @ v


class ScaledSoftmax(torch.nn.Module):
    def __init__(self, scale: float, naive: bool) -> None:
        super().__init__()
        self.scale, self.naive = scale, naive

    def forward(self, x):
        x = x * self.scale
        if self.naive:
            e = torch.exp(x)
            return e / e.sum(-1, keepdim=True)
        return torch.softmax(x, -1)


def _f16_text(model: torch.nn.Module, *shapes: tuple[int, ...]) -> str:
    inputs = [torch.randn(*shape).half() for shape in shapes]
    return mirage_mlir.import_torch(model, *inputs)


@pytest.mark.slow
def test_naive_fp16_gqa_passes_and_the_report_says_the_original_overflowed():
    # With inputs in [-1, 1) and D = 64 the scores reach about +-20 after the scale of 2:
    # exp overflows fp16 (above 11.09) on most rows, and their sums do.
    text = _f16_text(NaiveGQA(2.0), (1, 8, 64, 64), (1, 2, 64, 64), (1, 2, 64, 64))
    result = mirage_mlir.optimize(text, verify=True)
    (entry,) = result.report["functions"]
    assert "mirage.attention" in result.mlir and not entry["kept_input"]
    assert entry["verified"] and entry["verify_reference"] == "float64"
    assert entry["original_overflowed"] is True
    (out,) = entry["verify_outputs"]
    # Against float64 the original is wrong on most elements, the optimised program on none.
    assert out["original_nonfinite"] > out["elements"] // 2
    assert out["original_wrong"] >= out["original_nonfinite"]
    assert out["optimized_wrong"] == 0 and out["optimized_nonfinite"] == 0
    assert out["max_abs_error"] <= 2.0**-7
    assert "overflowed" in entry["verify_note"]
    assert f"wrong on {out['original_wrong']} of {out['elements']}" in entry["verify_note"]


def test_a_rewrite_that_overflows_where_the_original_did_not_fails():
    stable = _f16_text(ScaledSoftmax(20.0, naive=False), (4, 32))
    naive = _f16_text(ScaledSoftmax(20.0, naive=True), (4, 32))
    with pytest.raises(VerificationError, match=r"output #0 differs from the float64 reference.*inf or NaN"):
        verify_function(stable, parse_mlir(naive), "main")


def test_a_more_accurate_rewrite_of_an_overflowing_original_passes():
    stable = _f16_text(ScaledSoftmax(20.0, naive=False), (4, 32))
    naive = _f16_text(ScaledSoftmax(20.0, naive=True), (4, 32))
    check = verify_function(naive, parse_mlir(stable), "main")
    assert check.reference == "float64" and check.original_overflowed
    (out,) = check.outputs
    assert out.original_nonfinite > 0 and out.optimized_wrong == 0
    assert "overflowed" in check.summary()


def test_an_identical_f32_program_agrees_with_float64():
    text = mirage_mlir.import_torch(ScaledSoftmax(3.0, naive=False), torch.randn(4, 32))
    check = verify_function(text, parse_mlir(text), "main")
    assert check.reference == "float64" and not check.original_overflowed
    assert check.max_abs_error[0] < 1e-6
    assert check.summary() == "the original and the optimised function agree with float64"


# --------------------------------------------------------------------------------------------
# The float64 twin

TWIN_SOURCE = """
#map = affine_map<(d0, d1) -> (d0, d1)>
module {
  func.func @helper(%x: tensor<2x3xf16>) -> tensor<2x3xf16> {
    %c = arith.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf16>
    %e = tensor.empty() : tensor<2x3xf16>
    %r = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel"]}
        ins(%x, %c : tensor<2x3xf16>, tensor<2x3xf16>) outs(%e : tensor<2x3xf16>) {
    ^bb0(%a: f16, %b: f16, %o: f16):
      %m = arith.mulf %a, %b : f16
      linalg.yield %m : f16
    } -> tensor<2x3xf16>
    return %r : tensor<2x3xf16>
  }
  func.func @main(%x: tensor<2x3xf16>) -> tensor<2x3xf16> {
    %big = arith.constant 3.000000e+04 : f16
    %ninf = arith.constant 0xFC00 : f16
    %w = arith.constant dense_resource<w> : tensor<2x3xf16>
    %h = call @helper(%x) : (tensor<2x3xf16>) -> tensor<2x3xf16>
    %e = tensor.empty() : tensor<2x3xf16>
    %r = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel"]}
        ins(%h, %w : tensor<2x3xf16>, tensor<2x3xf16>) outs(%e : tensor<2x3xf16>) {
    ^bb0(%a: f16, %b: f16, %o: f16):
      %wide = arith.extf %a : f16 to f32
      %s = arith.truncf %wide : f32 to f16
      %t = arith.mulf %s, %big : f16
      %u = arith.addf %t, %b : f16
      %v = arith.maximumf %u, %ninf : f16
      linalg.yield %v : f16
    } -> tensor<2x3xf16>
    return %r : tensor<2x3xf16>
  }
}
{-#
  dialect_resources: {
    builtin: {
      w: "0x02000000003C00400042004400450046"
    }
  }
#-}
"""


def test_the_twin_widens_constants_casts_weights_and_calls():
    module = parse_mlir(TWIN_SOURCE)
    twins = widened_functions(module)
    assert [t.sym_name.data for t in twins] == ["helper__f64", "main__f64"]
    for twin in twins:
        module.body.block.add_op(twin)
    text = print_mlir(module)
    twin_text = text[text.index("@main__f64"):]
    assert "call @helper__f64" in twin_text
    # The f16 -> f32 -> f16 round trip is gone; the weight keeps its stored type and is
    # widened by the one extf left, where it is read.
    assert "arith.truncf" not in twin_text and twin_text.count("arith.extf") == 1
    assert "dense_resource<w> : tensor<2x3xf16>" in twin_text

    x = np.array([[1.0, -2.0, 0.5], [3.0, 0.25, -1.0]], np.float16)
    reference = run_reference(TWIN_SOURCE, "main", [x])
    weights = np.array([1, 2, 3, 4, 5, 6], np.float64).reshape(2, 3)
    expected = x.astype(np.float64) * weights * 30000.0 + weights
    np.testing.assert_array_equal(reference.exact[0], expected)
    # In fp16 the products above 65504 overflow; in the twin they do not.
    assert np.isinf(reference.original[0]).sum() == (np.abs(expected) > 65504).sum() > 0


def test_a_function_whose_meaning_depends_on_a_narrow_type_is_its_own_reference():
    text = """
    #map = affine_map<(d0) -> (d0)>
    func.func @main(%x: tensor<4xf32>) -> tensor<4xi32> {
      %e = tensor.empty() : tensor<4xi32>
      %r = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]}
          ins(%x : tensor<4xf32>) outs(%e : tensor<4xi32>) {
      ^bb0(%a: f32, %o: i32):
        %b = arith.bitcast %a : f32 to i32
        linalg.yield %b : i32
      } -> tensor<4xi32>
      return %r : tensor<4xi32>
    }
    """
    with pytest.raises(WideningError, match="bitcast"):
        widened_functions(parse_mlir(text))
    x = np.array([1.0, -2.0, 0.5, 0.0], np.float32)
    reference = run_reference(text, "main", [x])
    assert reference.exact is None and "no float64 reference" in reference.note
    np.testing.assert_array_equal(reference.original[0], x.view(np.int32))


def test_judging_counts_elementwise():
    reference = np.array([1.0, 2.0, 1e5, np.nan])
    original = np.array([np.inf, 2.0, np.inf, np.nan], np.float16)
    better = np.array([1.0, 2.0, np.inf, np.nan], np.float16)
    check = judge_output(better, original, reference, "f16", 2.0**-7, 2.0**-7)
    # 1e5 overflows fp16 itself: inf is the right fp16 answer there.
    assert (check.original_nonfinite, check.original_wrong, check.failed) == (1, 1, 0)
    worse = np.array([1.0, np.nan, np.inf, np.nan], np.float16)
    check = judge_output(worse, original, reference, "f16", 2.0**-7, 2.0**-7)
    assert check.failed == 1 and check.worst_failure == np.inf

