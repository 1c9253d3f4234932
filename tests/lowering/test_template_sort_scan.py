"""`tm_tensor.sort` and `tm_tensor.scan` kernels against the CPU runtime's torch forms.

The reference is `driver.torch_tm_tensor` (the semantics the project uses):
each op of the module is run by its torch builder on the same inputs, and
the lowered plan, run in the tt interpreter, must give the same tensors,
ties, NaN and -0.0 included.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mirage_mlir.dialects.context import parse_mlir
from mirage_mlir.driver.torch_tm_tensor import TM_TENSOR_BUILDERS
from mirage_mlir.lowering.program import lower_module, run_plan_interpreted


def _sort_module(shape: str, dim: int, compare: str, element: str = "f32") -> str:
    return f"""
func.func @main(%v: tensor<{shape}x{element}>, %i: tensor<{shape}xi64>)
    -> (tensor<{shape}x{element}>, tensor<{shape}xi64>) {{
  %s:2 = tm_tensor.sort dimension({dim}) outs(%v, %i : tensor<{shape}x{element}>, tensor<{shape}xi64>) {{
  ^bb0(%a: {element}, %b: {element}, %c: i64, %d: i64):
    %p = {compare} : {element}
    tm_tensor.yield %p : i1
  }} -> tensor<{shape}x{element}>, tensor<{shape}xi64>
  func.return %s#0, %s#1 : tensor<{shape}x{element}>, tensor<{shape}xi64>
}}
"""


def _scan_module(
    shape: str, acc: str, dim: int, inclusive: bool, combine: str, element: str
) -> str:
    return f"""
