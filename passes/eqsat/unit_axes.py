"""Transposes of high rank whose extra axes have size 1, brought within the encoding's reach.

torch's einsum (without opt_einsum) aligns every operand to the full list of index letters
before contracting, so an einsum over 52 letters arrives from torch-mlir as rank-52 tensors,
mostly of size-1 axes, moved about by rank-52 transposes. The e-graph language packs a
permutation into 4 bits per axis (language.MAX_PERMUTE_RANK, 15 axes), so such a graph could
not be optimised at all.

Moving an axis of size 1 moves no data. A transpose of x is therefore the reshape of x to its
axes of size above 1, the permutation of those axes alone, and the reshape to the result's
shape; when those axes keep their order, the whole transpose is one reshape (a view):

    transpose(x: 1x2x1x3, perm 2,3,0,1) -> 1x3x1x2  ==  reshape(transpose(reshape(x, 2x3), 1,0), 1x3x1x2)

`squeeze_transposes` rewrites the transposes of rank above MAX_PERMUTE_RANK this way (leaving
any other graph exactly as it was); one whose axes above size 1 are still too many stays, and
encoding reports it.
"""

from __future__ import annotations

from mirage_mlir.passes.eqsat.graph import Graph, Node, Reshape, Transpose, make_node
from mirage_mlir.passes.eqsat.patterns import permutation


def squeezed_transpose(node: Node, operand: Node) -> Node:
    """`transpose(operand, perm)` (the node's permutation) without its axes of size 1."""
    (perm,) = node.attrs
    shape = operand.shape
    kept = [axis for axis in range(len(shape)) if shape[axis] != 1]
    order = [axis for axis in perm if shape[axis] != 1]
    if order == kept:
        return Reshape(operand, node.shape)
    squeezed = Reshape(operand, tuple(shape[axis] for axis in kept))
    moved: Node = Transpose(squeezed, tuple(kept.index(axis) for axis in order))
    return Reshape(moved, node.shape) if moved.shape != node.shape else moved


def _too_deep(node: Node, max_rank: int) -> bool:
    """Whether `node` is a transpose of rank above `max_rank`."""
    perm = permutation(node)
    return perm is not None and len(perm) > max_rank


def squeeze_transposes(graph: Graph, max_rank: int | None = None) -> Graph:
    """The graph with every transpose of rank above `max_rank` (by default the language's
    MAX_PERMUTE_RANK) rewritten without its axes of size 1; `graph` itself if there is none.
    """
    if max_rank is None:
        from mirage_mlir.passes.eqsat.language import MAX_PERMUTE_RANK

        max_rank = MAX_PERMUTE_RANK
    nodes = graph.nodes()
    if not any(_too_deep(n, max_rank) for n in nodes):
        return graph
    rebuilt: dict[int, Node] = {}
    for node in nodes:  # operands come first
        operands = [rebuilt[id(o)] for o in node.operands]
        if _too_deep(node, max_rank):
            rebuilt[id(node)] = squeezed_transpose(node, operands[0])
        elif all(new is old for new, old in zip(operands, node.operands)):
            rebuilt[id(node)] = node
        else:
            rebuilt[id(node)] = make_node(node.kind, node.attrs, operands)
    inputs = tuple(rebuilt.get(id(i), i) for i in graph.inputs)
    return Graph(inputs, tuple(rebuilt[id(o)] for o in graph.outputs))
