"""Every kind of the term graph means what torch means, in every float type.

The term graph's NumPy semantics (`evaluate`) is the oracle of the rule-soundness checks,
of `verify` and (through interpreters/mirage_numpy.py, which the neural-network kinds call)
of the mirage interpreter. Each kind is evaluated here on random inputs and on edge inputs
(an empty dimension, NaN and inf, values whose squares or exponentials overflow the narrow
floats, attention rows masked entirely) and compared with torch eager on the same values.

Where torch's fused op and torch's decomposed arithmetic disagree, the kind follows the
fused op it stands for: `attention` is `scaled_dot_product_attention` (a row masked
entirely gives 0), `rms_norm` is `F.rms_norm` (statistics in f32, so an f16 row of 300s
normalises to 1, not to 0 through an overflowing square).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mirage_mlir.interpreters.mirage_numpy import round_to_bfloat16
from mirage_mlir.passes.eqsat.evaluate import evaluate
from mirage_mlir.passes.eqsat.kinds.elementwise import ELEMENTWISE_NUMPY
from mirage_mlir.passes.eqsat.graph import Graph, Input, make_node
from mirage_mlir.passes.eqsat.type_rules import COMPARISONS, ELEMENTWISE_ARITY

FLOATS = ("f64", "f32", "f16", "bf16")
TORCH_DTYPES = {
    "f64": torch.float64,
    "f32": torch.float32,
    "f16": torch.float16,
    "bf16": torch.bfloat16,
}
# Relative to max(1, |torch's value|): a few units of roundoff of the type (f64 and f32
# leave room for a different summation order; the narrow types for torch rounding each
# intermediate differently from one widened computation).
TOLERANCE = {"f64": 1e-10, "f32": 2e-5, "f16": 4e-3, "bf16": 3.2e-2}


def values(shape: tuple[int, ...], dtype: str, seed: int, edge: str = "") -> np.ndarray:
    """Values exactly representable in `dtype`, held as NumPy holds that type."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    if edge == "overflow":
        x = x * 4 + 300.0  # x*x and exp(x) overflow f16; exp(x) overflows f32 and bf16
    if edge == "nonfinite" and x.size >= 3:
        flat = x.reshape(-1)
        flat[0], flat[1], flat[2] = np.nan, np.inf, -np.inf
    return representable(x, dtype)


def representable(x: np.ndarray, dtype: str) -> np.ndarray:
    """`x` rounded to `dtype` (bf16 held in float32, as the semantics hold it)."""
    if dtype == "bf16":
        return round_to_bfloat16(np.asarray(x, np.float32))
    return np.asarray(x).astype(
        {"f64": np.float64, "f32": np.float32, "f16": np.float16}[dtype]
    )


def as_torch(array: np.ndarray, dtype: str) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array)).to(TORCH_DTYPES[dtype])


def check(
    kind: str,
    attrs: tuple,
    arrays: list[np.ndarray],
    dtype: str,
    reference: Callable[..., torch.Tensor],
    tolerance_scale: float = 1.0,
) -> None:
    """The node `kind(attrs)` on `arrays` against `reference` on the same torch tensors."""
    inputs = [Input(f"x{i}", a.shape, dtype) for i, a in enumerate(arrays)]
    node = make_node(kind, attrs, inputs)
    (got,) = evaluate(
        Graph(tuple(inputs), (node,)), {f"x{i}": a for i, a in enumerate(arrays)}
    )
    want = reference(*(as_torch(a, dtype) for a in arrays))
    if not want.is_floating_point():
        np.testing.assert_array_equal(got, want.numpy())
        return
    want = want.double().numpy()
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == want.shape
    np.testing.assert_array_equal(
        np.isnan(got), np.isnan(want), err_msg="NaN positions"
    )
    finite = np.isfinite(want)
    np.testing.assert_array_equal(
        got[~finite & ~np.isnan(want)], want[~finite & ~np.isnan(want)]
    )
    scale = np.maximum(1.0, np.abs(want[finite]))
    error = np.max(np.abs(got[finite] - want[finite]) / scale, initial=0.0)
    assert (
        error <= TOLERANCE[dtype] * tolerance_scale
    ), f"{kind}{attrs} {dtype}: error {error}"


