"""Each mirage op's linalg lowering computes what its reference semantics say.

Every case is a small hand-written function of mirage ops. It runs twice: through the NumPy
reference semantics (`interpreters.mirage`, the oracle), and, after `convert-mirage-to-linalg`,
through upstream MLIR's CPU JIT (`execute_mlir`; bf16 functions through the f32 boundary
wrapper of `passes/emit/verify.py`). The lowered text must hold no mirage op and parse with
MLIR's own parser. Results agree within a few units in the last place of the result type:
both sides compute narrow types in f32 and round once, so only the order of the f32 sums and
libm's exp differ.
"""

from __future__ import annotations

import numpy as np
import pytest
from xdsl.dialects import func

from mirage_mlir.dialects.context import parse_mlir, print_mlir
from mirage_mlir.passes.convert_mirage_to_linalg import convert_module
from mirage_mlir.passes.emit.verify import random_arguments, run_original, run_with_weights

# Seconds per case: run by `make test`, left out of `make test-fast`.
pytestmark = pytest.mark.slow

pytest.importorskip("torch_mlir")

#: (rtol, atol) against the reference, by the result's element type.
TOLERANCES = {"f64": 1e-12, "f32": 2e-5, "f16": 2.0**-9, "bf16": 2.0**-6}


def _fn(text: str, name: str) -> func.FuncOp:
    module = parse_mlir(text)
    return next(
        op for op in module.walk() if isinstance(op, func.FuncOp) and op.sym_name.data == name
    )


def mlir_parses(text: str) -> None:
    """Parse `text` with MLIR's own parser (raises with MLIR's diagnostics if it fails)."""
    from torch_mlir import ir

    with ir.Context():
        ir.Module.parse(text)


def lower_text(text: str) -> str:
    """`text` through convert-mirage-to-linalg, verified and printed."""
    module = parse_mlir(text)
    convert_module(module)
    module.verify()
    return print_mlir(module)


def check(text: str, name: str = "main", arrays: list[np.ndarray] | None = None, seed: int = 0):
    """Lower `text` and compare @name's lowered JIT run with the reference semantics."""
    fn = _fn(text, name)
    if arrays is None:
        arrays = random_arguments(fn, seed)
    expected = run_with_weights(parse_mlir(text), name, [a.copy() for a in arrays])
    lowered = lower_text(text)
    assert "mirage." not in lowered
    mlir_parses(lowered)
    got = run_original(lowered, name, [a.copy() for a in arrays])
    assert len(got) == len(expected)
    for index, (g, e, out_type) in enumerate(zip(got, expected, fn.function_type.outputs.data)):
        dtype = str(out_type.get_element_type())
        tol = TOLERANCES[dtype]
        np.testing.assert_allclose(
            np.asarray(g, np.float64),
            np.asarray(e, np.float64),
            rtol=tol,
            atol=tol,
            err_msg=f"@{name} output #{index} ({dtype})",
        )
    return lowered, got


def _function(signature: str, body: str, results: str, name: str = "main") -> str:
    return f"func.func @{name}({signature}) -> {results} {{\n{body}\n}}\n"


# -- matmul --------------------------------------------------------------------------

MATMULS = {
    "2d": ("tensor<5x7xT>", "tensor<7x3xT>", "", "tensor<5x3xT>"),
    "batch": ("tensor<2x5x7xT>", "tensor<2x7x3xT>", "", "tensor<2x5x3xT>"),
    "broadcast_rank": ("tensor<4x5x7xT>", "tensor<7x3xT>", "", "tensor<4x5x3xT>"),
    "broadcast_unit": ("tensor<2x1x5x7xT>", "tensor<3x7x4xT>", "", "tensor<2x3x5x4xT>"),
    "transpose_lhs": ("tensor<2x7x5xT>", "tensor<2x7x3xT>", " transpose_lhs", "tensor<2x5x3xT>"),
    "transpose_rhs": (
        "tensor<3x2x5x7xT>",
        "tensor<2x3x7xT>",
        " transpose_rhs",
        "tensor<3x2x5x3xT>",
    ),
    "transpose_both": (
        "tensor<7x5xT>",
        "tensor<3x7xT>",
        " transpose_lhs transpose_rhs",
        "tensor<5x3xT>",
    ),
}


