"""The whole pipeline: encoding, reading the e-graph back, extraction, and the report."""

from __future__ import annotations

import numpy as np
import pytest
from egglog import EGraph, rewrite, ruleset, vars_

from mirage_mlir.passes.eqsat.evaluate import evaluate, random_values
from mirage_mlir.passes.eqsat.graph import (
    Constant,
    Contract,
    Graph,
    Input,
    Opaque,
    Scale,
    Transpose,
    tanh,
)
from mirage_mlir.passes.eqsat.language import Tensor, encode, pack_perm, unpack_perm
from mirage_mlir.passes.eqsat.optimize import optimize_graph
from mirage_mlir.passes.eqsat.saturate import Limits, saturate
from mirage_mlir.passes.eqsat.serialized import (
    UnsoundEGraph,
    infer_types,
    matmul_layout,
    read_egraph,
)


def assert_same_values(before, after, opaque=None):
    values = random_values(before, seed=11)
    for x, y in zip(
        evaluate(before, values, opaque, precision="f64"),
        evaluate(after, values, opaque, precision="f64"),
    ):
        np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-9)


def test_without_rules_the_graph_comes_back_unchanged_and_shared():
    x, w = Input("x", (4, 8)), Constant("w", (8, 8))
    h = tanh(x @ w)
    graph = Graph.of(h @ w, Transpose(h, (1, 0)), Scale(h, 0.5))
    result = optimize_graph(graph, rulesets=())
    assert result.saturated and result.iterations == 1
    assert [n.kind for n in result.graph.nodes()] == [n.kind for n in graph.nodes()]
    # Nothing is rewritten: the cost after is that of the input graph's own kernels.
    assert result.cost_after == result.fused_cost_before and result.programs == 1
    assert result.cost_after < result.cost_before  # tanh rides as the matmul's epilogue
    assert_same_values(graph, result.graph)


def test_structurally_equal_subterms_are_computed_once():
    a, b = Input("a", (16, 16)), Input("b", (16, 16))
    graph = Graph.of(tanh(a @ b) + tanh(a @ b))
    result = optimize_graph(graph, target="flops")
    assert (result.kernels_before, result.kernels_after) == (5, 1)
    assert [k.template for k in result.kernels] == ["matmul"]  # tanh and add as epilogue
    assert_same_values(graph, result.graph)


def test_every_encoded_node_is_named_so_deep_shared_graphs_stay_small():
    # Each level uses the one below twice; written out as nested terms, the output would
    # hold 2**40 nodes (egglog's Python front end converts a fact's term as a tree: a
    # 2-layer Llama once took minutes and gigabytes to encode). Every node is a let binding,
    # so each term refers to its operands by name.
    x = Input("x", (4, 4))
    y = x
    for _ in range(40):
        y = tanh(y) + y
    encoding = encode(Graph.of(y), seed_contractions=False)
    assert len(str(encoding.outputs[0])) < 40
    result = optimize_graph(Graph.of(y), rulesets=())
    assert_same_values(Graph.of(y), result.graph)


def test_transposes_of_a_product_cancel():
    a, b = Input("A", (32, 16)), Input("B", (16, 8))
    graph = Graph.of((b.mT @ a.mT).mT)
    result = optimize_graph(graph)
    assert [n.kind for n in result.graph.nodes()] == ["input", "input", "matmul"]
    assert result.kernels_before == 4 and result.kernels_after == 1
    assert result.programs is None  # mt(mt(x)) = x makes the e-graph cyclic
    assert_same_values(graph, result.graph)


def test_attention_scale_moves_onto_q():
    # E2's scores: s * (Q @ K^T) scales seq x seq values; s * Q scales seq x d.
    q, k = Input("Q", (2, 1024, 64)), Input("K", (2, 1024, 64))
    graph = Graph.of(Scale(q @ k.mT, 0.125))
    result = optimize_graph(graph)
    scales = [n for n in result.graph.nodes() if n.kind == "scale"]
    assert len(scales) == 1 and scales[0].shape in {(2, 1024, 64)}
    assert result.cost_after < result.cost_before
    assert result.bytes_after < result.bytes_before / 2


def test_gated_layer_keeps_its_elementwise_product():
    # E5: nothing may turn (x @ w1) * (x @ w2) into a product of matrices.
    x = Input("x", (64, 128))
    w1, w2, bias = (
        Constant("w1", (128, 256)),
        Constant("w2", (128, 256)),
        Constant("bias", (256,)),
    )
    graph = Graph.of(tanh((x @ w1) * (x @ w2) + bias))
    result = optimize_graph(graph)
    assert sorted(
        n.kind for n in result.graph.nodes() if n.kind not in ("input", "constant")
    ) == ["elementwise", "elementwise", "elementwise", "matmul", "matmul"]
    assert result.flops_after == result.flops_before
    assert_same_values(graph, result.graph)


