"""Compile-time causal masks: folded into named leaves by recognition, written back by emission.

Each function builds a [4, 4] mask from an iota generic the way torch-mlir does
(`linalg.index`, j - i, a compare) and applies it to scores; the recognised graph must hold the
mask as one causal leaf exactly when the mask is causal, evaluate to what the MLIR computes,
and re-emit (with the leaf written as index arithmetic) to a function computing the same.
The reference is the MLIR JIT (`execute_mlir`).
"""

from __future__ import annotations

import numpy as np
import pytest

from mirage_mlir import execute_mlir

from mirage_mlir.dialects.context import parse_mlir, print_mlir
from mirage_mlir.passes.emit import emit_function
from mirage_mlir.passes.eqsat.evaluate import evaluate
from mirage_mlir.passes.eqsat.language_nn import causal_form
from mirage_mlir.passes.recognize import opaque_evaluators, recognize_function

_MAPS = """
#id1 = affine_map<(d0) -> (d0)>
#row = affine_map<(d0, d1) -> (0, d1)>
#col = affine_map<(d0, d1) -> (d0, 0)>
#id2 = affine_map<(d0, d1) -> (d0, d1)>
#scalar = affine_map<(d0, d1) -> ()>
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#last2 = affine_map<(d0, d1, d2, d3) -> (d2, d3)>
#unit2 = affine_map<(d0, d1, d2, d3) -> (0, 0, d2, d3)>
#scalar4 = affine_map<(d0, d1, d2, d3) -> ()>
"""

_DIFF = """
    %e = tensor.empty() : tensor<4xi64>
    %iota = linalg.generic {indexing_maps = [#id1], iterator_types = ["parallel"]} outs(%e : tensor<4xi64>) {
    ^bb0(%out: i64):
      %i = linalg.index 0 : index
      %c = arith.index_cast %i : index to i64
      linalg.yield %c : i64
    } -> tensor<4xi64>
    %r = tensor.expand_shape %iota [[0, 1]] output_shape [1, 4] : tensor<4xi64> into tensor<1x4xi64>
    %c2 = tensor.expand_shape %iota [[0, 1]] output_shape [4, 1] : tensor<4xi64> into tensor<4x1xi64>
    %e2 = tensor.empty() : tensor<4x4xi64>
    %diff = linalg.generic {indexing_maps = [#row, #col, #id2], iterator_types = ["parallel", "parallel"]} ins(%r, %c2 : tensor<1x4xi64>, tensor<4x1xi64>) outs(%e2 : tensor<4x4xi64>) {
    ^bb0(%a: i64, %b: i64, %out: i64):
      %d = arith.subi %a, %b : i64
      linalg.yield %d : i64
    } -> tensor<4x4xi64>
    %eb = tensor.empty() : tensor<4x4xi1>
    %mask = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]} ins(%diff : tensor<4x4xi64>) outs(%eb : tensor<4x4xi1>) {
    ^bb0(%a: i64, %out: i1):
      %t = arith.cmpi PRED, %a, %cK : i64
      linalg.yield %t : i1
    } -> tensor<4x4xi1>
"""


def _masked_fill(predicate: str, bound: int) -> str:
    """where(mask, -inf, s) with mask = (j - i PRED bound), as masked_fill writes it."""
    return _MAPS + f"""
func.func @main(%s: tensor<2x3x4x4xf32>) -> tensor<2x3x4x4xf32> {{
    %cK = arith.constant {bound} : i64
    %ninf = arith.constant dense<0xFF800000> : tensor<f32>
""" + _DIFF.replace("PRED", predicate) + """
    %o = tensor.empty() : tensor<2x3x4x4xf32>
    %y = linalg.generic {indexing_maps = [#last2, #scalar4, #id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%mask, %ninf, %s : tensor<4x4xi1>, tensor<f32>, tensor<2x3x4x4xf32>) outs(%o : tensor<2x3x4x4xf32>) {
    ^bb0(%m: i1, %n: f32, %x: f32, %out: f32):
      %v = arith.select %m, %n, %x : f32
      linalg.yield %v : f32
    } -> tensor<2x3x4x4xf32>
    func.return %y : tensor<2x3x4x4xf32>
}
"""


