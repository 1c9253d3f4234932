"""Reading a saturated e-graph back: e-classes, e-nodes, types, and the chosen program.

egglog's `_serialize().to_json()` lists every e-node with its op, its e-class and its children
(as node ids). `read_egraph` turns that into an `EGraphView` of the tensor e-classes only:
each e-node carries the graph kind and attributes it stands for (the contraction layouts and
operand lists are read out of their Idx/Net/Args structure) and the e-classes of its tensor
operands. The roots are found through the `is_output` relation (the JSON's root list is empty).

`export_json` is that export, after dropping the rows of the `part` and `split` relations
(every split of every factor list of an einsum network: most of a network's e-graph, which
the reader skips anyway). Dropping them takes about 0.5 us a row and saves about 20 us a row
of serialisation and parsing: 2 s for the 95k rows a 64-operand network reaches.

`infer_types` gives every e-class its TensorType from the leaves upwards, and raises
`UnsoundEGraph` when two e-nodes of one e-class disagree, which only an unsound rule can cause.
`decode` turns a choice of one e-node per e-class into a Graph.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Callable, Mapping

from mirage_mlir.passes.eqsat.graph import (
    Graph,
    GraphError,
    Input,
    MatMul,
    Node,
    TensorType,
    make_node,
    result_type,
    swap_last_two,
)
from mirage_mlir.passes.eqsat.kinds import DECODERS
from mirage_mlir.passes.eqsat.language import mask_letters
from mirage_mlir.passes.eqsat.patterns import is_matmul_einsum
from mirage_mlir.passes.eqsat.patterns import matmul_layout  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    from egglog import EGraph, Ruleset

#: Kinds built by rules whose side conditions are about shapes. Those rules are written
#: shape-agnostically, so they also fire where the new e-node does not type-check (attention
#: over operands of different ranks, a concatenation of pieces of different shapes); such an
#: e-node is dropped when e-classes are typed. This is sound because each such rule is
#: an equality wherever its right side is well typed (see the rule modules).
GUARDED_KINDS = frozenset(
    {"softmax", "attention", "rms_norm", "layer_norm", "batch_norm", "concat", "take"}
)


@cache
def _drop_splits() -> Ruleset:
    """A ruleset deleting every row of the `part` and `split` relations (built once)."""
    from egglog import delete, rule, ruleset, vars_

    from mirage_mlir.passes.eqsat.language import Net, part, split

    a, b, c = vars_("a b c", Net)
    return ruleset(
        rule(part(a, b, c)).then(delete(part(a, b, c))),
        rule(split(a, b, c)).then(delete(split(a, b, c))),
        name="drop_splits",
    )


def export_json(egraph: EGraph) -> str:
    """egglog's JSON export of a saturated `egraph`, its split relations dropped first (see
    the module docstring; the e-graph cannot be saturated further afterwards)."""
    egraph.run(1, ruleset=_drop_splits())
    return egraph._serialize().to_json()


class UnsoundEGraph(AssertionError):
    """Two e-nodes of one e-class have different types: a rewrite rule is wrong."""


@dataclass(frozen=True)
class ENode:
    """A tensor e-node: the graph kind it stands for, its attributes and operand e-classes.

    kind is a graph node kind, or "mt" (swap the two innermost axes, whose permutation depends
    on the operand's rank and becomes a "transpose" once types are known), or "take" (piece
    `index` of a concatenation along `axis`, attrs (index, axis, piece e-classes); a "slice"
    once the pieces' types are known).
    """

    id: str
    eclass: str
    kind: str
    attrs: tuple
    children: tuple[str, ...]


@dataclass
class EGraphView:
    """The tensor part of a serialized e-graph."""

    classes: dict[str, list[ENode]]
    roots: tuple[str, ...]
    types: dict[str, TensorType] = field(default_factory=dict)

    @property
    def enodes(self) -> int:
        """The number of tensor e-nodes."""
        return sum(len(nodes) for nodes in self.classes.values())

    def signature(self, node: ENode) -> tuple[str, tuple]:
        """The node's graph kind and attributes, resolving the forms of ENODE_FORMS."""
        form = ENODE_FORMS.get(node.kind)
        if form is not None:
            return form.kind, form.attrs(self.types, node)
        return node.kind, node.attrs


@dataclass(frozen=True)
class ENodeForm:
    """An e-node kind that is no graph kind: the graph kind it stands for, and its attributes
    as a function of the types of the e-classes (known once e-classes are typed)."""

    kind: str
    attrs: Callable[[Mapping[str, TensorType], ENode], tuple]


def _mt_permutation(types: Mapping[str, TensorType], node: ENode) -> tuple:
    """The transpose attributes of an "mt" e-node, from its operand's rank."""
    return (swap_last_two(len(types[node.children[0]].shape)),)


def _take_slice(types: Mapping[str, TensorType], node: ENode) -> tuple:
    """The slice attributes of a "take" e-node, from the types of x and of the pieces."""
    index, axis, pieces = node.attrs
    whole = types[node.children[0]].shape
    rank = len(whole)
    if not -rank <= axis < rank or not 0 <= index < len(pieces):
        raise GraphError(f"take: piece {index} on axis {axis} of a rank-{rank} tensor")
    axis %= rank
    sizes = [types[p].shape for p in pieces]
    if any(len(shape) != rank for shape in sizes):
        raise GraphError(f"take: pieces {sizes} do not have the rank of {whole}")
    offsets = [0] * rank
    offsets[axis] = sum(shape[axis] for shape in sizes[:index])
    size = list(whole)
    size[axis] = sizes[index][axis]
    return (tuple(offsets), tuple(size), (1,) * rank)


#: The e-node kinds that are no graph kinds (see ENode), by name.
ENODE_FORMS: dict[str, ENodeForm] = {
    "mt": ENodeForm("transpose", _mt_permutation),
    "take": ENodeForm("slice", _take_slice),
}


def _literal(raw: dict, node_id: str):
    text = raw[node_id]["op"]
    if text.startswith('"'):
        return json.loads(text)
    try:
        return int(text)
    except ValueError:
        return float(text)


def read_egraph(
    json_text: str, leaves: Mapping[tuple[str, str], TensorType]
) -> EGraphView:
    """Parse egglog's JSON export; `leaves` holds the types of inputs, constants, opaque ops."""
    raw = json.loads(json_text)["nodes"]
    classes: dict[str, list[ENode]] = {}
    roots: dict[int, str] = {}

    def eclass(node_id: str) -> str:
        return raw[node_id]["eclass"]

    def layout(node_id: str) -> str:
        node = raw[node_id]
        if node["op"] == "Idx.sorted":
            return mask_letters(_literal(raw, node["children"][0]))
        return _literal(raw, node["children"][0])

    def listed(node_id: str, with_layouts: bool) -> tuple[list[str], list[str]]:
        items, layouts = [], []
        while raw[node_id]["op"].endswith(".cons"):
            children = raw[node_id]["children"]
            items.append(eclass(children[0]))
            if with_layouts:
                layouts.append(layout(children[1]))
            node_id = children[-1]
        return items, layouts

    for node_id, node in raw.items():
        op, children = node["op"], node["children"]
        if op == "is_output":
            roots[_literal(raw, children[1])] = eclass(children[0])
            continue
        if not op.startswith("Tensor."):
            continue
        constructor = op[len("Tensor.") :]
        decoder = DECODERS.get(constructor) or _EGRAPH_ONLY_DECODERS.get(constructor)
        if decoder is None:
            raise GraphError(
                f"the e-graph has an e-node {op!r} this reader does not know"
            )
        kind, attrs, operands = decoder(
            _Children(raw, children, eclass, layout, listed, leaves)
        )
        enode = ENode(node_id, eclass(node_id), kind, attrs, tuple(operands))
        classes.setdefault(enode.eclass, []).append(enode)
    if sorted(roots) != list(range(len(roots))):
        raise GraphError(f"the e-graph marks outputs {sorted(roots)}; expected 0..n-1")
    return EGraphView(classes, tuple(roots[i] for i in range(len(roots))))


class _Children:
    """The children of one exported e-node, read for a kind's decoder (kinds.kind.ENodeChildren)."""

    def __init__(self, raw, children, eclass, layout, listed, leaves) -> None:
        self._raw, self._children = raw, children
        self._eclass, self._layout, self._listed, self._leaves = (
            eclass,
            layout,
            listed,
            leaves,
        )

    def __len__(self) -> int:
        return len(self._children)

    def literal(self, index: int):
        return _literal(self._raw, self._children[index])

    def eclass(self, index: int) -> str:
        return self._eclass(self._children[index])

    def tensors(self, index: int) -> list[str]:
        return self._listed(self._children[index], False)[0]

    def tensors_with_layouts(self, index: int) -> tuple[list[str], list[str]]:
        return self._listed(self._children[index], True)

    def layout(self, index: int) -> str:
        return self._layout(self._children[index])

    def leaf_type(self, kind: str, name: str) -> TensorType:
        if (kind, name) not in self._leaves:
            raise GraphError(f"the e-graph has {kind} {name!r} of unknown type")
        return self._leaves[(kind, name)]


#: Decoders of the e-nodes that stand for no kind of their own: piece `index` of a
#: concatenation (a "slice" once the pieces' types are known, see ENode).
_EGRAPH_ONLY_DECODERS = {
    "take": lambda e: (
        "take",
        (int(e.literal(1)), int(e.literal(3)), tuple(e.tensors(2))),
        [e.eclass(0)],
    ),
}


def infer_types(view: EGraphView) -> dict[str, TensorType]:
    """Type every e-class bottom-up; check that each e-class has exactly one type."""
    users: dict[str, list[ENode]] = {}
    waiting: dict[str, int] = {}
    ready: list[ENode] = []
    for nodes in view.classes.values():
        for node in nodes:
            waiting[node.id] = len(set(node.children))
            for child in set(node.children):
                users.setdefault(child, []).append(node)
            if not node.children:
                ready.append(node)
    types = view.types
    typed: set[str] = set()
    rejected = 0
    while ready:
        node = ready.pop()
        try:
            kind, attrs = view.signature(node)
            ty = result_type(kind, attrs, [types[c] for c in node.children])
        except GraphError:
            if node.kind not in GUARDED_KINDS:
                raise
            rejected += 1
            continue
        typed.add(node.id)
        known = types.get(node.eclass)
        if known is not None:
            if known != ty:
                raise UnsoundEGraph(
                    f"e-class {node.eclass} holds values of type {known} and {ty} ({kind} {attrs})"
                )
            continue
        types[node.eclass] = ty
        for user in users.get(node.eclass, ()):
            waiting[user.id] -= 1
            if waiting[user.id] == 0:
                ready.append(user)
    untyped = [c for c in view.classes if c not in types]
    if untyped and (not rejected or any(r not in types for r in view.roots)):
        raise GraphError(
            f"{len(untyped)} e-classes could not be typed (e.g. {untyped[0]})"
        )
    if rejected or untyped:
        # Drop the ill-typed e-nodes, the e-nodes that need them, and the emptied e-classes.
        view.classes = {
            c: [n for n in nodes if n.id in typed]
            for c, nodes in view.classes.items()
            if c in types
        }
    return types


def decode(
    view: EGraphView,
    choice: Mapping[str, ENode],
    inputs: tuple[Input, ...] | tuple[str, ...],
) -> Graph:
    """The Graph that `choice` (e-class -> chosen e-node) selects for the view's roots.

    `inputs` are the original graph's input names (or nodes), kept in order even when unused.
    A binary contraction laid out exactly as a (batched) matmul becomes a MatMul node.
    """
    built: dict[str, Node] = {}
    open_classes: set[str] = set()
    # Iterative post-order over chosen e-nodes (programs can be deep).
    stack: list[tuple[str, bool]] = [(root, False) for root in reversed(view.roots)]
    while stack:
        eclass, expanded = stack.pop()
        if eclass in built:
            continue
        node = choice[eclass]
        if not expanded:
            if eclass in open_classes:
                raise GraphError(
                    f"the chosen e-nodes form a cycle through e-class {eclass}"
                )
            open_classes.add(eclass)
            stack.append((eclass, True))
            stack.extend((c, False) for c in reversed(node.children) if c not in built)
            continue
        open_classes.discard(eclass)
        kind, attrs = view.signature(node)
        operands = [built[c] for c in node.children]
        if is_matmul_einsum(kind, attrs):
            built[eclass] = MatMul(*operands)
        else:
            built[eclass] = make_node(kind, attrs, operands)
    by_name = {n.name: n for n in built.values() if isinstance(n, Input)}
    graph_inputs = []
    for item in inputs:
        name = item if isinstance(item, str) else item.name
        if name in by_name:
            graph_inputs.append(by_name[name])
        elif isinstance(item, Input):
            graph_inputs.append(Input(item.name, item.shape, item.dtype))
        else:
            raise GraphError(f"input {name!r} is unused and its type is unknown")
    return Graph(tuple(graph_inputs), tuple(built[r] for r in view.roots))
