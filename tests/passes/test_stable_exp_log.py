"""Stable exp/log forms: log-sum-exp, log-softmax, log(exp(x)), and how instability is counted.

The rewrites are in passes/eqsat/rules_softmax.py, the model of what is unstable in
passes/eqsat/stability.py. End to end, torch programs that overflow as written compile to
programs that do not, and the optimised MLIR holds the max-subtracted form.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.special import log_softmax as scipy_log_softmax

import mirage_mlir
from mirage_mlir.passes.eqsat.evaluate import evaluate, random_values
from mirage_mlir.passes.eqsat.graph import (
    Constant,
    Full,
    Graph,
    Input,
    elementwise,
    exp,
    reduce,
    softmax,
    tanh,
)
from mirage_mlir.passes.eqsat.optimize import optimize_graph
from mirage_mlir.passes.eqsat.rules_softmax import DECLARATIONS, EXTRA_EXAMPLES
from mirage_mlir.passes.eqsat.stability import (
    instability,
    instability_penalty,
    prefer_stable,
    unstable_nodes,
)

NEW_RULES = [
    d for d in DECLARATIONS
    if d.name.startswith(("log-softmax", "log-sum-exp", "shift-by-max", "log-exp"))
]


def log(x):
    return elementwise("log", x)


class LogSumExp(torch.nn.Module):
    def forward(self, x):
        return torch.log(torch.exp(x).sum(-1))


class LogOfSoftmax(torch.nn.Module):
    def forward(self, x):
        return torch.log(torch.softmax(x, -1))


# --------------------------------------------------------------------------------------------
# End to end


def _compile(model, x, tmp_path):
    return mirage_mlir.compile(model, x, target="cpu", cache_dir=tmp_path)


def _relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    # Relative, except near 0 (the row maximum's log-softmax is 0).
    return float(((got - want).abs() / want.abs().clamp(min=1.0)).max())


def test_log_sum_exp_near_1000_compiles_to_a_finite_stable_program(tmp_path):
    torch.manual_seed(0)
    x = torch.randn(8, 128) + 1000
    assert torch.isinf(LogSumExp()(x)).all()  # as written, exp overflows
    cm = _compile(LogSumExp(), x, tmp_path)
    out = cm(x)
    assert torch.isfinite(out).all()
    assert _relative_error(out, torch.logsumexp(x, -1)) <= 1e-4
    # The stable form: a row max, subtracted before the exp, added back after the log.
    text = cm.mlir
    assert "arith.maximumf" in text and "arith.subf" in text
    assert text.index("arith.maximumf") < text.index("math.exp") < text.index("math.log")


def test_log_of_softmax_compiles_to_a_stable_log_softmax(tmp_path):
    torch.manual_seed(0)
    x = torch.randn(8, 128) + 1000
    cm = _compile(LogOfSoftmax(), x, tmp_path)
    out = cm(x)
    assert torch.isfinite(out).all()
    assert _relative_error(out, torch.log_softmax(x, -1)) <= 1e-4
    text = cm.mlir
    assert "mirage.softmax" not in text
    assert text.index("arith.maximumf") < text.index("math.exp") < text.index("math.log")
    # Where probabilities underflow to 0, log(softmax) as written is -inf; the compiled
    # program is log_softmax.
    wide = torch.randn(8, 128) * 300
    assert torch.isinf(LogOfSoftmax()(wide)).any()
    got = cm(wide)
    assert torch.isfinite(got).all()
    assert _relative_error(got, torch.log_softmax(wide, -1)) <= 1e-4


def test_the_optimiser_reports_why_it_rewrote_and_verify_passes():
    x = torch.randn(4, 32)
    text = mirage_mlir.import_torch(LogSumExp(), x)
    result = mirage_mlir.optimize(text, target="flops", verify=True)
    (entry,) = result.report["functions"]
    # On FLOPs alone the stable form costs more; it is chosen for stability.
    assert entry["rewrite_reason"] == "numerical stability"
    assert entry["flops_after"] > entry["flops_before"]
    assert entry["verified"] and entry["verify_reference"] == "float64"


# --------------------------------------------------------------------------------------------
# The term graph


@pytest.mark.parametrize("axes, keepdims", [((1,), False), ((-1,), True), ((0, 2), False)])
def test_log_sum_exp_of_any_axes_becomes_stable(axes, keepdims):
    x = Input("x", (6, 5, 4))
    graph = Graph.of(log(reduce(exp(x), "sum", axes, keepdims)))
    assert instability(graph) == 1
    result = optimize_graph(graph, target="h100")
    assert instability(result.graph) == 0
    values = {"x": np.random.default_rng(1).normal(size=(6, 5, 4)).astype(np.float32) + 1000}
    (got,) = evaluate(result.graph, values)
    want = logsumexp(values["x"].astype(np.float64), axis=axes, keepdims=keepdims)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_log_of_exp_is_the_input():
    x = Input("x", (4, 8))
    result = optimize_graph(Graph.of(log(exp(x)) + x), target="h100")
    assert [n.kind for n in result.graph.nodes()] == ["input", "elementwise"]
    assert instability(result.graph) == 0


def test_log_of_softmax_on_another_axis():
    x = Input("x", (6, 5, 4))
    graph = Graph.of(log(softmax(x, -2)))
    result = optimize_graph(graph, target="cpu")
    assert "softmax" not in [n.kind for n in result.graph.nodes()]
    values = {"x": np.random.default_rng(2).normal(size=(6, 5, 4)).astype(np.float32) * 300}
    (got,) = evaluate(result.graph, values)
    want = scipy_log_softmax(values["x"].astype(np.float64), axis=-2)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)


# --------------------------------------------------------------------------------------------
# Soundness of the new rules, on random inputs by the NumPy semantics


def _examples():
    for rule in NEW_RULES:
        for i, example in enumerate((rule.example, *EXTRA_EXAMPLES.get(rule.name, ()))):
            yield pytest.param(example, id=f"{rule.name}:{i}")


def test_every_new_rule_is_declared():
    names = {d.name for d in NEW_RULES}
    assert {"log-sum-exp", "shift-by-max-idempotent", "log-exp"} <= names
    assert {f"log-softmax-axis{-k}" for k in range(1, 5)} <= names


@pytest.mark.parametrize("example", list(_examples()))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_new_rule_sides_agree_on_random_inputs(example, seed):
    left, right = example()
    values = random_values(left, seed=seed, low=-4.0, high=4.0)
    for lhs, rhs in zip(evaluate(left, values, precision="f64"), evaluate(right, values, precision="f64")):
        np.testing.assert_allclose(lhs, rhs, rtol=1e-12, atol=1e-12)
    # In f32 the right side (the stable one) stays within rounding of float64.
    for lhs, rhs in zip(evaluate(left, values, precision="f64"), evaluate(right, values)):
        np.testing.assert_allclose(rhs, lhs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("example", list(_examples()))
def test_new_rule_right_sides_do_not_overflow(example):
    left, right = example()
    values = {k: v + np.float32(1000) for k, v in random_values(left, seed=5).items()}
    with np.errstate(all="ignore"):
        (rhs,) = evaluate(right, values)
    assert np.isfinite(rhs).all()


# --------------------------------------------------------------------------------------------
# What counts as unstable


def test_an_exp_anywhere_counts_unless_its_input_is_bounded_above():
    x = Input("x", (4, 8))
    kept_max = reduce(x, "max", (1,), True)
    assert instability(Graph.of(exp(x))) == 1
    assert instability(Graph.of(tanh(exp(x) * x))) == 1
    assert instability(Graph.of(exp(x - kept_max))) == 0
    assert instability(Graph.of(exp(Full(2.0, (), "f32")))) == 0
    # A max over the other axis does not bound x - m (it broadcasts the wrong way).
    square = Input("s", (8, 8))
    other = reduce(square, "max", (1,), False)
    assert instability(Graph.of(exp(square - other))) == 1


def test_the_log_of_a_probability_counts():
    x = Input("x", (4, 8))
    e = exp(x - reduce(x, "max", (1,), True))
    ratio = e / reduce(e, "sum", (1,), True)
    assert instability(Graph.of(log(softmax(x)))) == 1
    assert instability(Graph.of(log(ratio))) == 1
    assert instability(Graph.of(log(reduce(e, "sum", (1,), True)))) == 0
    assert [n.attrs for n in unstable_nodes(Graph.of(log(ratio)))] == [("log",)]


def test_fewer_unstable_nodes_win():
    x = Input("x", (4, 8))
    naive = Graph.of(log(reduce(exp(x), "sum", (1,), False)) + reduce(exp(x), "sum", (1,), False))
    one = Graph.of(log(reduce(exp(x), "sum", (1,), False)))
    assert prefer_stable([naive, one]) == [1]
    assert prefer_stable([one, one]) == [0, 1]


def test_an_exp_without_a_stable_alternative_does_not_disturb_the_plan():
    # sigmoid written with exp (as torch-mlir imports it): every program pays its penalty
    # alike, and the penalty, relative to the e-graph's costs, leaves the contraction order
    # exact.
    a, b, c = Input("a", (100, 2)), Constant("b", (2, 100)), Constant("c", (100, 2))
    product = (a @ b) @ c
    one = Full(1.0, (), "f32")
    with_exp = optimize_graph(Graph.of(one / (one + exp(elementwise("neg", product)))), target="flops")
    with_tanh = optimize_graph(Graph.of(tanh(product)), target="flops")
    assert with_exp.flops_after - with_tanh.flops_after == with_exp.flops_before - with_tanh.flops_before
    assert with_tanh.flops_after < with_tanh.flops_before
    assert instability_penalty(10.0) > 10.0
