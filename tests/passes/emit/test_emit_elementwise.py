"""Emission of pointwise and reducing nodes: full, scale, elementwise, cast, reduce."""

from __future__ import annotations

import pytest

from mirage_mlir.passes.eqsat.graph import (
    Constant,
    Full,
    Graph,
    Input,
    Scale,
    cast,
    elementwise,
    reduce,
    tanh,
)


def test_gated_layer_broadcasts_the_bias_through_an_indexing_map(emit_and_run):
    x = Input("x", (8, 16))
    w1, w2, bias = Constant("w1", (16, 32)), Constant("w2", (16, 32)), Constant("bias", (32,))
    text = emit_and_run(Graph.of(tanh((x @ w1) * (x @ w2) + bias)))
    assert "affine_map<(d0, d1) -> (d1)>" in text
    assert "linalg.broadcast" not in text


def test_scale_multiplies_by_a_constant_in_the_body(emit_and_run):
    x = Input("x", (4, 4))
    text = emit_and_run(Graph.of(Scale(x, 0.125)))
    assert "arith.constant 1.250000e-01 : f32" in text and "arith.mulf" in text


def test_full_is_a_splat_constant(emit_and_run):
    x = Input("x", (3, 5))
    text = emit_and_run(Graph.of(elementwise("max", x, Full(0.0, (3, 5)))))
    assert "dense<0.000000e+00> : tensor<3x5xf32>" in text


def test_unit_axes_stretch_through_constant_map_results(emit_and_run):
    x, y = Input("x", (4, 1)), Input("y", (1, 6))
    text = emit_and_run(Graph.of(x - y))
    assert "(d0, 0)" in text and "(0, d1)" in text


@pytest.mark.parametrize(
    "op", ["neg", "abs", "exp", "tanh", "rsqrt", "reciprocal", "sigmoid", "erf", "relu", "sqrt", "log"]
)
def test_unary_ops(emit_and_run, op):
    x = Input("x", (3, 7))
    # Positive inputs keep log, sqrt and rsqrt finite.
    positive = elementwise("exp", x)
    emit_and_run(Graph.of(elementwise(op, positive)))


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "max", "min", "pow"])
def test_binary_ops(emit_and_run, op):
    x, y = Input("x", (3, 7)), Input("y", (7,))
    emit_and_run(Graph.of(elementwise(op, elementwise("exp", x), y)))


@pytest.mark.parametrize("op", ["gt", "ge", "lt", "le", "eq", "ne"])
def test_comparisons_select(emit_and_run, op):
    x, y = Input("x", (5, 6)), Input("y", (5, 6))
    emit_and_run(Graph.of(elementwise("where", elementwise(op, x, y), x, y)))


def test_casts_between_float_widths(emit_and_run):
    x = Input("x", (4, 4))
    text = emit_and_run(Graph.of(cast(cast(x, "f64") * 3.0, "f32")))
    assert "arith.extf" in text and "arith.truncf" in text


@pytest.mark.parametrize("op", ["sum", "max", "min", "mean"])
@pytest.mark.parametrize("axes, keepdims", [((1,), True), ((0,), False), ((0, 2), False)])
def test_reductions(emit_and_run, op, axes, keepdims):
    x = Input("x", (3, 4, 5))
    text = emit_and_run(Graph.of(reduce(x, op, axes, keepdims)))
    assert '"reduction"' in text


def test_max_reduction_starts_from_minus_infinity_and_survives_the_round_trip(emit_and_run):
    # All inputs negative: a reduction starting from 0 instead of -inf would return 0.
    x = Input("x", (4, 8))
    text = emit_and_run(Graph.of(reduce(elementwise("neg", elementwise("exp", x)), "max", (1,))))
    assert "0xff800000" in text