MATMUL_CASES = [(case, "f32") for case in sorted(MATMULS)] + [
    (case, dtype) for case in ("2d", "transpose_rhs") for dtype in ("f16", "bf16", "f64")
]


@pytest.mark.parametrize("case, dtype", MATMUL_CASES)
def test_matmul(case, dtype):
    a, b, flags, out = (t.replace("T", dtype) for t in MATMULS[case])
    body = f"  %c = mirage.matmul %a, %b{flags} : {a}, {b} -> {out}\n  func.return %c : {out}"
    lowered, _ = check(_function(f"%a: {a}, %b: {b}", body, out))
    if dtype in ("f16", "bf16"):
        # Products accumulate in f32 and are rounded once.
        assert "xf32>" in lowered and "arith.truncf" in lowered


# -- softmax -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, axis, dtype",
    [
        ("4x9", -1, "f32"),
        ("4x9", 0, "f32"),
        ("2x5x6", 1, "f32"),
        ("3x8", -1, "f16"),
        ("3x8", -1, "bf16"),
        ("3x8", 1, "f64"),
    ],
)
def test_softmax(shape, axis, dtype):
    t = f"tensor<{shape}x{dtype}>"
    body = f"  %y = mirage.softmax %x axis = {axis} : {t}\n  func.return %y : {t}"
    check(_function(f"%x: {t}", body, t))


def test_softmax_is_stable_for_large_inputs():
    t = "tensor<4x16xf32>"
    text = _function(
        f"%x: {t}", f"  %y = mirage.softmax %x axis = -1 : {t}\n  func.return %y : {t}", t
    )
    x = np.random.default_rng(1).uniform(990.0, 1010.0, (4, 16)).astype(np.float32)
    _, (y,) = check(text, arrays=[x])
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-5)


# -- norms ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16"])
def test_rms_norm(dtype):
    x, w = f"tensor<2x3x16x{dtype}>", f"tensor<16x{dtype}>"
    body = f"  %y = mirage.rms_norm %x, %w eps 1.0e-06 : {x}, {w}\n  func.return %y : {x}"
    check(_function(f"%x: {x}, %w: {w}", body, x))


@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16"])
def test_layer_norm(dtype):
    x, w = f"tensor<5x12x{dtype}>", f"tensor<12x{dtype}>"
    body = f"  %y = mirage.layer_norm %x, %w, %b eps 1.0e-05 : {x}, {w}\n  func.return %y : {x}"
    check(_function(f"%x: {x}, %w: {w}, %b: {w}", body, x))


@pytest.mark.parametrize("shape, dtype", [("16x3", "f32"), ("4x3x2x5", "f32"), ("6x4x3", "f16")])
def test_batch_norm_with_running_statistics(shape, dtype):
    channels = shape.split("x")[1]
    x, c = f"tensor<{shape}x{dtype}>", f"tensor<{channels}x{dtype}>"
    body = (
        f"  %y, %m, %v = mirage.batch_norm %x, %g, %b, %rm, %rv eps 1.0e-05 momentum 1.0e-01"
        f" : {x}, {c}\n  func.return %y, %m, %v : {x}, {c}, {c}"
    )
    check(_function(f"%x: {x}, %g: {c}, %b: {c}, %rm: {c}, %rv: {c}", body, f"({x}, {c}, {c})"))


def test_batch_norm_unused_statistics_are_not_computed():
    x, c = "tensor<8x4xf32>", "tensor<4xf32>"
    body = (
        f"  %y, %m, %v = mirage.batch_norm %x, %g, %b, %rm, %rv eps 1.0e-05 momentum 1.0e-01"
        f" : {x}, {c}\n  func.return %y : {x}"
    )
    lowered, _ = check(_function(f"%x: {x}, %g: {c}, %b: {c}, %rm: {c}, %rv: {c}", body, x))
    # Sum, squared deviations, channel scale, output: no generic reads the running stats.
    assert lowered.count("linalg.generic") == 4


# -- attention -----------------------------------------------------------------------


