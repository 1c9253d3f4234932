"""Matrix chains: the e-graph holds every parenthesisation and extraction finds the cheapest."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from mirage_mlir.passes.eqsat.cost import graph_cost
from mirage_mlir.passes.eqsat.evaluate import evaluate, random_values
from mirage_mlir.passes.eqsat.graph import Graph, Input, MatMul
from mirage_mlir.passes.eqsat.optimize import optimize_graph
from mirage_mlir.passes.eqsat.saturate import Limits


def left_to_right(matrices):
    product = matrices[0]
    for m in matrices[1:]:
        product = product @ m
    return product


def random_chain(rng, n, max_dim=256, batch=()):
    dims = [int(d) for d in rng.integers(1, max_dim + 1, n + 1)]
    return [Input(f"M{i}", batch + (dims[i], dims[i + 1])) for i in range(n)], dims


def chain_dp_flops(dims):
    """The textbook matrix-chain dynamic programme, in FLOPs (2 per multiply-add)."""
    n = len(dims) - 1

    @lru_cache(maxsize=None)
    def best(i, j):
        if i == j:
            return 0
        return min(
            best(i, k) + best(k + 1, j) + 2 * dims[i] * dims[k + 1] * dims[j + 1]
            for k in range(i, j)
        )

    return best(0, n - 1)


def all_parenthesisations(matrices):
    if len(matrices) == 1:
        yield matrices[0]
        return
    for k in range(1, len(matrices)):
        for left in all_parenthesisations(matrices[:k]):
            for right in all_parenthesisations(matrices[k:]):
                yield MatMul(left, right)


def assert_same_values(before: Graph, after: Graph, seed=0):
    values = random_values(before, seed=seed)
    for x, y in zip(
        evaluate(before, values, precision="f64"),
        evaluate(after, values, precision="f64"),
    ):
        np.testing.assert_allclose(
            x, y, rtol=1e-9, atol=1e-9 * max(1.0, float(np.abs(x).max()))
        )


@pytest.mark.slow
def test_100_random_chains_reach_the_dynamic_programming_optimum():
    rng = np.random.default_rng(2026)
    for trial in range(100):
        n = int(rng.integers(2, 17))
        matrices, dims = random_chain(rng, n)
        graph = Graph.of(left_to_right(matrices))
        result = optimize_graph(graph, target="flops")
        assert result.saturated
        assert result.flops_after == chain_dp_flops(dims), (trial, dims)
        assert result.cost_after == result.flops_after
        assert result.kernels_after == n - 1
        if trial % 10 == 0:
            assert_same_values(graph, result.graph, seed=trial)


@pytest.mark.slow
@pytest.mark.parametrize("target", ["h100", "a100", "cpu"])
def test_roofline_cost_equals_brute_force_minimum_over_parenthesisations(target):
    rng = np.random.default_rng({"h100": 1, "a100": 2, "cpu": 3}[target])
    for trial in range(12):
        n = int(rng.integers(2, 9))
        matrices, _ = random_chain(rng, n, max_dim=int(rng.choice([16, 256, 2048])))
        graph = Graph.of(left_to_right(matrices))
        result = optimize_graph(graph, target=target)
        brute = min(
            graph_cost(Graph.of(p), target).cost
            for p in all_parenthesisations(matrices)
        )
        assert result.cost_after == pytest.approx(brute, rel=1e-12), (trial, n)
        assert graph_cost(result.graph, target).cost == result.cost_after
        assert result.programs == _catalan(n - 1)


def test_batched_chain_with_broadcast_batch_dims():
    rng = np.random.default_rng(5)
    a, b, c, d = (
        Input("A", (3, 40, 5)),
        Input("B", (5, 60)),
        Input("C", (1, 60, 2)),
        Input("D", (2, 70)),
    )
    graph = Graph.of(((a @ b) @ c) @ d)
    result = optimize_graph(graph, target="flops")
    brute = min(
        graph_cost(Graph.of(p), "flops").cost
        for p in all_parenthesisations([a, b, c, d])
    )
    assert result.flops_after == brute < result.flops_before
    assert result.graph.outputs[0].shape == (3, 40, 70)
    assert_same_values(graph, result.graph, seed=int(rng.integers(100)))


def test_e1_matrix_chain():
    a, b, c, d = (
        Input("A", (100, 2)),
        Input("B", (2, 100)),
        Input("C", (100, 2)),
        Input("D", (2, 100)),
    )
    graph = Graph.of(((a @ b) @ c) @ d)
    result = optimize_graph(graph, target="flops")
    assert (result.flops_before, result.flops_after) == (120_000, 41_600)
    assert result.programs == 5 and result.saturated
    # The optimum keeps the 2x2 intermediate B @ C.
    assert any(n.shape == (2, 2) for n in result.graph.nodes())
    assert_same_values(graph, result.graph)
    on_gpu = optimize_graph(graph)
    assert on_gpu.flops_after == 41_600
    assert on_gpu.cost_after < on_gpu.cost_before


def test_64_chain_with_small_limits_stops_cleanly_at_a_correct_program():
    rng = np.random.default_rng(64)
    matrices, _ = random_chain(rng, 64, max_dim=32)
    graph = Graph.of(left_to_right(matrices))
    for limits in (Limits(iterations=3), Limits(enodes=2_000), Limits(seconds=0.0)):
        result = optimize_graph(graph, target="h100", limits=limits)
        assert not result.saturated
        assert result.stop_reason in {"iterations", "enodes", "seconds"}
        assert result.cost_after <= result.cost_before
        assert result.flops_after <= result.flops_before
        assert_same_values(graph, result.graph)
    assert (
        optimize_graph(graph, limits=Limits(iterations=3)).stop_reason == "iterations"
    )
    assert optimize_graph(graph, limits=Limits(enodes=2_000)).stop_reason == "enodes"
    assert optimize_graph(graph, limits=Limits(seconds=0.0)).iterations == 0


def _catalan(n):
    from math import comb

    return comb(2 * n, n) // (n + 1)
