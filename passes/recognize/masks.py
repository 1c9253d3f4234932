"""Folding of compile-time mask subgraphs: causal masks as `causal_mask` nodes.

torch-mlir writes a causal mask as index arithmetic that depends on no function input (or,
once that arithmetic has been computed when the program is built, a weight holding the mask):

    %iota = linalg.generic ... outs(tensor<256xi64>) { linalg.index 0 ... }   (an Opaque node)
    %diff = sub(reshape(%iota, 1x256), reshape(%iota, 256x1))                 (j - i)
    %mask = and(ge(%diff, 1), dense<true>)                                   (j > i)
    %s    = where(%mask, -inf, scores)

The algebra cannot see that `%mask` is causal. `fold_causal_masks` finds each maximal subgraph
that reads no function input, evaluates it with NumPy (the opaque iota op through recognition's
interpreter, `opaque_evaluators`) when every value in it is small, and, when the value is a
causal mask in one of the forms of `language_nn.CAUSAL_MASKS` (after dropping leading unit
axes), replaces it by the matching `causal_mask` node (kinds/masks.py). Any other constant subgraph is left as it
was: folding it into a literal could make the program larger, not cheaper.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from xdsl.dialects.builtin import TensorType

from mirage_mlir.passes.eqsat.evaluate import evaluate
from mirage_mlir.passes.eqsat.graph import Graph, GraphError, Node, Reshape, make_node
from mirage_mlir.passes.eqsat.kinds import KINDS, Origin
from mirage_mlir.passes.eqsat.language_nn import causal_mask_leaf
from mirage_mlir.passes.eqsat.patterns import causal_form, elementwise_op
from mirage_mlir.passes.recognize.effects import has_side_effects
from mirage_mlir.passes.recognize.function import RecognizedFunction

#: The largest value (in elements) a folded subgraph may hold anywhere.
MAX_FOLD_ELEMENTS = 16 * 1024 * 1024


def _input_free(recognized: RecognizedFunction) -> dict[int, bool]:
    """Per node: whether its value is known at compile time (it reads no function input).

    The result of an op with side effects is not: evaluating it would run the effect (a
    call, a load) at compile time, and folding it could drop the op's place in the program.
    """
    known = recognized.constant_values
    free: dict[int, bool] = {}
    for node in recognized.graph.nodes():
        origin = KINDS[node.kind].origin
        if (
            origin is Origin.OPAQUE
            and node.attrs[0] in recognized.opaque_ops
            and not node.operands
        ):
            op, _ = recognized.opaque_ops[node.attrs[0]]
            # A leaf reading tensors the graph does not see (an op with side effects, or a
            # value such an op reads) is not compile-time.
            if has_side_effects(op) or any(
                isinstance(v.type, TensorType) for v in op.operands
            ):
                free[id(node)] = False
                continue
        if origin is Origin.ARGUMENT:
            free[id(node)] = False
        elif origin is Origin.CONSTANT:
            free[id(node)] = node.attrs[0] in known
        elif origin is Origin.SPLAT:
            free[id(node)] = True
        elif causal_form(node) is not None:
            free[id(node)] = False  # already named: nothing to fold
        else:
            # An opaque op without tensor operands (tensor.empty) is compile-time; one whose
            # scalar operands are arguments fails to evaluate and is then left alone.
            free[id(node)] = all(free[id(o)] for o in node.operands)
    return free


def _mask_form(value: np.ndarray, dtype: str) -> tuple[str, int, int] | None:
    """(form, queries, keys) when `value` is a causal mask of CAUSAL_MASKS, else None."""
    if value.ndim < 2 or any(d != 1 for d in value.shape[:-2]):
        return None
    matrix = value.reshape(value.shape[-2:])
    queries, keys = matrix.shape
    allowed = np.tril(np.ones((queries, keys), dtype=bool))
    if dtype == "i1":
        if np.array_equal(matrix, allowed):
            return "causal_allowed", queries, keys
        if np.array_equal(matrix, ~allowed):
            return "causal_future", queries, keys
        return None
    if dtype.startswith(("f", "bf")):
        if np.all(matrix[allowed] == 0) and np.all(np.isneginf(matrix[~allowed])):
            return "causal_additive", queries, keys
    return None


def _candidates(graph: Graph, free: dict[int, bool]) -> list[Node]:
    """The maximal compile-time values: computed nodes, and weights whose value is known (a
    mask already computed when the program was built, passes/fold_compile_time.py), used by
    a node that is not compile-time."""

    def candidate(node: Node) -> bool:
        return free[id(node)] and (
            bool(node.operands) or KINDS[node.kind].origin is Origin.CONSTANT
        )

    found: dict[int, Node] = {}
    for node in graph.nodes():
        if free[id(node)]:
            continue
        for operand in node.operands:
            if candidate(operand):
                found.setdefault(id(operand), operand)
    for node in graph.outputs:
        if candidate(node):
            found.setdefault(id(node), node)
    return list(found.values())


def _small(node: Node) -> bool:
    return all(
        math.prod(n.shape) <= MAX_FOLD_ELEMENTS for n in Graph((), (node,)).nodes()
    )


def fold_causal_masks(recognized: RecognizedFunction) -> RecognizedFunction:
    """`recognized` with every compile-time causal mask replaced by its named leaf.

    The Opaque ops that only fed the folded masks leave `opaque_ops`; re-emission writes a
    mask leaf that the optimised program still reads as a fresh index computation.
    """
    from mirage_mlir.passes.recognize.reference import opaque_evaluators

    graph = recognized.graph
    free = _input_free(recognized)
    candidates = [
        node
        for node in _candidates(graph, free)
        if len(node.shape) >= 2
        and all(d == 1 for d in node.shape[:-2])
        and (node.dtype == "i1" or node.dtype.startswith(("f", "bf")))
        and _small(node)
    ]
    if not candidates:
        return recognized
    evaluators = opaque_evaluators(recognized)
    replaced: dict[int, Node] = {}
    for node in candidates:
        try:
            (value,) = evaluate(
                Graph((), (node,)), recognized.constant_values, evaluators
            )
        except (
            Exception
        ):  # noqa: BLE001 - an op the interpreter cannot run stays unfolded
            continue
        form = _mask_form(value, node.dtype)
        if form is None:
            continue
        name, queries, keys = form
        replaced[id(node)] = causal_mask_leaf(name, queries, keys, node.dtype)
    if not replaced:
        return recognized
    new_graph = _substitute(graph, replaced)
    names = {
        n.attrs[0] for n in new_graph.nodes() if KINDS[n.kind].origin is Origin.OPAQUE
    }
    return replace(
        recognized,
        graph=new_graph,
        opaque_ops={k: v for k, v in recognized.opaque_ops.items() if k in names},
        opaque_reasons={
            k: v for k, v in recognized.opaque_reasons.items() if k in names
        },
    )


def _substitute(graph: Graph, leaves: dict[int, Node]) -> Graph:
    """`graph` with the nodes of `leaves` (by id) replaced by those [S, K] mask leaves.

    A mask with leading unit axes is read through a reshape, except by an elementwise op whose
    result keeps its shape when the mask is read directly (broadcasting adds the unit axes).
    """
    rebuilt: dict[int, Node] = {}

    def operand_for(user: Node, operand: Node) -> Node:
        if id(operand) not in leaves:
            return rebuilt[id(operand)]
        leaf = leaves[id(operand)]
        if leaf.shape == operand.shape or elementwise_op(user) is not None:
            return (
                leaf  # checked below: a changed elementwise shape falls back to reshape
            )
        return Reshape(leaf, operand.shape)

    for node in graph.nodes():
        if id(node) in leaves:
            rebuilt[id(node)] = (
                leaves[id(node)]
                if leaves[id(node)].shape == node.shape
                else Reshape(leaves[id(node)], node.shape)
            )
            continue
        operands = [operand_for(node, o) for o in node.operands]
        if all(a is b for a, b in zip(operands, node.operands)):
            rebuilt[id(node)] = node
            continue
        try:
            new = make_node(node.kind, node.attrs, operands)
        except GraphError:
            new = None
        if new is None or new.type != node.type:
            operands = [rebuilt[id(o)] for o in node.operands]
            new = make_node(node.kind, node.attrs, operands)
        rebuilt[id(node)] = new
    return Graph(graph.inputs, tuple(rebuilt[id(o)] for o in graph.outputs))
