"""Numerical stability in extraction: an unstable softmax form is never chosen.

`exp` overflows float32 above about 88.7, so exp(x) / sum(exp(x)) is NaN for inputs that the
max-subtracted form exp(x - max(x)) / sum(exp(x - max(x))) (and the `softmax` node, which is
that form) handles. Both are in one e-class once the softmax ruleset has run, and on cost alone
extraction could pick either. So an e-node is *unstable* when it is

    exp(y), where y is not known to be bounded above, and the exp's e-class is summed by a
    `reduce` sum e-node (it is the numerator or the normaliser of a softmax-shaped ratio);

y is known bounded above when its e-class holds `y' - reduce_max(y')` over the same y' (at most
0), or is a splat constant. Extraction adds `instability_penalty(target)` to the cost of every
unstable e-node: far above any real program's cost, so a stable alternative in the e-graph is
always preferred, while a program with no stable alternative is still extracted (it is what
the user wrote).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mirage_mlir.passes.eqsat.cost import Target
    from mirage_mlir.passes.eqsat.serialized import EGraphView

#: The penalty in seconds (an hour: no kernel costs that) and in FLOPs (the "flops" target).
PENALTY_SECONDS = 3600.0
PENALTY_FLOPS = 10**18


def instability_penalty(target: Target) -> float | int:
    """The cost added to an unstable e-node on `target`."""
    return PENALTY_FLOPS if target.objective == "flops" else PENALTY_SECONDS


def bounded_above(view: EGraphView) -> set[str]:
    """E-classes whose values are known bounded above (see the module docstring)."""
    maxima: dict[str, set[str]] = {}
    for eclass, nodes in view.classes.items():
        for node in nodes:
            if node.kind == "reduce" and node.attrs[0] == "max":
                maxima.setdefault(eclass, set()).add(node.children[0])
    bounded = set()
    for eclass, nodes in view.classes.items():
        for node in nodes:
            if node.kind == "full":
                bounded.add(eclass)
            elif node.kind == "elementwise" and node.attrs[0] == "sub":
                x, m = node.children
                if x in maxima.get(m, ()):
                    bounded.add(eclass)
    return bounded


def unstable_enodes(view: EGraphView) -> set[str]:
    """The ids of the unstable e-nodes of `view` (see the module docstring)."""
    summed = {
        node.children[0]
        for nodes in view.classes.values()
        for node in nodes
        if node.kind == "reduce" and node.attrs[0] == "sum"
    }
    bounded = bounded_above(view)
    return {
        node.id
        for eclass, nodes in view.classes.items()
        if eclass in summed
        for node in nodes
        if node.kind == "elementwise"
        and node.attrs[0] == "exp"
        and node.children[0] not in bounded
    }


def unstable_nodes(graph) -> list:
    """The unstable exp nodes of a Graph, by the definition of the module docstring."""
    nodes = graph.nodes()
    summed = {
        id(n.operands[0]) for n in nodes if n.kind == "reduce" and n.attrs[0] == "sum"
    }

    def bounded(y) -> bool:
        if y.kind == "full":
            return True
        if y.kind == "elementwise" and y.attrs[0] == "sub":
            x, m = y.operands
            while m.kind in ("reshape", "broadcast"):  # the max, with its axis restored
                m = m.operands[0]
            return m.kind == "reduce" and m.attrs[0] == "max" and m.operands[0] is x
        return False

    return [
        n
        for n in nodes
        if id(n) in summed
        and n.kind == "elementwise"
        and n.attrs[0] == "exp"
        and not bounded(n.operands[0])
    ]


def prefer_stable(programs: list) -> list[int]:
    """Indices of the programs free of unstable nodes, or of all when none is."""
    stable = [i for i, program in enumerate(programs) if not unstable_nodes(program)]
    return stable or list(range(len(programs)))
