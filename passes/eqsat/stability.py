"""Numerical stability in extraction and choice: an overflowing exp/log form is never chosen
where the e-graph holds a stable one.

`exp` overflows float32 above about 88.7 and float16 above about 11.09, and the overflow
spreads: inf / inf is NaN in a softmax ratio, log(inf) is inf in a log-sum-exp, where the
max-subtracted forms are exact. A node (of a Graph) or an e-node is *unstable* when it is

- `exp(y)`, anywhere in the program, where y is not known to be bounded above; or
- `log(p)` where p is a probability that can underflow to 0 although its log is a moderate
  number: p is a `softmax`, or a ratio exp(..) / s (log(0) = -inf where the log-softmax
  x - max - log(sum(exp(x - max))) is finite).

y is known bounded above when it is a splat constant, or y' - m where m is a max reduction
of y' itself that keeps the reduced axes (or is reshaped back to them, or broadcast from
them): every element is then at most 0. Recognised attention, softmax and the norms are
stable nodes (their exps are inside, max-subtracted).

How the count is used:

- extraction adds `instability_penalty(bound)` to the cost of every unstable e-node, with
  `bound` an upper bound on the cost of any program of the e-graph: so a program with fewer
  unstable nodes always wins, and costs decide among programs with as many. The penalty is
  relative to the e-graph's own costs (rather than a fixed hour), which keeps the exact
  extraction's scaled objective well conditioned where an unstable exp (a sigmoid's, say)
  has no stable alternative and is paid by every program alike;
- among candidate graphs (fusion_choice, optimize), fewer unstable nodes wins, then cost;
- a function is rewritten for "numerical stability" when the program has fewer unstable nodes
  than the input.

The patterns above are shapes of program (a max reduction, the broadcast of one, a softmax),
so this module names the kinds they are made of; the shared ones are in patterns.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from mirage_mlir.passes.eqsat.kinds import KINDS, Origin
from mirage_mlir.passes.eqsat.patterns import elementwise_op, through_reshapes

if TYPE_CHECKING:
    from mirage_mlir.passes.eqsat.graph import Graph, Node
    from mirage_mlir.passes.eqsat.serialized import EGraphView

_LAYOUT = ("reshape", "broadcast")

#: The kinds of splat constants (bounded above by their one value).
_SPLATS = frozenset(k.name for k in KINDS.values() if k.origin is Origin.SPLAT)


def instability_penalty(cost_bound: float | int) -> float | int:
    """The cost added to an unstable e-node, given an upper bound on any program's cost."""
    return 2 * cost_bound + 1


# --------------------------------------------------------------------------------------------
# E-graphs


def _maxima(view: EGraphView) -> dict[str, set[str]]:
    """For each e-class: the e-classes x it holds a max of, over axes it keeps (size 1)."""
    maxima: dict[str, set[str]] = {}
    for eclass, nodes in view.classes.items():
        for node in nodes:
            if node.kind == "reduce" and node.attrs[0] == "max" and node.attrs[2]:
                maxima.setdefault(eclass, set()).add(node.children[0])
    # A broadcast of such a max back to x's shape is still x's max.
    for eclass, nodes in view.classes.items():
        for node in nodes:
            if node.kind == "broadcast" and node.children[0] in maxima:
                maxima.setdefault(eclass, set()).update(maxima[node.children[0]])
    return maxima


def bounded_above(view: EGraphView) -> set[str]:
    """E-classes whose values are known bounded above (see the module docstring)."""
    maxima = _maxima(view)
    bounded = set()
    for eclass, nodes in view.classes.items():
        for node in nodes:
            if node.kind in _SPLATS:
                bounded.add(eclass)
            elif elementwise_op(node) == "sub":
                x, m = node.children
                if x in maxima.get(m, ()):
                    bounded.add(eclass)
    return bounded


def _may_underflow(view: EGraphView) -> set[str]:
    """E-classes holding a probability that can round to 0 (a softmax, exp(..) / s)."""
    exps = {
        eclass
        for eclass, nodes in view.classes.items()
        if any(elementwise_op(n) == "exp" for n in nodes)
    }
    return {
        eclass
        for eclass, nodes in view.classes.items()
        if any(
            n.kind == "softmax"
            or (elementwise_op(n) == "div" and n.children[0] in exps)
            for n in nodes
        )
    }


def unstable_enodes(view: EGraphView) -> set[str]:
    """The ids of the unstable e-nodes of `view` (see the module docstring)."""
    bounded = bounded_above(view)
    underflowing = _may_underflow(view)
    unstable = set()
    for nodes in view.classes.values():
        for node in nodes:
            op = elementwise_op(node)
            if op == "exp" and node.children[0] not in bounded:
                unstable.add(node.id)
            elif op == "log" and node.children[0] in underflowing:
                unstable.add(node.id)
    return unstable


# --------------------------------------------------------------------------------------------
# Graphs


def _is_max_of(m: Node, y: Node) -> bool:
    """Whether m is a max reduction of y with the reduced axes kept (possibly broadcast back)."""
    if m.kind == "broadcast":
        m = m.operands[0]
    source = through_reshapes(m)
    if (
        source.kind != "reduce"
        or source.attrs[0] != "max"
        or source.operands[0] is not y
    ):
        return False
    rank = len(y.shape)
    axes = {a % rank for a in source.attrs[1]} if rank else set()
    kept = tuple(1 if i in axes else d for i, d in enumerate(y.shape))
    return tuple(m.shape) == kept


def _bounded(y: Node) -> bool:
    if y.kind in _SPLATS:
        return True
    if elementwise_op(y) == "sub":
        x, m = y.operands
        return _is_max_of(m, x)
    return False


def _underflows(p: Node) -> bool:
    while p.kind in _LAYOUT:
        p = p.operands[0]
    if p.kind == "softmax":
        return True
    return elementwise_op(p) == "div" and elementwise_op(p.operands[0]) == "exp"


def is_unstable(node: Node) -> bool:
    """Whether a graph node is unstable (see the module docstring)."""
    op = elementwise_op(node)
    if op == "exp":
        return not _bounded(node.operands[0])
    if op == "log":
        return _underflows(node.operands[0])
    return False


def unstable_nodes(graph: Graph) -> list[Node]:
    """The unstable nodes of a Graph, operands first."""
    return [n for n in graph.nodes() if is_unstable(n)]


def instability(graph: Graph) -> int:
    """How many unstable nodes `graph` computes."""
    return len(unstable_nodes(graph))


def prefer_stable(programs: Sequence[Graph]) -> list[int]:
    """Indices of the programs with the fewest unstable nodes."""
    counts = [instability(program) for program in programs]
    fewest = min(counts, default=0)
    return [i for i, count in enumerate(counts) if count == fewest]
