"""Limits that hold end to end: one time budget over every stage, a memory limit, an iteration
that passes a limit undone, and the input kept whenever the budget runs out."""

from __future__ import annotations

import time

import numpy as np
import pytest

from mirage_mlir.passes.eqsat import budget as budget_module
from mirage_mlir.passes.eqsat import saturate as saturate_module
from mirage_mlir.passes.eqsat.budget import Budget, export_mb
from mirage_mlir.passes.eqsat.evaluate import evaluate, random_values
from mirage_mlir.passes.eqsat.graph import Graph, Input
from mirage_mlir.passes.eqsat.language import encode
from mirage_mlir.passes.eqsat.networks import lift_networks
from mirage_mlir.passes.eqsat.optimize import optimize_graph
from mirage_mlir.passes.eqsat.rulesets import ruleset
from mirage_mlir.passes.eqsat.saturate import (
    Limits,
    egraph_size,
    egraph_sizes,
    saturate,
)
from mirage_mlir.passes.eqsat.serialized import export_json, read_egraph

#: What a whole optimize_graph call may take beyond its time limit in these tests: encoding
#: is not interruptible (egglog's declarations alone take up to 0.5 s on a busy machine).
OVERSHOOT_S = 1.0


def chain(n: int, seed: int = 0, batch: tuple[int, ...] = ()) -> Graph:
    """A left-to-right product of n matrices with random sizes from 2 to 9."""
    rng = np.random.default_rng(seed)
    dims = [int(d) for d in rng.integers(2, 10, n + 1)]
    matrices = [Input(f"M{i}", batch + (dims[i], dims[i + 1])) for i in range(n)]
    product = matrices[0]
    for m in matrices[1:]:
        product = product @ m
    return Graph(tuple(matrices), (product,))


def assert_same_values(a: Graph, b: Graph) -> None:
    values = random_values(a, np.random.default_rng(1))
    for x, y in zip(evaluate(a, values), evaluate(b, values)):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6)


def test_an_iteration_that_passes_the_enode_limit_is_undone():
    encoding = encode(lift_networks(chain(12)))
    start = egraph_size(encoding.egraph)
    # Before the first iteration there is no growth rate to predict with: it runs, passes the
    # limit, and is undone.
    stats = saturate(encoding.egraph, ruleset("linear_algebra"), Limits(enodes=start + 1))
    assert stats.stop_reason == "enodes" and stats.undone
    assert stats.iterations == 0 and egraph_size(encoding.egraph) == stats.enodes == start


@pytest.mark.parametrize("limit", [300, 2_000, 10_000])
def test_saturation_never_returns_an_egraph_over_the_enode_limit(limit):
    encoding = encode(lift_networks(chain(40, seed=limit)))
    stats = saturate(encoding.egraph, ruleset("linear_algebra"), Limits(enodes=limit))
    assert stats.stop_reason == "enodes" and stats.iterations >= 1
    assert stats.enodes == egraph_size(encoding.egraph) <= limit


def test_the_memory_limit_stops_saturation_with_its_own_reason(monkeypatch):
    encoding = encode(lift_networks(chain(40)))
    egraph = encoding.egraph
    # 20 KiB of resident memory per row: deterministic, where the real resident set also
    # moves with whatever else the test process does.
    monkeypatch.setattr(
        saturate_module, "resident_mb", lambda: egraph_size(egraph) * 20 / 1024
    )
    start_mb = egraph_size(egraph) * 20 / 1024
    stats = saturate(egraph, ruleset("linear_algebra"), Limits(memory_mb=40))
    assert stats.stop_reason == "memory" and stats.iterations >= 1
    used = egraph_size(egraph) * 20 / 1024 - start_mb
    # What is kept, with the memory its export will take, is within the limit ...
    assert used + export_mb(egraph_sizes(egraph)) <= 40
    # ... and the peak reported is what was seen, the undone iteration's included.
    assert stats.memory_mb is not None and stats.memory_mb >= used


def test_a_memory_limit_of_zero_extracts_the_encoded_graph():
    graph = chain(30)
    result = optimize_graph(graph, target="flops", limits=Limits(memory_mb=0))
    assert result.stop_reason == "memory" and result.iterations == 0
    assert result.memory_mb is not None and result.flops_after <= result.flops_before
    assert_same_values(graph, result.graph)