UNARY_TORCH = {
    "neg": torch.neg,
    "abs": torch.abs,
    "exp": torch.exp,
    "log": torch.log,
    "tanh": torch.tanh,
    "sqrt": torch.sqrt,
    "rsqrt": torch.rsqrt,
    "reciprocal": torch.reciprocal,
    "sigmoid": torch.sigmoid,
    "erf": torch.erf,
    "sin": torch.sin,
    "cos": torch.cos,
    "relu": torch.relu,
}
BINARY_TORCH = {
    "add": torch.add,
    "sub": torch.sub,
    "mul": torch.mul,
    "div": torch.div,
    "max": torch.maximum,
    "min": torch.minimum,
    "pow": torch.pow,
    "gt": torch.gt,
    "ge": torch.ge,
    "lt": torch.lt,
    "le": torch.le,
    "eq": torch.eq,
    "ne": torch.ne,
}


def test_every_elementwise_operation_is_tested() -> None:
    assert set(UNARY_TORCH) | set(BINARY_TORCH) | {"where"} == set(ELEMENTWISE_ARITY)
    assert set(ELEMENTWISE_NUMPY) == set(ELEMENTWISE_ARITY)


@pytest.mark.parametrize("edge", ["", "nonfinite", "overflow"])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("op", sorted(UNARY_TORCH))
def test_unary(op: str, dtype: str, edge: str) -> None:
    x = values((4, 33), dtype, 1, edge)
    if op in ("log", "sqrt", "rsqrt") and edge != "nonfinite":
        x = np.abs(x)
    check("elementwise", (op,), [x], dtype, UNARY_TORCH[op])


@pytest.mark.parametrize("edge", ["", "nonfinite", "overflow"])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("op", sorted(BINARY_TORCH))
def test_binary(op: str, dtype: str, edge: str) -> None:
    x = values((4, 33), dtype, 2, edge)
    y = values((33,), dtype, 3)  # broadcast along the rows
    if op == "pow":
        x = np.abs(x)
    if op in COMPARISONS:
        y = x[0]  # equal elements exist, so eq/ne/ge/le see both answers
    check("elementwise", (op,), [x, y], dtype, BINARY_TORCH[op])


@pytest.mark.parametrize("dtype", FLOATS)
def test_where(dtype: str) -> None:
    condition = np.random.default_rng(4).random((4, 8)) < 0.5
    a, b = values((4, 8), dtype, 5), values((8,), dtype, 6)
    inputs = [
        Input("c", condition.shape, "i1"),
        Input("a", a.shape, dtype),
        Input("b", b.shape, dtype),
    ]
    node = make_node("elementwise", ("where",), inputs)
    (got,) = evaluate(Graph(tuple(inputs), (node,)), {"c": condition, "a": a, "b": b})
    want = torch.where(
        torch.from_numpy(condition), as_torch(a, dtype), as_torch(b, dtype)
    )
    np.testing.assert_array_equal(np.asarray(got, np.float64), want.double().numpy())


@pytest.mark.parametrize("shape", [(8, 64), (0, 64), (8, 0)])
@pytest.mark.parametrize("dtype", FLOATS)
def test_matmul(dtype: str, shape: tuple[int, int]) -> None:
    a = values(shape, dtype, 7)
    b = values((shape[1], 16), dtype, 8)
    check("matmul", (), [a, b], dtype, torch.matmul)


@pytest.mark.parametrize("dtype", FLOATS)
def test_contract(dtype: str) -> None:
    a, b, c = (
        values((4, 8), dtype, 9),
        values((8, 16), dtype, 10),
        values((16, 3), dtype, 11),
    )
    spec = "ij,jk,kl->il"
    check("contract", (spec,), [a, b, c], dtype, lambda *t: torch.einsum(spec, *t))


@pytest.mark.parametrize("dtype", FLOATS)
def test_layout_kinds(dtype: str) -> None:
    x = values((2, 3, 4), dtype, 12, "nonfinite")
    check("transpose", ((2, 0, 1),), [x], dtype, lambda t: t.permute(2, 0, 1))
    check("reshape", ((6, 4),), [x], dtype, lambda t: t.reshape(6, 4))
    check("broadcast", ((5, 2, 3, 4),), [x], dtype, lambda t: t.expand(5, 2, 3, 4))
    check("concat", (1,), [x, x], dtype, lambda a, b: torch.cat([a, b], 1))
    check(
        "slice",
        ((0, 1, 0), (2, 1, 2), (1, 1, 2)),
        [x],
        dtype,
        lambda t: t[:, 1:2, 0::2],
    )
    check("scale", (0.125,), [x], dtype, lambda t: t * 0.125)