func.func @main(%x: tensor<{shape}x{element}>, %init: tensor<{acc}x{element}>)
    -> (tensor<{shape}x{element}>, tensor<{acc}x{element}>) {{
  %e = tensor.empty() : tensor<{shape}x{element}>
  %s:2 = tm_tensor.scan dimension({dim}) inclusive({str(inclusive).lower()})
      ins(%x : tensor<{shape}x{element}>) outs(%e, %init : tensor<{shape}x{element}>, tensor<{acc}x{element}>) {{
  ^bb0(%a: {element}, %b: {element}):
    %r = {combine} %a, %b : {element}
    tm_tensor.yield %r : {element}
  }} -> tensor<{shape}x{element}>, tensor<{acc}x{element}>
  func.return %s#0, %s#1 : tensor<{shape}x{element}>, tensor<{acc}x{element}>
}}
"""


def _reference(text: str, *inputs: np.ndarray) -> list[np.ndarray]:
    """The module's tm_tensor op run by the CPU runtime's torch builder."""
    module = parse_mlir(text)
    (op,) = [o for o in module.walk() if o.name in TM_TENSOR_BUILDERS]
    run, operands = TM_TENSOR_BUILDERS[op.name](op, {})
    args = list(module.walk())[1].body.block.args
    tensors = {
        a: torch.from_numpy(np.ascontiguousarray(x)) for a, x in zip(args, inputs)
    }
    for operand in operands:
        if operand not in tensors:  # a scan's tensor.empty out
            tensors[operand] = torch.zeros(
                tuple(operand.type.get_shape()), dtype=torch.int64
            )
    return [t.numpy() for t in run(*(tensors[v] for v in operands))]


def _check(text: str, *inputs: np.ndarray) -> None:
    got = run_plan_interpreted(lower_module(text), *inputs)
    for out, expected in zip(got, _reference(text, *inputs)):
        np.testing.assert_array_equal(out, expected)
        if out.dtype.kind == "f":  # -0.0 and 0.0 compare equal; their places must not
            np.testing.assert_array_equal(np.signbit(out), np.signbit(expected))


def _router_logits(rows: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.choice(
        np.array([0.5, -1.0, 2.0, 0.0, -0.0, np.nan, 0.25], np.float32), (rows, n)
    )
    values[0] = 1.0  # a row of ties
    values[1, : n // 2] = np.nan
    return values


def _iota(shape: tuple[int, ...], dim: int) -> np.ndarray:
    return np.ascontiguousarray(np.indices(shape)[dim].astype(np.int64))


def test_router_topk_sort_matches_the_runtime():
    # Mixtral's router: 16 tokens x 4 experts, descending (cmpf oge), with the expert ids.
    text = _sort_module("16x4", 1, "arith.cmpf oge, %a, %b")
    _check(text, _router_logits(16, 4, 0), _iota((16, 4), 1))


@pytest.mark.parametrize(
    "shape, dim, compare",
    [
        ((6, 7), 1, "arith.cmpf olt, %a, %b"),  # ascending, a length that is not 2**k
        ((6, 7), 1, "arith.cmpf olt, %b, %a"),  # the swapped comparator: descending
        ((5, 3), 0, "arith.cmpf ogt, %a, %b"),  # along the first dimension
        ((2, 9, 3), 1, "arith.cmpf ole, %a, %b"),
        ((4, 128), 1, "arith.cmpf oge, %a, %b"),  # the longest line
    ],
)
def test_float_sorts_match_the_runtime(shape, dim, compare):
    text = _sort_module("x".join(map(str, shape)), dim, compare)
    values = _router_logits(int(np.prod(shape)) // shape[-1], shape[-1], 1).reshape(
        shape
    )
    _check(text, values, _iota(shape, dim))


def test_integer_sort_matches_the_runtime():
    text = _sort_module("3x8", 1, "arith.cmpi sgt, %a, %b", element="i64")
    values = np.random.default_rng(2).integers(-3, 3, (3, 8)).astype(np.int64)
    values[0, 0] = np.iinfo(np.int64).min
    _check(text, values, _iota((3, 8), 1))


def test_a_line_longer_than_the_sort_tile_is_a_located_error():
    with pytest.raises(Exception, match=r"at most 128") as caught:
        lower_module(_sort_module("2x129", 1, "arith.cmpf oge, %a, %b"))
    assert str(caught.value).startswith("<string>:")


@pytest.mark.parametrize(
    "shape, acc, dim, inclusive, combine, element",
    [
        ("1x16", "1", 1, True, "arith.addi", "i64"),  # an attention-mask cumsum
        ("3x16", "3", 1, False, "arith.addi", "i64"),
        ("4x5x6", "4x6", 1, True, "arith.addf", "f32"),
        ("4x5x6", "4x6", 1, False, "arith.addf", "f32"),
        ("7x3", "3", 0, False, "arith.mulf", "f32"),
        ("2x33", "2", 1, True, "arith.maximumf", "f32"),
        ("2x33", "2", 1, True, "arith.minsi", "i64"),
    ],
)
def test_scans_match_the_runtime(shape, acc, dim, inclusive, combine, element):
    text = _scan_module(shape, acc, dim, inclusive, combine, element)
    rng = np.random.default_rng(3)
    dims = tuple(int(s) for s in shape.split("x"))
    acc_dims = tuple(int(s) for s in acc.split("x"))
    if element == "i64":
        x = rng.integers(-5, 6, dims).astype(np.int64)
        init = rng.integers(-5, 6, acc_dims).astype(np.int64)
    else:
        x = rng.uniform(0.5, 1.5, dims).astype(np.float32)
        init = rng.uniform(-1, 1, acc_dims).astype(np.float32)
    got = run_plan_interpreted(lower_module(text), x, init)
    for out, expected in zip(got, _reference(text, x, init)):
        np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_an_exclusive_scan_from_a_constant_init_reads_no_init_buffer():
    text = (
        _scan_module("2x8", "2", 1, False, "arith.addi", "i64")
        .replace(", %init: tensor<2xi64>)", ")")
        .replace(
            "  %e = tensor.empty()",
            "  %z = arith.constant 0 : i64\n  %e0 = tensor.empty() : tensor<2xi64>\n"
            "  %init = linalg.fill ins(%z : i64) outs(%e0 : tensor<2xi64>) -> tensor<2xi64>\n"
            "  %e = tensor.empty()",
        )
    )
    lowered = lower_module(text)
    (launch,) = lowered.launches()
    assert len(launch.ins) == 1
    x = np.arange(16, dtype=np.int64).reshape(2, 8)
    out, last = run_plan_interpreted(lowered, x)
    expected = np.concatenate([np.zeros((2, 1), np.int64), np.cumsum(x, 1)[:, :-1]], 1)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(last, expected[:, -1])


def test_an_unknown_scan_combiner_is_a_located_error():
    text = _scan_module("2x8", "2", 1, True, "arith.subi", "i64")
    with pytest.raises(Exception, match="tm_tensor.scan combining by arith.subi"):
        lower_module(text)


@pytest.mark.slow
@pytest.mark.parametrize(
    "text",
    [
        _sort_module("16x4", 1, "arith.cmpf oge, %a, %b"),
        _sort_module("4x128", 1, "arith.cmpi slt, %a, %b", element="i64"),
        _scan_module("1x16", "1", 1, True, "arith.addi", "i64"),
        _scan_module("4x5x6", "4x6", 1, False, "arith.addf", "f32"),
    ],
)
def test_sort_and_scan_kernels_compile_for_sm90(text, triton_cache):
    pytest.importorskip("triton")
    from mirage_mlir.lowering.staging import TritonOptions, compile_ttir

    ((name, ttir),) = lower_module(text).kernels
    assert compile_ttir(ttir, TritonOptions(arch=90)).name == name


# Triton's own TTIR for `tl.device_assert(x >= 0 | masked)` then `tl.cumsum(x, 0)`.
_TRITON_SCAN_ASSERT = """
module {
  tt.func public @k(%x: !tt.ptr<i64>, %y: !tt.ptr<i64>) {
    %cst = arith.constant dense<0> : tensor<16xi64>
    %n = arith.constant dense<10> : tensor<16xi32>
    %o = tt.make_range {end = 16 : i32, start = 0 : i32} : tensor<16xi32>
    %m = arith.cmpi slt, %o, %n : tensor<16xi32>
    %p = tt.splat %x : !tt.ptr<i64> -> tensor<16x!tt.ptr<i64>>
    %q = tt.addptr %p, %o : tensor<16x!tt.ptr<i64>>, tensor<16xi32>
    %v = tt.load %q, %m, %cst : tensor<16x!tt.ptr<i64>>
    %ok = arith.cmpi sge, %v, %cst : tensor<16xi64>
    %out = arith.cmpi sge, %o, %n : tensor<16xi32>
    %c = arith.ori %ok, %out : tensor<16xi1>
    tt.assert %c, "x must not be negative" : tensor<16xi1>
    %r = "tt.scan"(%v) <{axis = 0 : i32, reverse = false}> ({
    ^bb0(%a: i64, %b: i64):
      %s = arith.addi %a, %b : i64
      tt.scan.return %s : i64
    }) : (tensor<16xi64>) -> tensor<16xi64>
    %w = tt.splat %y : !tt.ptr<i64> -> tensor<16x!tt.ptr<i64>>
    %z = tt.addptr %w, %o : tensor<16x!tt.ptr<i64>>, tensor<16xi32>
    tt.store %z, %r, %m : tensor<16x!tt.ptr<i64>>
    tt.return
  }
}
"""


def test_tritons_scan_and_assert_parse_and_run():
    from xdsl.interpreter import InterpretationError

    from mirage_mlir.interpreters.tt import run_kernel
    from mirage_mlir.lowering.ttir import parse_ttir

    module = parse_ttir(_TRITON_SCAN_ASSERT)
    x = np.arange(10, dtype=np.int64) - 2
    x[:2] = 7
    y = np.zeros(10, dtype=np.int64)
    run_kernel(module, (1,), x, y)
    np.testing.assert_array_equal(y, np.cumsum(x))
    x[4] = -1
    with pytest.raises(InterpretationError, match="x must not be negative"):
        run_kernel(module, (1,), x, y)