def test_a_time_limit_of_zero_returns_the_input_without_encoding_it():
    graph = chain(30)
    result = optimize_graph(graph, limits=Limits(seconds=0.0))
    assert result.graph is graph and result.kept_input
    assert (result.stop_reason, result.extraction, result.iterations) == ("seconds", "none", 0)
    assert result.skipped[0] == "export and extraction" and "encode" not in result.seconds
    assert result.cost_after <= result.cost_before


def test_no_time_to_export_keeps_the_input(monkeypatch):
    # An export predicted at a second per e-node fits in no budget: saturation does not start,
    # and the input passes through unchanged, saying why.
    monkeypatch.setitem(budget_module.STAGE_RATES, "export", 1.0)
    graph = chain(20)
    result = optimize_graph(graph, limits=Limits(seconds=5.0))
    assert result.graph is graph and result.kept_input and result.iterations == 0
    assert (result.stop_reason, result.extraction) == ("seconds", "none")
    assert "export and extraction" in result.skipped and "export" not in result.seconds
    assert result.cost_after <= result.cost_before


def test_optional_stages_are_skipped_when_they_do_not_fit(monkeypatch):
    monkeypatch.setitem(budget_module.STAGE_RATES, "anticipate", 1.0)
    monkeypatch.setitem(budget_module.STAGE_RATES, "count", 1.0)
    graph = chain(8)
    result = optimize_graph(graph, limits=Limits(seconds=5.0))
    assert "fusion-anticipating extraction" in result.skipped
    assert "program count" in result.skipped and result.programs is None
    assert result.extraction in ("greedy", "ilp") and result.fusion_choice != "fusion-anticipating"
    assert result.cost_after <= result.cost_before
    assert_same_values(graph, result.graph)


def test_without_time_for_kernel_formation_programs_are_compared_unfused(monkeypatch):
    monkeypatch.setattr(budget_module, "FUSE_RATE", 1.0)
    graph = chain(8)
    result = optimize_graph(graph, limits=Limits(seconds=5.0))
    assert "kernel formation" in result.skipped and result.kernels is None
    # Unfused, each compute node is its own kernel, before and after.
    assert result.kernels_after == sum(1 for n in result.graph.nodes() if n.kind == "matmul")
    assert result.fused_cost_before == result.cost_before >= result.cost_after
    assert result.flops_after < result.flops_before
    assert_same_values(graph, result.graph)


def test_a_slow_stage_makes_the_later_predictions_as_slow():
    budget = Budget(10.0)
    budget.observe(0.1, 0.5)
    assert budget.slowdown == pytest.approx(5.0)
    assert budget.fits(1.0) and not budget.fits(2.5)
    budget.observe(0.1, 0.01)  # faster than predicted: predictions stay cautious
    budget.observe(0.001, 0.04)  # too short to learn from
    assert budget.slowdown == pytest.approx(5.0)


@pytest.mark.slow
@pytest.mark.parametrize("seconds", [0.5, 2.0])
def test_a_200_matrix_chain_stays_within_its_time_limit(seconds):
    graph = chain(200, seed=200)
    began = time.perf_counter()
    result = optimize_graph(graph, target="h100", limits=Limits(seconds=seconds))
    elapsed = time.perf_counter() - began
    assert elapsed <= seconds + OVERSHOOT_S, result.seconds
    assert result.stop_reason in ("seconds", "enodes") and not result.saturated
    assert result.cost_after <= result.cost_before
    assert_same_values(graph, result.graph)


def test_the_export_without_split_relations_reads_the_same_egraph():
    a, b, c, d, e = (Input(n, (3, 3)) for n in "ABCDE")
    from mirage_mlir.passes.eqsat.graph import Contract

    graph = Graph.of(Contract((a, b, c, d, e), "ij,jk,kl,lm,mn->in"))
    encoding = encode(graph, seed_contractions=False)
    saturate(encoding.egraph, ruleset("contraction"), Limits())
    full = read_egraph(encoding.egraph._serialize().to_json(), encoding.leaves)
    assert sum(1 for _ in full.classes) > 1
    lean = read_egraph(export_json(encoding.egraph), encoding.leaves)
    assert lean.roots == full.roots
    assert {c: sorted(n.id for n in ns) for c, ns in lean.classes.items()} == {
        c: sorted(n.id for n in ns) for c, ns in full.classes.items()
    }
    sizes = dict((str(f), n) for f, n in encoding.egraph.all_function_sizes())
    assert sizes["part"] == sizes["split"] == 0
