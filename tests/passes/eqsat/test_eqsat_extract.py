"""DAG-aware extraction: shared values are paid once; the ILP is exact; cycles are handled."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mirage_mlir.passes.eqsat.cost import graph_cost
from mirage_mlir.passes.eqsat.evaluate import evaluate, random_values
from mirage_mlir.passes.eqsat.extract import (
    Candidate,
    Problem,
    PROGRAM_COUNT_CAP,
    count_programs,
    dag_cost,
    extract,
    greedy_dag,
    ilp_dag,
    needed_classes,
    tree_exact,
)
from mirage_mlir.passes.eqsat.graph import Graph, Input
from mirage_mlir.passes.eqsat.optimize import optimize_graph
from mirage_mlir.passes.eqsat.saturate import Limits


def problem(
    spec: dict[str, list[tuple[float, tuple[str, ...]]]], roots: tuple[str, ...]
) -> Problem:
    """{eclass: [(cost, children)]} -> Problem, with keys eclass/index."""
    classes = {
        eclass: [
            Candidate(f"{eclass}/{i}", eclass, cost, kids)
            for i, (cost, kids) in enumerate(nodes)
        ]
        for eclass, nodes in spec.items()
    }
    return Problem(classes, roots)


def brute_force(p: Problem) -> float:
    """The cheapest acyclic choice, by trying every choice of one e-node per e-class."""
    classes = list(p.classes)
    best = float("inf")
    for picks in itertools.product(*(p.classes[c] for c in classes)):
        choice = dict(zip(classes, picks))
        try:
            best = min(best, dag_cost(choice, p.roots))
        except ValueError:  # a cycle
            continue
    return best


def test_a_value_used_twice_is_paid_once():
    # root: f(S, S) costs 1 + 10 once; g(U, V) costs 1 + 6 + 6. A tree extractor pays S twice
    # (21) and picks g (13); the DAG cost of f is 11.
    p = problem(
        {
            "root": [(1, ("S", "S")), (1, ("U", "V"))],
            "S": [(10, ())],
            "U": [(6, ())],
            "V": [(6, ())],
        },
        ("root",),
    )
    assert not tree_exact(p)
    greedy = greedy_dag(p)
    assert greedy["root"].key == "root/0" and dag_cost(greedy, p.roots) == 11
    choice, status = ilp_dag(p, time_limit=10)
    assert status == "optimal" and choice["root"].key == "root/0"
    result = extract(p)
    assert (result.cost, result.method, result.optimal) == (11, "ilp", True)


def test_sharing_across_outputs_needs_the_ilp():
    # r1 alone prefers Q (4 < 5), but r2 needs P anyway: the optimum shares P (7, not 11).
    p = problem(
        {
            "r1": [(1, ("P",)), (1, ("Q",))],
            "r2": [(1, ("P",))],
            "P": [(5, ())],
            "Q": [(4, ())],
        },
        ("r1", "r2"),
    )
    assert dag_cost(greedy_dag(p), p.roots) == 11
    result = extract(p)
    assert result.method == "ilp" and result.cost == 7 == brute_force(p)
    assert result.choice["r1"].children == ("P",)


def test_two_outputs_sharing_a_product_end_to_end():
    # out1 = ABC alone is cheapest as A(BC), but out2 = (AB)D needs AB anyway, and then
    # (AB)C costs 100 MACs more instead of 2000: 110,100 MACs in all, not 112,000.
    a, b, c, d = (
        Input("A", (10, 100)),
        Input("B", (100, 10)),
        Input("C", (10, 1)),
        Input("D", (10, 1000)),
    )
    ab = a @ b
    graph = Graph.of(a @ (b @ c), ab @ d)
    result = optimize_graph(graph, target="flops")
    assert result.extraction == "ilp" and result.extraction_optimal
    assert result.flops_after == 2 * 110_100 < 2 * 112_000 == result.flops_before
    assert result.kernels_after == 3  # AB is computed once and used twice
    assert graph_cost(result.graph, "flops").flops == result.flops_after
    values = random_values(graph)
    for x, y in zip(
        evaluate(graph, values, precision="f64"),
        evaluate(result.graph, values, precision="f64"),
    ):
        np.testing.assert_allclose(x, y, rtol=1e-10)
    # Greedy alone keeps the per-output optima (A(BC) and (AB)D) and pays AB once.
    greedy = optimize_graph(graph, target="flops", limits=Limits(ilp_enodes=0))
    assert greedy.extraction == "greedy" and greedy.flops_after == 2 * 112_000
    assert greedy.kernels_after == 4


def test_cycles_are_never_extracted_and_programs_are_infinite():
    # X = x | mt(Y); Y = mt(X): the cycle X -> Y -> X must not be chosen.
    p = problem(
        {"X": [(1, ()), (0, ("Y",))], "Y": [(1, ("X",))], "R": [(2, ("Y",))]}, ("R",)
    )
    assert count_programs(p) is None
    for choice in (greedy_dag(p), ilp_dag(p, 10)[0]):
        assert needed_classes(choice, p.roots) == ["X", "Y", "R"]
        assert choice["X"].key == "X/0"
    assert extract(p).cost == 4


def test_program_count_is_an_exact_big_integer():
    # 100 levels, two e-nodes per level each using the level below: 2**100 programs.
    spec = {"L0": [(1, ()), (2, ())]}
    for level in range(1, 100):
        spec[f"L{level}"] = [(1, (f"L{level - 1}",)), (3, (f"L{level - 1}",))]
    p = problem(spec, ("L99",))
    assert count_programs(p) == 2**100
    assert count_programs(problem(spec, ("L99", "L10"))) == 2**100 * 2**11


@pytest.mark.parametrize("seed", range(30))
def test_ilp_is_exact_and_greedy_is_never_better_on_random_egraphs(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 7))
    spec: dict[str, list] = {}
    for i in range(n):
        nodes = []
        for _ in range(int(rng.integers(1, 3))):
            arity = int(rng.integers(0, 3)) if i else 0
            # Mostly operands from lower e-classes; sometimes a back edge (a cycle).
            kids = tuple(
                (
                    f"c{int(rng.integers(0, n))}"
                    if rng.random() < 0.15
                    else f"c{int(rng.integers(0, max(i, 1)))}"
                )
                for _ in range(arity)
            )
            nodes.append((float(rng.integers(1, 10)), kids))
        spec[f"c{i}"] = nodes
    spec["c0"].append((float(rng.integers(1, 10)), ()))  # a leaf always exists
    roots = tuple(
        dict.fromkeys(
            f"c{int(rng.integers(0, n))}" for _ in range(int(rng.integers(1, 3)))
        )
    )
    p = problem(spec, roots)
    optimum = brute_force(p)
    if optimum == float("inf"):
        with pytest.raises(ValueError, match="no finite program"):
            extract(p)
        return
    choice, status = ilp_dag(p, time_limit=10)
    assert status == "optimal"
    assert dag_cost(choice, roots) == pytest.approx(optimum)
    assert dag_cost(greedy_dag(p), roots) >= optimum - 1e-9
    assert extract(p).cost == pytest.approx(optimum)


def test_ilp_timeout_falls_back_to_greedy():
    # A 16-matrix chain plus a second output sharing a sub-product: not tree-like, so the ILP
    # runs; on the roofline target its near-ties take HiGHS far longer than 0.2 s.
    rng = np.random.default_rng(16)
    dims = [int(d) for d in rng.integers(1, 257, 17)]
    ms = [Input(f"M{i}", (dims[i], dims[i + 1])) for i in range(16)]
    product = ms[0]
    for m in ms[1:]:
        product = product @ m
    graph = Graph.of(product, ms[3] @ ms[4])
    result = optimize_graph(graph, target="h100", limits=Limits(ilp_seconds=0.2))
    assert result.extraction == "greedy" and result.ilp_status == "timeout"
    assert not result.extraction_optimal
    assert result.cost_after <= result.cost_before


def test_program_count_saturates_at_the_cap_quickly():
    # Each level uses the level below twice, so the exact count's digits double per level:
    # 60 levels would be a number of about 2**60 digits. The count stops at the cap.
    spec = {"L0": [(1, ()), (2, ())]}
    for level in range(1, 60):
        below = f"L{level - 1}"
        spec[f"L{level}"] = [(1, (below, below)), (3, (below,))]
    p = problem(spec, ("L59",))
    assert count_programs(p) == PROGRAM_COUNT_CAP
