"""Greedy contraction orders seeded into the e-graph (passes/eqsat/contraction_seed.py).

The seeds are rewrites like any other: each greedy tree must compute the n-ary einsum it is
put beside (checked in float64 on random networks, hyperedges, scalars and letters summed
inside one factor included). And they must matter: when a limit stops saturation before the
`contraction` ruleset reaches the root of a large network, the extracted plan is the best
seed, not the n-ary loop nest.
"""

from __future__ import annotations

import math

import numpy as np
import opt_einsum
import pytest

from mirage_mlir.passes.eqsat import contraction_seed
from mirage_mlir.passes.eqsat.cost import contraction_flops
from mirage_mlir.passes.eqsat.evaluate import evaluate, random_values
from mirage_mlir.passes.eqsat.graph import Contract, Graph, Input
from mirage_mlir.passes.eqsat.optimize import optimize_graph
from mirage_mlir.passes.eqsat.saturate import Limits

from test_eqsat_einsum import network_graph, random_network


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
def test_every_greedy_tree_computes_the_einsum(standard):
    rng = np.random.default_rng(3 if standard else 4)
    checked = 0
    for trial in range(40):
        spec, sizes = random_network(rng, max_operands=7, standard=standard)
        graph = network_graph(spec, sizes)
        (root,) = graph.outputs
        trees = contraction_seed.greedy_trees(root)
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
    best_seed = min(tree_flops(t) for t in contraction_seed.greedy_trees(root))
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
    monkeypatch.setattr(contraction_seed, "greedy_trees", lambda node: [])
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