def _additive_unit_axes() -> str:
    """s + where(j - i <= 0, 0, -inf), the mask expanded to [1, 1, 4, 4] first (SDPA's)."""
    return _MAPS + """
func.func @main(%s: tensor<2x3x4x4xf32>) -> tensor<2x3x4x4xf32> {
    %cK = arith.constant 0 : i64
    %zero = arith.constant dense<0.000000e+00> : tensor<f32>
    %ninf = arith.constant dense<0xFF800000> : tensor<f32>
""" + _DIFF.replace("PRED", "sle") + """
    %ef = tensor.empty() : tensor<4x4xf32>
    %add = linalg.generic {indexing_maps = [#id2, #scalar, #scalar, #id2], iterator_types = ["parallel", "parallel"]} ins(%mask, %zero, %ninf : tensor<4x4xi1>, tensor<f32>, tensor<f32>) outs(%ef : tensor<4x4xf32>) {
    ^bb0(%m: i1, %a: f32, %b: f32, %out: f32):
      %v = arith.select %m, %a, %b : f32
      linalg.yield %v : f32
    } -> tensor<4x4xf32>
    %u = tensor.expand_shape %add [[0, 1, 2], [3]] output_shape [1, 1, 4, 4] : tensor<4x4xf32> into tensor<1x1x4x4xf32>
    %o = tensor.empty() : tensor<2x3x4x4xf32>
    %y = linalg.generic {indexing_maps = [#id4, #unit2, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s, %u : tensor<2x3x4x4xf32>, tensor<1x1x4x4xf32>) outs(%o : tensor<2x3x4x4xf32>) {
    ^bb0(%x: f32, %m: f32, %out: f32):
      %v = arith.addf %x, %m : f32
      linalg.yield %v : f32
    } -> tensor<2x3x4x4xf32>
    func.return %y : tensor<2x3x4x4xf32>
}
"""


def _recognise(text: str):
    module = parse_mlir(text, "masks.mlir")
    main = next(op for op in module.body.block.ops if getattr(op, "sym_name", None))
    return module, recognize_function(main)


def _mask_leaves(recognized) -> list[str]:
    """Each causal mask node as "form:queries x keys"."""
    return [
        f"{causal_form(n)}:{n.shape[0]}x{n.shape[1]}"
        for n in recognized.graph.nodes()
        if causal_form(n) is not None
    ]


def _scores() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((2, 3, 4, 4)).astype(np.float32)


CASES = [
    (_masked_fill("sge", 1), "causal_future:4x4"),  # j > i: masked_fill(triu(1), -inf)
    (_masked_fill("sgt", 0), "causal_future:4x4"),
    (_additive_unit_axes(), "causal_additive:4x4"),
]


@pytest.mark.parametrize(("text", "leaf"), CASES)
def test_a_causal_mask_becomes_one_leaf_and_evaluates_as_the_mlir(text, leaf):
    _, recognized = _recognise(text)
    assert _mask_leaves(recognized) == [leaf]
    # The iota generic and its destination are no longer part of the graph.
    assert recognized.opaque_ops == {}
    scores = _scores()
    (expected,) = execute_mlir(text, scores)
    (got,) = evaluate(recognized.graph, {"arg0": scores}, opaque=opaque_evaluators(recognized))
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(
    ("predicate", "bound"),
    [("sge", 2), ("sge", 0), ("slt", -1), ("eq", 0)],  # shifted bands, the diagonal: not causal
)
def test_a_mask_that_is_not_causal_is_left_as_it_was(predicate, bound):
    text = _masked_fill(predicate, bound)
    _, recognized = _recognise(text)
    assert _mask_leaves(recognized) == []
    assert any(op.name == "linalg.generic" for op, _ in recognized.opaque_ops.values())
    scores = _scores()
    (expected,) = execute_mlir(text, scores)
    (got,) = evaluate(recognized.graph, {"arg0": scores}, opaque=opaque_evaluators(recognized))
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(("text", "leaf"), CASES)
def test_a_mask_leaf_is_emitted_as_index_arithmetic(text, leaf):
    module, recognized = _recognise(text)
    # Emit the recognised graph itself: it still reads the mask leaf.
    emit_function(recognized, recognized.graph)
    printed = print_mlir(module)
    body = printed.split("{-#")[0]
    assert body.count("linalg.index") == 2  # one generic comparing the two loop indices
    parse_mlir(printed, "emitted.mlir")  # prints to text that parses again
    scores = _scores()
    (expected,) = execute_mlir(text, scores)
    (got,) = execute_mlir(printed, scores)
    np.testing.assert_array_equal(got, expected)
