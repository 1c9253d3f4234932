"""Contraction orders seeded into the e-graph (passes/eqsat/contraction_seed.py).

The seeds are rewrites like any other: each seeded tree must compute the n-ary einsum it is
put beside (checked in float64 on random networks, hyperedges, scalars and letters summed
inside one factor included). And they must matter: when a limit stops saturation before the
`contraction` ruleset reaches the root of a large network, the extracted plan is the best
seed, not the n-ary loop nest; and the interval search makes a long matrix chain's plan the
dynamic-programming optimum whatever the limits.
"""

from __future__ import annotations

import math

import numpy as np
import opt_einsum
import pytest

from mirage_mlir.passes.eqsat import contraction_seed, language
from mirage_mlir.passes.eqsat.cost import contraction_flops
from mirage_mlir.passes.eqsat.evaluate import evaluate, random_values
from mirage_mlir.passes.eqsat.graph import LETTERS, Contract, Graph, Input
from mirage_mlir.passes.eqsat.optimize import optimize_graph
from mirage_mlir.passes.eqsat.saturate import Limits

from test_eqsat_einsum import network_graph, random_network


def chain_network(dims: list[int]) -> tuple[str, dict[str, int]]:
    """The einsum of a chain of len(dims) - 1 matrices."""
    letters = list(LETTERS[: len(dims)])
    spec = ",".join(letters[k] + letters[k + 1] for k in range(len(dims) - 1))
    return spec + "->" + letters[0] + letters[-1], dict(zip(letters, dims))


def dp_chain_flops(dims: list[int]) -> int:
    """The optimal parenthesisation's FLOPs (2 per multiply-add)."""
    n = len(dims) - 1
    best = [[0] * n for _ in range(n)]
    for length in range(2, n + 1):
        for i in range(n - length + 1):
            j = i + length - 1
            best[i][j] = min(
                best[i][k] + best[k + 1][j] + 2 * dims[i] * dims[k + 1] * dims[j + 1]
                for k in range(i, j)
            )
    return best[0][n - 1]


def tree_flops(node) -> int:
    """FLOPs of a tree of binary contractions (opt_einsum's convention)."""
    if node.kind != "contract":
        return 0
    own, _ = contraction_flops(node.spec, [o.shape for o in node.operands])
    return own + sum(tree_flops(o) for o in node.operands)


def twelve_operand_network() -> tuple[str, dict[str, int]]:
    """A ring of twelve matrices with a chord: too large to saturate under small limits."""
    letters = "abcdefghijkl"
    layouts = [letters[k] + letters[(k + 1) % 12] for k in range(12)]
    layouts[0] += "x"
    layouts[6] += "y"
    layouts[3] += "z"
    layouts[9] += "z"
    sizes = {c: 2 + (3 * k) % 7 for k, c in enumerate(letters)} | {"x": 5, "y": 3, "z": 4}
    return ",".join(layouts) + "->xy", sizes


@pytest.mark.parametrize("standard", [True, False])
def test_every_seeded_tree_computes_the_einsum(standard):
    rng = np.random.default_rng(3 if standard else 4)
    checked = 0
    for trial in range(40):
        spec, sizes = random_network(rng, max_operands=7, standard=standard)
        graph = network_graph(spec, sizes)
        (root,) = graph.outputs
        trees = contraction_seed.seed_trees(root)
        if len(root.operands) < 3:
            assert trees == []
            continue
        values = random_values(graph, seed=trial)
        want = evaluate(graph, values, precision="f64")[0]
        for tree in trees:
            assert all(n.kind != "contract" or len(n.operands) == 2 for n in Graph.of(tree).nodes())
            got = evaluate(Graph.of(tree), values, precision="f64")[0]
            assert got.shape == want.shape, spec
            np.testing.assert_allclose(
                got, want, rtol=1e-9, atol=1e-9 * max(1.0, float(np.abs(want).max())), err_msg=spec
            )
            checked += 1
    assert checked > 40


