"""Every rewrite rule is sound and exercised; every analysis computes the facts it claims.

The rewrite tests are generated from the declarations, so a new rewrite is tested the moment it
is declared, and cannot be declared without an example.
"""

from __future__ import annotations

import numpy as np
import pytest
from egglog import EGraph, eq

from mirage_mlir.passes.eqsat.evaluate import evaluate, random_values
from mirage_mlir.passes.eqsat.graph import Contract, Graph, Input, Scale, tanh, Constant
from mirage_mlir.passes.eqsat.language import (
    Idx,
    Net,
    Tensor,
    encode,
    idx_mask,
    letter_mask,
    net_mask,
    part,
    split,
)
from mirage_mlir.passes.eqsat.rulesets import (
    RULESET_NAMES,
    AnalysisRule,
    RewriteRule,
    build_ruleset,
    declarations,
    extra_examples,
    ruleset,
)
from mirage_mlir.passes.eqsat.saturate import Limits, saturate

REWRITES = [
    pytest.param(name, decl, id=f"{name}:{decl.name}")
    for name in RULESET_NAMES
    for decl in declarations(name)
    if isinstance(decl, RewriteRule)
]

#: Every (left, right) example a rewrite must prove: its own, and any extra ones.
EXAMPLES = [
    pytest.param(name, decl, example, id=f"{name}:{decl.name}:{i}")
    for name in RULESET_NAMES
    for decl in declarations(name)
    if isinstance(decl, RewriteRule)
    for i, example in enumerate(
        (decl.example, *extra_examples(name).get(decl.name, ()))
    )
]

#: Analyses are not equalities; each is tested below by the facts it derives.
ANALYSES = {
    "linear_algebra": set(),
    "contraction": {
        "sorted-layout-mask",
        "net-mask-nil",
        "net-mask-cons",
        "parts-nil",
        "parts-cons",
    },
    "elementwise": set(),
    "softmax": set(),
    "attention": set(),
    "normalisation": set(),
    "shared_input": {"plain-weights"},
}

LIMITS = Limits(iterations=40, enodes=50_000, seconds=20)


def test_every_declaration_is_a_tested_rewrite_or_a_known_analysis():
    for name in RULESET_NAMES:
        decls = declarations(name)
        names = [d.name for d in decls]
        assert len(set(names)) == len(names), f"{name} declares a rule name twice"
        analyses = {d.name for d in decls if isinstance(d, AnalysisRule)}
        assert (
            analyses == ANALYSES[name]
        ), "a new analysis needs its own test in this file"
        for decl in decls:
            assert isinstance(decl, (RewriteRule, AnalysisRule))
            if isinstance(decl, RewriteRule):
                assert callable(decl.example)


@pytest.mark.parametrize("ruleset_name, decl, example", EXAMPLES)
def test_rewrite_example_is_numerically_sound(ruleset_name, decl, example):
    left, right = example()
    values = random_values(left, seed=7)
    # Both sides in float64: they must agree up to rounding (causal masks are the only
    # opaque leaves of the examples).
    lhs = evaluate(left, values, precision="f64")
    rhs = evaluate(right, values, precision="f64")
    assert len(lhs) == len(rhs) == len(left.outputs)
    for x, y, node in zip(lhs, rhs, left.outputs):
        assert x.shape == y.shape == node.shape
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12)


def _proves(ruleset_name: str, example, without: frozenset[str]) -> bool:
    left, right = example()
    egraph = EGraph()
    # Without the greedy seeds, which would prove contraction examples on their own.
    lhs = encode(left, egraph, seed_contractions=False).outputs
    rhs = encode(right, egraph, seed_contractions=False).outputs
    saturate(egraph, build_ruleset(ruleset_name, without), LIMITS)
    return all(egraph.check_bool(eq(x).to(y)) for x, y in zip(lhs, rhs))


@pytest.mark.parametrize("ruleset_name, decl, example", EXAMPLES)
def test_rewrite_example_is_proved_by_its_ruleset_and_needs_its_rule(
    ruleset_name, decl, example
):
    assert _proves(ruleset_name, example, frozenset())
    assert not _proves(
        ruleset_name, example, frozenset({decl.name})
    ), f"{decl.name}'s example is proved without it: the example does not exercise the rule"


# --------------------------------------------------------------------------------------------
# Analyses


def _contraction_egraph(graph: Graph) -> tuple[EGraph, object]:
    egraph = EGraph()
    encoding = encode(graph, egraph)
    saturate(egraph, ruleset("contraction"), LIMITS)
    return egraph, encoding


