"""Contraction networks: chains of products seen through their transposes and reshapes.

torch-mlir writes `A @ B @ C @ D` as three matmuls in left-to-right order and
`einsum("ik,kj,jl,lm->im", ...)` as batch_matmuls of size-1 batches wrapped in
expand_shape / transpose / collapse_shape glue. Matmul associativity reaches every order of the
first; the second is an einsum network behind reshapes, and only as a network can the
e-graph's contraction rules try every contraction order. `lift_networks(graph)` replaces each
maximal tree of single-use products (matmul, contract) and layout glue (transpose, reshape,
scale) that contains at least two products and some glue or einsum by one n-ary `Contract`,
followed by the reshape (and scale) that gives the original value's layout. The tree's top
may itself be glue (the transpose and reshapes torch-mlir puts after the last product), which
then becomes part of the network's output layout instead of a copy kernel.

Each value of such a tree is described by a `View`: the leaf tensors it contracts, each with
one index letter per axis, and, for each of its own axes, the tuple of letters that axis
merges in row-major order (an axis of size 1 may merge none). A reshape is a regrouping of the
letters, possible when the new axes fall on letter boundaries; a transpose permutes the axes;
a product unifies the letters of the contracted and batch axes of its operands. Anything else
(broadcasting batch axes, a reshape that splits a letter, more than 52 letters) ends the
tree: the value stays as it was.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from mirage_mlir.passes.eqsat.graph import (
    LETTERS,
    Contract,
    Graph,
    Node,
    Reshape,
    Scale,
    make_node,
    parse_spec,
)
from mirage_mlir.passes.eqsat.kinds import KINDS

#: Node kinds a network is built through: those whose record gives their view (`network`).
NETWORK_KINDS = frozenset(k.name for k in KINDS.values() if k.network is not None)
PRODUCT_KINDS = frozenset(k.name for k in KINDS.values() if k.contraction)

_fresh = itertools.count()


class _NotANetwork(Exception):
    """The value cannot be described as a view of its tree; keep it as it is."""


@dataclass
class View:
    """A value as an einsum network over leaf tensors (see the module docstring)."""

    factors: list[tuple[Node, tuple[int, ...]]]
    axes: list[tuple[int, ...]]
    sizes: dict[int, int]
    scale: float = 1.0
    products: int = 0

    def renamed(self, mapping: dict[int, int]) -> View:
        """The same view with letters replaced by `mapping`."""

        def sub(letters: tuple[int, ...]) -> tuple[int, ...]:
            return tuple(mapping.get(x, x) for x in letters)

        sizes = {mapping.get(x, x): s for x, s in self.sizes.items()}
        return View(
            [(leaf, sub(ls)) for leaf, ls in self.factors],
            [sub(a) for a in self.axes],
            sizes,
            self.scale,
            self.products,
        )


def leaf_view(node: Node) -> View:
    """A tensor as a network of itself, with fresh letters."""
    letters = tuple(next(_fresh) for _ in node.shape)
    return View(
        [(node, letters)], [(x,) for x in letters], dict(zip(letters, node.shape))
    )


def _nonunit(view: View, letters: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(x for x in letters if view.sizes[x] != 1)


def reshape_view(view: View, shape: tuple[int, ...]) -> View:
    """Regroup the letters of `view` into the axes of `shape`."""
    stream = [x for axis in view.axes for x in _nonunit(view, axis)]
    axes: list[tuple[int, ...]] = []
    for dim in shape:
        group: list[int] = []
        size = 1
        while size < dim and stream:
            size *= view.sizes[stream[0]]
            group.append(stream.pop(0))
        if size != dim:
            raise _NotANetwork
        axes.append(tuple(group))
    if stream:
        raise _NotANetwork
    return View(view.factors, axes, view.sizes, view.scale, view.products)


def _unify(
    a: View,
    axis_a: tuple[int, ...],
    b: View,
    axis_b: tuple[int, ...],
    mapping: dict[int, int],
) -> None:
    """Extend `mapping` (letters of b -> letters of a) so that two axes become the same."""
    la, lb = _nonunit(a, axis_a), _nonunit(b, axis_b)
    if len(la) != len(lb) or any(a.sizes[x] != b.sizes[y] for x, y in zip(la, lb)):
        raise _NotANetwork
    for x, y in zip(la, lb):
        if mapping.setdefault(y, x) != x:
            raise _NotANetwork


# The view of a node of each kind a network goes through, from its operands' views (named by
# the kind's `network`).


def view_of_matmul(node: Node, operands: list[View]) -> View:
    """A matmul: the letters of its contracted and batch axes unified."""
    a, b = operands
    if len(a.axes) != len(b.axes):
        raise _NotANetwork  # broadcasting batch axes
    mapping: dict[int, int] = {}
    _unify(a, a.axes[-1], b, b.axes[-2], mapping)
    for axis_a, axis_b in zip(a.axes[:-2], b.axes[:-2]):
        _unify(a, axis_a, b, axis_b, mapping)
    b = b.renamed(mapping)
    axes = a.axes[:-1] + [b.axes[-1]]
    return View(
        a.factors + b.factors,
        axes,
        {**b.sizes, **a.sizes},
        a.scale * b.scale,
        a.products + b.products + 1,
    )


def view_of_contract(node: Node, operands: list[View]) -> View:
    """An einsum: the letters its spec shares unified."""
    layouts, out = parse_spec(node.attrs[0], len(operands))
    letter_axes: dict[str, tuple[View, tuple[int, ...]]] = {}
    renamed_views: list[View] = []
    for layout, view in zip(layouts, operands):
        mapping: dict[int, int] = {}
        for letter, axis in zip(layout, view.axes):
            if letter in letter_axes:
                other, other_axis = letter_axes[letter]
                _unify(other, other_axis, view, axis, mapping)
            else:
                letter_axes[letter] = (view, axis)
        renamed = view.renamed(mapping)
        for letter, axis in zip(layout, renamed.axes):
            if letter_axes[letter][0] is view:
                letter_axes[letter] = (renamed, axis)
        renamed_views.append(renamed)
    sizes: dict[int, int] = {}
    for v in renamed_views:
        sizes.update(v.sizes)
    return View(
        [f for v in renamed_views for f in v.factors],
        [letter_axes[c][1] for c in out],
        sizes,
        math.prod(v.scale for v in renamed_views),
        sum(v.products for v in renamed_views) + 1,
    )


def view_of_transpose(node: Node, operands: list[View]) -> View:
    """A transpose: its operand's axes permuted."""
    (v,) = operands
    return View(
        v.factors, [v.axes[p] for p in node.attrs[0]], v.sizes, v.scale, v.products
    )