def _attention(q, k, v, out, flags="", mask=None, dtype="f32", scale="0.35"):
    types = [f"tensor<{s}x{dtype}>" for s in (q, k, v)]
    signature = ", ".join(f"%{n}: {t}" for n, t in zip("qkv", types))
    operands, type_list = "%q, %k, %v", ", ".join(types)
    if mask is not None:
        mask_type = f"tensor<{mask}x{dtype}>"
        signature += f", %m: {mask_type}"
        operands += " mask %m"
        type_list += f", {mask_type}"
    result = f"tensor<{out}x{dtype}>"
    body = (
        f"  %o = mirage.attention {operands} scale {scale}{flags} : {type_list} -> {result}\n"
        f"  func.return %o : {result}"
    )
    return _function(signature, body, result)


ATTENTION = {
    "single_head": ("2x5x8", "2x7x8", "2x7x3", "2x5x3", "", None),
    "heads": ("2x3x5x8", "2x3x7x8", "2x3x7x4", "2x3x5x4", "", None),
    "gqa": ("1x4x6x8", "1x2x6x8", "1x2x6x8", "1x4x6x8", "", None),
    "causal": ("1x2x6x8", "1x2x6x8", "1x2x6x8", "1x2x6x8", " causal", None),
    "causal_more_queries": ("1x2x7x4", "1x2x5x4", "1x2x5x4", "1x2x7x4", " causal", None),
    "causal_more_keys": ("1x2x4x4", "1x2x7x4", "1x2x7x4", "1x2x4x4", " causal", None),
    "causal_gqa": ("2x6x5x4", "2x2x5x4", "2x2x5x4", "2x6x5x4", " causal", None),
    "mask_2d": ("2x2x5x4", "2x2x6x4", "2x2x6x4", "2x2x5x4", "", "5x6"),
    "mask_full": ("2x4x5x4", "2x2x6x4", "2x2x6x4", "2x4x5x4", "", "2x4x5x6"),
    "mask_broadcast_heads": ("2x4x5x4", "2x4x6x4", "2x4x6x4", "2x4x5x4", "", "2x1x5x6"),
    "mask_and_causal": ("1x2x5x4", "1x2x5x4", "1x2x5x4", "1x2x5x4", " causal", "5x5"),
    "mask_single_head": ("3x4x8", "3x6x8", "3x6x8", "3x4x8", "", "3x4x6"),
    # No keys: every row is zero (the reference's product over no keys).
    "no_keys": ("1x2x4x8", "1x2x0x8", "1x2x0x3", "1x2x4x3", " causal", None),
}


@pytest.mark.parametrize("case", sorted(ATTENTION))
def test_attention(case):
    q, k, v, out, flags, mask = ATTENTION[case]
    lowered, _ = check(_attention(q, k, v, out, flags, mask))
    if "gqa" in case:
        assert "floordiv" in lowered  # KV heads read by index, not repeated
    if "causal" in case:
        assert "linalg.index" in lowered


@pytest.mark.parametrize("dtype", ["f16", "bf16", "f64"])
@pytest.mark.parametrize("flags", ["", " causal"])
def test_attention_in_other_types(dtype, flags):
    text = _attention("1x4x6x8", "1x2x6x8", "1x2x6x8", "1x4x6x8", flags, "6x6", dtype)
    lowered, _ = check(text)
    if dtype != "f64":
        assert "arith.extf" in lowered and "arith.truncf" in lowered


def test_attention_rows_hidden_by_the_mask_are_zero():
    text = _attention("1x2x4x8", "1x2x5x8", "1x2x5x8", "1x2x4x8", "", "4x5")
    rng = np.random.default_rng(3)
    q, k, v = (
        rng.uniform(-1, 1, s).astype(np.float32) for s in [(1, 2, 4, 8), (1, 2, 5, 8), (1, 2, 5, 8)]
    )
    mask = np.zeros((4, 5), np.float32)
    mask[1, :] = -np.inf  # every key hidden from query 1
    mask[2, 3:] = -np.inf
    _, (out,) = check(text, arrays=[q, k, v, mask])
    assert np.isfinite(out).all()
    assert (out[:, :, 1] == 0.0).all()


def test_attention_large_scores_stay_finite():
    text = _attention("1x1x4x8", "1x1x6x8", "1x1x6x8", "1x1x4x8", " causal", scale="100.0")
    rng = np.random.default_rng(4)
    arrays = [
        rng.uniform(-10, 10, s).astype(np.float32)
        for s in [(1, 1, 4, 8), (1, 1, 6, 8), (1, 1, 6, 8)]
    ]
    _, (out,) = check(text, arrays=arrays)
    assert np.isfinite(out).all()