def test_layout_and_network_masks():
    a, b, c = Input("A", (2, 3)), Input("B", (3, 4)), Input("C", (5, 4))
    egraph, _ = _contraction_egraph(Graph.of(Contract((a, b, c), "ij,jk,lk->il")))
    # "ij" and "jk" are sorted (mask from the sorted-layout-mask rule); "lk" is not (recorded).
    assert egraph.check_bool(
        eq(idx_mask(Idx.sorted(letter_mask("ij")))).to(letter_mask("ij"))
    )
    assert egraph.check_bool(eq(idx_mask(Idx.order("lk"))).to(letter_mask("kl")))
    net = Net.cons(
        Tensor.input("A"),
        Idx.sorted(letter_mask("ij")),
        Net.cons(
            Tensor.input("B"),
            Idx.sorted(letter_mask("jk")),
            Net.cons(Tensor.input("C"), Idx.order("lk"), Net.nil()),
        ),
    )
    assert egraph.check_bool(eq(net_mask(net)).to(letter_mask("ijkl")))
    assert egraph.check_bool(eq(net_mask(Net.nil())).to(0))


@pytest.mark.parametrize("n", [1, 3, 4, 5])
def test_parts_and_splits_enumerate_every_subset(n):
    letters = "abcdefgh"
    tensors = [Input(f"T{i}", (2, 2)) for i in range(n)]
    spec = (
        ",".join(letters[i : i + 2] for i in range(n)) + "->" + letters[0] + letters[n]
    )
    egraph, _ = _contraction_egraph(Graph.of(Contract(tuple(tensors), spec)))
    # (A binary einsum is encoded as one contraction, without a network.)
    # part facts: sum over sub-lists S of 2^|S| = 3^n; split facts: half of the parts of
    # each list (the first factor goes left): sum over non-empty S of 2^(|S|-1).
    assert egraph.function_size(part) == 3**n
    assert egraph.function_size(split) == (3**n - 1) // 2


def test_no_rule_turns_an_elementwise_product_into_a_matmul():
    # E5: tanh((x @ w1) * (x @ w2) + bias); the elementwise product must stay elementwise.
    x = Input("x", (8, 16))
    w1, w2, bias = (
        Constant("w1", (16, 32)),
        Constant("w2", (16, 32)),
        Constant("bias", (32,)),
    )
    graph = Graph.of(tanh((x @ w1) * (x @ w2) + bias))
    egraph = EGraph()
    encoding = encode(graph, egraph)
    saturate(egraph, ruleset("linear_algebra"), LIMITS)
    from mirage_mlir.passes.eqsat.language import Args

    product = Tensor.elementwise(
        "mul",
        Args.cons(
            Tensor.matmul(Tensor.input("x"), Tensor.constant("w1")),
            Args.cons(
                Tensor.matmul(Tensor.input("x"), Tensor.constant("w2")), Args.nil()
            ),
        ),
    )
    egraph.register(product)
    for wrong in (
        Tensor.matmul(
            Tensor.matmul(Tensor.input("x"), Tensor.constant("w1")),
            Tensor.matmul(Tensor.input("x"), Tensor.constant("w2")),
        ),
        Tensor.matmul(
            Tensor.input("x"),
            Tensor.matmul(
                Tensor.constant("w1"),
                Tensor.matmul(Tensor.input("x"), Tensor.constant("w2")),
            ),
        ),
    ):
        egraph.register(wrong)
        assert not egraph.check_bool(eq(product).to(wrong))
    assert egraph.check_bool(
        eq(encoding.outputs[0]).to(
            Tensor.elementwise(
                "tanh",
                Args.cons(
                    Tensor.elementwise(
                        "add",
                        Args.cons(
                            product, Args.cons(Tensor.constant("bias"), Args.nil())
                        ),
                    ),
                    Args.nil(),
                ),
            )
        )
    )


def test_scale_moves_to_the_cheapest_operand_in_attention_scores():
    # E2's scale: s * (Q @ K^T) and (s * Q) @ K^T and Q @ (s * K)^T are one e-class.
    q, k = Input("Q", (2, 64, 8)), Input("K", (2, 64, 8))
    graph = Graph.of(Scale(q @ k.mT, 0.125))
    egraph = EGraph()
    encoding = encode(graph, egraph)
    saturate(egraph, ruleset("linear_algebra"), LIMITS)
    scaled_q = Tensor.matmul(
        Tensor.scale(Tensor.input("Q"), 0.125), Tensor.mt(Tensor.input("K"))
    )
    scaled_k = Tensor.matmul(
        Tensor.input("Q"), Tensor.mt(Tensor.scale(Tensor.input("K"), 0.125))
    )
    assert egraph.check_bool(eq(encoding.outputs[0]).to(scaled_q))
    assert egraph.check_bool(eq(encoding.outputs[0]).to(scaled_k))