def view_of_reshape(node: Node, operands: list[View]) -> View:
    """A reshape: its operand's letters regrouped."""
    return reshape_view(operands[0], node.shape)


def view_of_scale(node: Node, operands: list[View]) -> View:
    """A scaling: its operand's view with the scale multiplied."""
    (v,) = operands
    return View(v.factors, v.axes, v.sizes, v.scale * node.attrs[0], v.products)


@cache
def _view_function(kind: str) -> Callable[[Node, list[View]], View]:
    return KINDS[kind].network_view()


def materialise(view: View, node: Node, rebuild) -> Node:
    """One n-ary Contract (then reshape and scale) computing what `view` describes."""
    letters = sorted({x for _, ls in view.factors for x in ls})
    if len(letters) > len(LETTERS):
        raise _NotANetwork
    name = {x: LETTERS[i] for i, x in enumerate(letters)}
    out_letters = [x for axis in view.axes for x in _nonunit(view, axis)]
    if len(set(out_letters)) != len(out_letters):
        raise _NotANetwork
    spec = ",".join("".join(name[x] for x in ls) for _, ls in view.factors)
    spec += "->" + "".join(name[x] for x in out_letters)
    value: Node = Contract(tuple(rebuild(leaf) for leaf, _ in view.factors), spec)
    if value.shape != node.shape:
        value = Reshape(value, node.shape)
    if view.scale != 1.0:
        value = Scale(value, view.scale)
    if value.type != node.type:
        raise _NotANetwork
    return value


def lift_networks(graph: Graph) -> Graph:
    """The graph with every tree of two or more single-use products made one einsum network."""
    uses: dict[int, int] = {}
    for node in graph.nodes():
        for operand in node.operands:
            uses[id(operand)] = uses.get(id(operand), 0) + 1
    for out in graph.outputs:
        uses[id(out)] = uses.get(id(out), 0) + 1

    def inner(node: Node) -> bool:
        return node.kind in NETWORK_KINDS and uses.get(id(node), 0) == 1

    def view_of(node: Node, top: bool) -> View:
        if node.kind not in NETWORK_KINDS or not (top or inner(node)):
            return leaf_view(node)
        operands = [view_of(o, False) for o in node.operands]
        return _view_function(node.kind)(node, operands)

    rebuilt: dict[int, Node] = {}

    def rebuild(node: Node) -> Node:
        # Iterative post-order: graphs can be deep.
        stack = [node]
        while stack:
            current = stack[-1]
            if id(current) in rebuilt:
                stack.pop()
                continue
            pending = [o for o in current.operands if id(o) not in rebuilt]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            rebuilt[id(current)] = _rebuild_one(current)
        return rebuilt[id(node)]

    def _rebuild_one(node: Node) -> Node:
        if node.kind in NETWORK_KINDS and not inner_of_network(node):
            try:
                view = view_of(node, True)
                if view.products >= 2 and needs_network(node):
                    return materialise(view, node, rebuild)
            except _NotANetwork:
                pass
        operands = [rebuilt[id(o)] for o in node.operands]
        if all(new is old for new, old in zip(operands, node.operands)):
            return node
        return make_node(node.kind, node.attrs, operands)

    def needs_network(root: Node) -> bool:
        """Whether the tree has glue (a reshape) or an einsum that matmul rules cannot see through.

        A tree of matmuls, transposes and scales is left alone: associativity and transpose
        rules already reach all its orders, with far fewer e-nodes than an n-ary network.
        """
        stack = [root]
        while stack:
            node = stack.pop()
            if node.kind in ("reshape", "contract"):
                return True
            stack.extend(o for o in node.operands if inner(o))
        return False

    consumers: dict[int, list[Node]] = {}
    for node in graph.nodes():
        for operand in node.operands:
            consumers.setdefault(id(operand), []).append(node)

    def inner_of_network(node: Node) -> bool:
        """Whether `node` is absorbed by a single-use chain into a product above it."""
        current = node
        while inner(current):
            (user,) = consumers.get(id(current), [None])[:1] or [None]
            if user is None or user.kind not in NETWORK_KINDS:
                return False
            if user.kind in PRODUCT_KINDS:
                return True
            current = user
        return False

    outputs = tuple(rebuild(out) for out in graph.outputs)
    inputs = tuple(rebuilt.get(id(i), i) for i in graph.inputs)
    return Graph(inputs, outputs)
