"""Choosing among equivalent programs by the cost of their kernels.

Extraction prices each e-node as its own kernel; the program that runs is the graph's kernel
formation (fusion.py). `choose_program` compares a few equivalent candidate graphs (the
extracted program, an extraction that anticipates fusion, the input graph) by their fused
cost, so the choice is sound (every candidate computes the same function) and never worse
than any candidate.

Numerical stability comes first, as in extraction (stability.py): a candidate with fewer
unstable nodes (an exp of an input not bounded above, the log of a probability that can
underflow) beats one with more, whatever their costs.
"""

from __future__ import annotations

from typing import Sequence

from mirage_mlir.passes.eqsat.cost import GraphCost, Target, get_target
from mirage_mlir.passes.eqsat.fusion import Kernel, form_kernels, fused_cost
from mirage_mlir.passes.eqsat.graph import Graph


def unstable_exps(graph: Graph) -> int:
    """How many unstable exp/log nodes `graph` computes (stability.instability)."""
    from mirage_mlir.passes.eqsat.stability import instability

    return instability(graph)


def choose_program(
    candidates: Sequence[Graph], target: str | Target = "h100"
) -> tuple[int, tuple[Kernel, ...], GraphCost]:
    """The index of the best candidate, its kernels and their cost; the first wins ties.

    Candidates with fewer unstable nodes win; among those, the least fused cost wins.
    """
    if not candidates:
        raise ValueError("choose_program needs at least one candidate")
    tgt = get_target(target)
    best = None
    for i, graph in enumerate(candidates):
        kernels = form_kernels(graph, tgt)
        cost = fused_cost(kernels, tgt)
        key = (unstable_exps(graph), cost.cost)
        if best is None or key < best[0]:
            best = (key, i, kernels, cost)
    return best[1], best[2], best[3]