@pytest.mark.parametrize("target", FLOATS)
@pytest.mark.parametrize("dtype", FLOATS)
def test_cast(dtype: str, target: str) -> None:
    x = values((4, 16), "f64", 13, "overflow")
    x[0] = values((16,), "f64", 14, "nonfinite")
    x[1] = values((16,), "f64", 15) * 1e-5  # subnormal in f16
    x[2] = values((16,), "f64", 15) * 1e5  # past f16's range
    x = representable(x, dtype)
    check("cast", (target,), [x], dtype, lambda t: t.to(TORCH_DTYPES[target]), 0.0)


@pytest.mark.parametrize("edge", ["", "nonfinite", "overflow", "empty"])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("op", ["sum", "mean", "max", "min"])
def test_reduce(op: str, dtype: str, edge: str) -> None:
    x = values((4, 0 if edge == "empty" else 256), dtype, 16, edge)
    if edge == "empty" and op in ("max", "min"):
        # torch refuses a max over nothing; linalg's is the identity of the combiner.
        (got,) = evaluate(
            Graph(
                (i := Input("x", x.shape, dtype),),
                (make_node("reduce", (op, (1,), False), [i]),),
            ),
            {"x": x},
        )
        assert np.all(got == (-np.inf if op == "max" else np.inf))
        return
    torch_op = {
        "sum": torch.sum,
        "mean": torch.mean,
        "max": torch.amax,
        "min": torch.amin,
    }[op]
    check(
        "reduce", (op, (1,), True), [x], dtype, lambda t: torch_op(t, 1, keepdim=True)
    )


@pytest.mark.parametrize("edge", ["", "nonfinite", "overflow", "empty", "masked"])
@pytest.mark.parametrize("dtype", FLOATS)
def test_softmax(dtype: str, edge: str) -> None:
    x = values(
        (4, 0 if edge == "empty" else 32), dtype, 17, "" if edge == "masked" else edge
    )
    if edge == "masked":
        x[1] = -np.inf  # torch's softmax of a row of -inf is NaN
    check("softmax", (1,), [x], dtype, lambda t: torch.softmax(t, 1))


ATTENTION_CASES = {
    # name: (q shape, kv shape, causal, mask)
    "plain": ((2, 16, 8), (2, 24, 8), False, None),
    "heads": ((1, 4, 16, 8), (1, 4, 24, 8), False, None),
    "gqa": ((2, 4, 16, 8), (2, 2, 24, 8), False, None),
    "causal": ((1, 4, 16, 8), (1, 2, 16, 8), True, None),
    "mask": ((1, 2, 16, 8), (1, 2, 24, 8), False, "random"),
    "masked_row": ((1, 2, 16, 8), (1, 2, 24, 8), False, "row"),
    "no_keys": ((1, 2, 16, 8), (1, 2, 0, 8), False, None),
    "batch_dims": ((2, 3, 2, 8, 8), (2, 3, 1, 8, 8), False, None),
}


@pytest.mark.parametrize("edge", ["", "overflow"])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", sorted(ATTENTION_CASES))
def test_attention(case: str, dtype: str, edge: str) -> None:
    q_shape, kv_shape, causal, mask_kind = ATTENTION_CASES[case]
    q = values(q_shape, dtype, 18, edge)
    k, v = values(kv_shape, dtype, 19), values(kv_shape, dtype, 20)
    scale = 1.0 / np.sqrt(q_shape[-1])
    arrays = [q, k, v]
    if mask_kind is not None:
        mask = values(q_shape[:-1] + (kv_shape[-2],), dtype, 21)
        if mask_kind == "row":
            mask[..., 3, :] = -np.inf
        arrays.append(mask)

    def sdpa(qt, kt, vt, mt=None):
        group = qt.shape[-3] // kt.shape[-3] if qt.dim() >= 4 else 1
        kt, vt = kt.repeat_interleave(group, -3), vt.repeat_interleave(group, -3)
        if vt.shape[-2] == 0:
            return torch.zeros(qt.shape[:-1] + vt.shape[-1:], dtype=qt.dtype)
        return F.scaled_dot_product_attention(
            qt, kt, vt, attn_mask=mt, is_causal=causal, scale=scale
        )

    check("attention", (scale, causal), arrays, dtype, sdpa, 2.0)