def test_greedy_trees_keep_the_chain_order():
    """A matrix chain's seed reads left to right, so its steps are plain matmuls."""
    mats = [Input(f"m{k}", shape) for k, shape in enumerate([(100, 10), (10, 20), (20, 5), (5, 100)])]
    tree = contraction_seed.greedy_tree(Contract(tuple(mats), "ik,kj,jl,lm->im"), "flops")
    left, right = tree.operands
    assert right is mats[3], "the last step multiplies (A B C) by D, in that order"
    assert tree_flops(tree) == 2 * (10 * 20 * 5 + 100 * 10 * 5 + 100 * 5 * 100)


def test_a_stopped_saturation_still_extracts_the_best_seed(monkeypatch):
    spec, sizes = twelve_operand_network()
    graph = network_graph(spec, sizes)
    (root,) = graph.outputs
    loop_nest, _ = contraction_flops(spec, [o.shape for o in root.operands])
    best_seed = min(tree_flops(t) for t in contraction_seed.seed_trees(root))
    assert best_seed * 1000 < loop_nest

    stopped = Limits(iterations=2)
    result = optimize_graph(graph, target="flops", limits=stopped)
    assert not result.saturated
    assert result.flops_after == best_seed
    values = random_values(graph, seed=1)
    want = evaluate(graph, values, precision="f64")[0]
    got = evaluate(result.graph, values, precision="f64")[0]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9 * float(np.abs(want).max()))

    # Without the seeds, the same limits leave the n-ary loop nest in place.
    monkeypatch.setattr(language, "seed_trees", lambda node: [])
    unseeded = optimize_graph(graph, target="flops", limits=stopped)
    assert unseeded.flops_after == loop_nest


def test_seeded_plan_is_within_reach_of_opt_einsums_exact_one():
    """Under the default limits a 12-operand network gets a plan no worse than opt_einsum's
    greedy one, and within 2x of its exact 'dp' plan."""
    spec, sizes = twelve_operand_network()
    graph = network_graph(spec, sizes)
    result = optimize_graph(graph, target="flops")
    shapes = [tuple(sizes[c] for c in layout) for layout in spec.split("->")[0].split(",")]
    greedy = opt_einsum.contract_path(spec, *shapes, shapes=True, optimize="greedy")[1]
    exact = opt_einsum.contract_path(spec, *shapes, shapes=True, optimize="dp")[1]
    assert result.flops_after <= int(greedy.opt_cost)
    assert result.flops_after <= 2 * int(exact.opt_cost)
    assert math.isfinite(result.cost_after)


def test_interval_tree_is_the_optimal_parenthesisation_of_random_chains():
    rng = np.random.default_rng(5)
    for trial in range(30):
        dims = [int(d) for d in rng.integers(1, 60, size=int(rng.integers(4, 14)))]
        spec, sizes = chain_network(dims)
        (root,) = network_graph(spec, sizes).outputs
        tree = contraction_seed.interval_tree(root)
        assert tree_flops(tree) == dp_chain_flops(dims), (trial, dims)


def test_a_100_matrix_chain_gets_the_dp_optimum_under_the_default_limits(monkeypatch):
    """Longer than any einsum network (52 letters), the chain stays matmuls, and the chain
    seed gives it the optimum that saturation alone does not reach within the limits."""
    rng = np.random.default_rng(6)
    dims = [int(d) for d in rng.integers(1, 257, size=101)]
    mats = [Input(f"m{k}", (dims[k], dims[k + 1])) for k in range(100)]
    expr = mats[0]
    for m in mats[1:]:
        expr = expr @ m
    graph = Graph.of(expr)
    limits = Limits(seconds=3.0)
    result = optimize_graph(graph, target="flops", limits=limits)
    assert result.flops_after == dp_chain_flops(dims)
    values = random_values(graph, seed=2, low=0.5, high=1.5)
    want = evaluate(graph, values, precision="f64")[0]
    got = evaluate(result.graph, values, precision="f64")[0]
    np.testing.assert_allclose(got, want, rtol=1e-9)

    monkeypatch.setattr(language, "matmul_chain_tree", lambda node: None)
    unseeded = optimize_graph(graph, target="flops", limits=limits)
    assert unseeded.flops_after > dp_chain_flops(dims)
