"""Ops with side effects in the term graph: leaves that keep the op, and what it reads, in place.

An op with side effects (effects.py) must stay exactly where it is, once. Recognition gives
each of its tensor results an Opaque leaf (no operands), so re-emission reuses the op's own
results and never clones or moves it. The values the op reads are computed before it by the
original ops, which therefore stay in the function too; where the graph also needs one of
those values, it reads that same value through a leaf instead of computing it a second time:

    %m = linalg.matmul ins(%a, %b ...)          stays: read by the call
    %s = func.call @log(%m)                     leaf `func.call#4:0`
    %r = linalg.add ins(%m, %s ...)             add(leaf `pinned:linalg.matmul#3:0`, leaf `func.call#4:0`)

`pin` records the leaves while the function is walked; `substitute_pinned` then replaces, in
the finished graph, every term a pinned op reads by its leaf (terms are shared, so an op
before the pinned one may use the same term).
"""

from __future__ import annotations

from xdsl.dialects.builtin import TensorType
from xdsl.ir import Operation, OpResult, SSAValue

from mirage_mlir.passes.eqsat.graph import Graph, Node, Opaque, make_node
from mirage_mlir.passes.recognize.state import RecognitionState

#: Node kinds that already name a value of the function rather than compute one.
_LEAF_KINDS = ("input", "constant")


def pin(state: RecognitionState, op: Operation, pinned: dict[int, Node]) -> None:
    """Make `op` (which has side effects) a leaf per tensor result; note the terms it reads.

    `pinned` maps id(term) -> the leaf that reads the op's operand in place of that term.
    """
    for value in _values_read(op, state):
        term = state.values[value]
        if term.kind in _LEAF_KINDS or not term.operands or id(term) in pinned:
            continue
        if not isinstance(value, OpResult):
            continue
        name = f"pinned:{value.op.name}#{state.number(value.op)}:{value.index}"
        leaf = Opaque(name, (), term.shape, term.dtype)
        state.opaque_ops[name] = (value.op, value.index)
        state.opaque_reasons[name] = f"read by '{op.name}', which has side effects: computed in place"
        pinned[id(term)] = leaf
    for index, result in enumerate(op.results):
        if isinstance(result.type, TensorType):
            state.make_opaque(op, index, (), f"'{op.name}' has side effects: kept in place")


def _values_read(op: Operation, state: RecognitionState) -> list[SSAValue]:
    """The tensor values with terms that `op` or an op nested in it reads, in first-use order."""
    found: dict[SSAValue, None] = {}
    for inner in op.walk():
        for value in inner.operands:
            if isinstance(value.type, TensorType) and value in state.values:
                found.setdefault(value, None)
    return list(found)


def substitute_pinned(graph: Graph, pinned: dict[int, Node]) -> Graph:
    """`graph` with every term of `pinned` (by id) replaced by its leaf."""
    if not pinned:
        return graph
    rebuilt: dict[int, Node] = {}
    for node in graph.nodes():
        if id(node) in pinned:
            rebuilt[id(node)] = pinned[id(node)]
            continue
        operands = [rebuilt[id(o)] for o in node.operands]
        if all(a is b for a, b in zip(operands, node.operands)):
            rebuilt[id(node)] = node
        else:
            rebuilt[id(node)] = make_node(node.kind, node.attrs, operands)
    return Graph(graph.inputs, tuple(rebuilt[id(o)] for o in graph.outputs))