@pytest.mark.parametrize("edge", ["", "nonfinite", "overflow"])
@pytest.mark.parametrize("dtype", FLOATS)
def test_rms_norm(dtype: str, edge: str) -> None:
    x, w = values((4, 64), dtype, 22, edge), values((64,), dtype, 23)
    check(
        "rms_norm", (1e-6,), [x, w], dtype, lambda t, u: F.rms_norm(t, (64,), u, 1e-6)
    )


@pytest.mark.parametrize("edge", ["", "nonfinite", "overflow"])
@pytest.mark.parametrize("dtype", FLOATS)
def test_layer_norm(dtype: str, edge: str) -> None:
    x, w, b = (
        values((4, 64), dtype, 24, edge),
        values((64,), dtype, 25),
        values((64,), dtype, 26),
    )
    # torch's CPU kernel computes x * rstd - mean * rstd: about 1e-3 of cancellation at 300.
    scale = 40.0 if edge == "overflow" and dtype != "f64" else 1.0
    check(
        "layer_norm",
        (1e-5,),
        [x, w, b],
        dtype,
        lambda t, u, c: F.layer_norm(t, (64,), u, c, 1e-5),
        scale,
    )


@pytest.mark.parametrize("edge", ["", "overflow"])
@pytest.mark.parametrize("dtype", FLOATS)
def test_batch_norm(dtype: str, edge: str) -> None:
    x, g, b = (
        values((16, 8), dtype, 27, edge),
        values((8,), dtype, 28),
        values((8,), dtype, 29),
    )

    def torch_batch_norm(t, gamma, beta):
        return F.batch_norm(t, None, None, gamma, beta, training=True, eps=1e-5)

    scale = 40.0 if edge == "overflow" and dtype != "f64" else 1.0
    check("batch_norm", (1e-5,), [x, g, b], dtype, torch_batch_norm, scale)


def test_fully_masked_attention_row_is_zero_as_in_torch() -> None:
    """Regression: one oracle gave NaN here and the other 0; torch's SDPA gives 0."""
    q, k, v = (
        values((1, 4, 8), "f32", 30),
        values((1, 6, 8), "f32", 31),
        values((1, 6, 8), "f32", 32),
    )
    mask = np.zeros((1, 4, 6), np.float32)
    mask[0, 2] = -np.inf
    inputs = [Input(n, a.shape, "f32") for n, a in zip("qkvm", (q, k, v, mask))]
    graph = Graph(tuple(inputs), (make_node("attention", (0.5, False), inputs),))
    (got,) = evaluate(graph, dict(zip("qkvm", (q, k, v, mask))))
    assert np.all(got[0, 2] == 0.0) and np.all(np.isfinite(got))


def test_f16_rms_norm_of_300s_is_one_as_in_torch() -> None:
    """Regression: one oracle squared in f16 (90000 overflows to inf, so 0) and the other gave 1."""
    x, w = np.full((2, 8), 300, np.float16), np.ones(8, np.float16)
    inputs = [Input("x", x.shape, "f16"), Input("w", w.shape, "f16")]
    graph = Graph(tuple(inputs), (make_node("rms_norm", (1e-6,), inputs),))
    (got,) = evaluate(graph, {"x": x, "w": w})
    want = F.rms_norm(torch.from_numpy(x), (8,), torch.from_numpy(w), 1e-6).numpy()
    np.testing.assert_array_equal(got, want)
    assert np.all(got == 1.0)


def test_a_0d_bf16_value_keeps_its_shape() -> None:
    """Regression: rounding to bf16 made 0-d values 1-d, so every bf16 graph with a scalar
    constant failed to evaluate (and bf16 causal masks were no longer recognised)."""
    node = make_node("full", (-np.inf, (), "bf16"), [])
    (got,) = evaluate(Graph((), (node,)), {})
    assert got.shape == () and got == -np.inf
    assert round_to_bfloat16(np.float32(1.00390625)).shape == ()