def test_opaque_ops_pass_through_and_the_region_around_them_is_optimised():
    a, b, c = Input("A", (100, 2)), Input("B", (2, 100)), Input("C", (100, 2))
    mid = Opaque("softmax_rows", ((a @ b) @ c,), (100, 2))
    graph = Graph.of((mid @ Input("D", (2, 100))) @ Input("E", (100, 2)))
    result = optimize_graph(graph, target="flops")
    assert any(n.kind == "opaque" for n in result.graph.nodes())
    assert result.flops_after == 2 * (2 * 100 * 2 + 100 * 2 * 2) + 2 * (
        2 * 100 * 2 + 100 * 2 * 2
    )
    softmax = {"softmax_rows": lambda v: np.exp(v) / np.exp(v).sum(-1, keepdims=True)}
    assert_same_values(graph, result.graph, softmax)


def test_optimising_twice_changes_nothing_more():
    rng = np.random.default_rng(3)
    dims = [int(d) for d in rng.integers(2, 64, 7)]
    ms = [Input(f"M{i}", (dims[i], dims[i + 1])) for i in range(6)]
    product = ms[0]
    for m in ms[1:]:
        product = product @ m
    once = optimize_graph(Graph.of(product))
    twice = optimize_graph(once.graph)
    assert twice.cost_after == pytest.approx(once.cost_after, rel=1e-12)
    assert twice.cost_before == pytest.approx(once.cost_after, rel=1e-12)


def test_report_has_every_stage_and_a_summary():
    a, b = Input("A", (8, 4)), Input("B", (4, 8))
    result = optimize_graph(Graph.of(a @ b), target="cpu")
    assert set(result.seconds) == {"encode", "saturate", "export", "extract", "decode", "fuse"}
    assert result.target == "cpu" and result.eclasses == 3 and result.enodes == 3
    assert "cost" in result.summary() and "saturated" in result.summary()


def test_an_unsound_rule_is_caught_when_typing_the_egraph():
    # matmul is not commutative; for non-square operands the types disagree in one e-class.
    a, b = vars_("a b", Tensor)
    wrong = ruleset(rewrite(Tensor.matmul(a, b)).to(Tensor.matmul(b, a)), name="wrong")
    x, y = Input("x", (2, 3)), Input("y", (3, 2))
    encoding = encode(Graph.of(x @ y))
    saturate(encoding.egraph, wrong, Limits())
    view = read_egraph(encoding.egraph._serialize().to_json(), encoding.leaves)
    with pytest.raises(
        UnsoundEGraph,
        match="holds values of type (2x2xf32 and 3x3xf32|3x3xf32 and 2x2xf32)",
    ):
        infer_types(view)


def test_two_egraphs_do_not_interfere():
    first, second = EGraph(), EGraph()
    encode(Graph.of(Input("a", (2, 2)) @ Input("b", (2, 2))), first)
    encoding = encode(Graph.of(Input("c", (3, 3))), second)
    view = read_egraph(second._serialize().to_json(), encoding.leaves)
    assert list(view.classes) == list(view.roots) and view.enodes == 1


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("ik,kj->ij", True),
        ("bik,bkj->bij", True),
        ("ik,kj->ji", False),
        ("ki,kj->ij", False),
        ("bik,kj->bij", False),
        ("ij,jk,kl->il", False),
        ("ii,ij->ij", False),
    ],
)
def test_matmul_layout(spec, expected):
    assert matmul_layout(spec) == expected


def test_binary_contractions_laid_out_as_matmuls_become_matmuls():
    a, b, c = Input("A", (300, 400)), Input("B", (400, 500)), Input("C", (500, 600))
    graph = Graph.of(Contract((a, b, c), "ik,kj,jl->il"))
    result = optimize_graph(graph)
    assert [n.kind for n in result.graph.nodes() if n.kind != "input"] == [
        "matmul",
        "matmul",
    ]
    # Even where launches dominate, no kernel template runs the three-operand loop nest: it is
    # always split into two binary contractions.
    tiny = Graph.of(
        Contract(
            (Input("A", (3, 4)), Input("B", (4, 5)), Input("C", (5, 6))), "ik,kj,jl->il"
        )
    )
    assert optimize_graph(tiny).kernels_after == 2
    assert optimize_graph(tiny, target="flops").kernels_after == 2


def test_permutations_pack_into_an_i64():
    for perm in [(), (0,), (1, 0), (2, 0, 1), tuple(reversed(range(15)))]:
        assert unpack_perm(pack_perm(perm), len(perm)) == perm