# -- concat and slice ----------------------------------------------------------------


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat(axis):
    a, b, c = "tensor<3x4xf32>", "tensor<3x4xf32>", "tensor<3x4xf32>"
    out = "tensor<9x4xf32>" if axis == 0 else "tensor<3x12xf32>"
    body = f"  %y = mirage.concat %a, %b, %c axis = {axis} : {a}, {b}, {c} -> {out}\n  func.return %y : {out}"
    check(_function(f"%a: {a}, %b: {b}, %c: {c}", body, out))


def test_concat_of_different_widths_in_bf16():
    a, b, out = "tensor<2x3xbf16>", "tensor<2x5xbf16>", "tensor<2x8xbf16>"
    body = f"  %y = mirage.concat %a, %b axis = 1 : {a}, {b} -> {out}\n  func.return %y : {out}"
    check(_function(f"%a: {a}, %b: {b}", body, out))


@pytest.mark.parametrize(
    "offsets, sizes, strides, out",
    [
        ("[1, 2]", "[3, 4]", "[1, 1]", "3x4"),
        ("[0, 1]", "[3, 3]", "[2, 3]", "3x3"),
        ("[5, 0]", "[1, 9]", "[1, 1]", "1x9"),
    ],
)
def test_slice(offsets, sizes, strides, out):
    src, res = "tensor<6x9xf32>", f"tensor<{out}xf32>"
    body = f"  %y = mirage.slice %x{offsets} {sizes} {strides} : {src} to {res}\n  func.return %y : {res}"
    check(_function(f"%x: {src}", body, res))


# -- kernels -------------------------------------------------------------------------

KERNEL = """
func.func @main(%x: tensor<4x16xf32>, %w: tensor<16xf32>, %m: tensor<16x8xf32>) -> (tensor<4x8xf32>, tensor<4x16xf32>, tensor<16xf32>) {
  %y, %n = mirage.kernel (%x, %w, %m) : (tensor<4x16xf32>, tensor<16xf32>, tensor<16x8xf32>) -> (tensor<4x8xf32>, tensor<4x16xf32>) attributes {template = "row_reduction"} {
  ^bb0(%a: tensor<4x16xf32>, %b: tensor<16xf32>, %c: tensor<16x8xf32>):
    %r = mirage.rms_norm %a, %b eps 1.0e-06 : tensor<4x16xf32>, tensor<16xf32>
    %p = mirage.matmul %r, %c : tensor<4x16xf32>, tensor<16x8xf32> -> tensor<4x8xf32>
    %s = mirage.softmax %p axis = -1 : tensor<4x8xf32>
    mirage.yield %s, %r : tensor<4x8xf32>, tensor<4x16xf32>
  }
  %same = mirage.kernel (%w) : (tensor<16xf32>) -> tensor<16xf32> {
  ^bb0(%a: tensor<16xf32>):
    mirage.yield %a : tensor<16xf32>
  }
  func.return %y, %n, %same : tensor<4x8xf32>, tensor<4x16xf32>, tensor<16xf32>
}
"""


def test_kernels_are_inlined():
    lowered, (_, _, same) = check(KERNEL)
    assert "template" not in lowered
    assert "linalg.matmul" in lowered


def test_every_mirage_op_has_a_lowering():
    from mirage_mlir.dialects.mirage import Mirage
    from mirage_mlir.passes.to_linalg import LOWERINGS
    from mirage_mlir.dialects import mirage

    # mirage.yield is consumed by its kernel's lowering.
    assert set(Mirage.operations) - {mirage.YieldOp} <= set(LOWERINGS)


def test_dynamic_shapes_are_a_diagnostic():
    from xdsl.utils.exceptions import DiagnosticException

    t = "tensor<?x8xf32>"
    text = _function(
        f"%x: {t}", f"  %y = mirage.softmax %x axis = -1 : {t}\n  func.return %y : {t}", t
    )
    with pytest.raises(
        DiagnosticException, match="mirage.softmax: cannot lower a tensor of dynamic shape"
    ):
        lower_text(text)
