"""Choosing among equivalent programs by the cost of their kernels.

Extraction prices each e-node as its own kernel; the program that runs is the graph's kernel
formation (fusion.py). `choose_program` compares a few equivalent candidate graphs (the
extracted program, an extraction that anticipates fusion, the input graph) by their fused
cost, so the choice is sound (every candidate computes the same function) and never worse
than any candidate.

A numerically unstable softmax form loses to any stable candidate whatever its cost, as in
extraction (stability.py): here on the graph, an `exp` summed by a `reduce` sum is unstable
unless its operand is a splat or `y - max(y)` with the max reduced from the same y.
"""

from __future__ import annotations

from typing import Sequence

from mirage_mlir.passes.eqsat.cost import GraphCost, Target, get_target
from mirage_mlir.passes.eqsat.fusion import Kernel, form_kernels, fused_cost
from mirage_mlir.passes.eqsat.graph import Graph, Node


def _through_layout(node: Node) -> Node:
    """The value a chain of reshapes and broadcasts repeats."""
    while node.kind in ("reshape", "broadcast"):
        node = node.operands[0]
    return node


def _bounded_above(node: Node) -> bool:
    if node.kind == "full":
        return True
    if node.kind == "elementwise" and node.attrs == ("sub",):
        y, m = node.operands
        m = _through_layout(m)
        return m.kind == "reduce" and m.attrs[0] == "max" and m.operands[0] is y
    return False


def unstable_exps(graph: Graph) -> int:
    """How many exp nodes of `graph` feed a sum without a bounded operand."""
    summed = {
        id(_through_layout(n.operands[0]))
        for n in graph.nodes()
        if n.kind == "reduce" and n.attrs[0] == "sum"
    }
    return sum(
        1
        for n in graph.nodes()
        if n.kind == "elementwise"
        and n.attrs == ("exp",)
        and id(n) in summed
        and not _bounded_above(n.operands[0])
    )


def choose_program(
    candidates: Sequence[Graph], target: str | Target = "h100"
) -> tuple[int, tuple[Kernel, ...], GraphCost]:
    """The index of the best candidate, its kernels and their cost; the first wins ties.

    Stable candidates beat unstable ones; among those, the least fused cost wins.
    """
    if not candidates:
        raise ValueError("choose_program needs at least one candidate")
    tgt = get_target(target)
    best = None
    for i, graph in enumerate(candidates):
        kernels = form_kernels(graph, tgt)
        cost = fused_cost(kernels, tgt)
        key = (unstable_exps(graph) > 0, cost.cost)
        if best is None or key < best[0]:
            best = (key, i, kernels, cost)
    return best[1], best[2], best[3]
