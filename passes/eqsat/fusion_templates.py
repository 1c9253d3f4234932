"""Kernel templates and the legality rules of kernel formation.

A kernel is a group of term-graph nodes run as one GPU kernel: values produced and consumed
inside it stay on chip. A group is legal when it is convex and matches one template, the names
the lowering to Triton uses:

    elementwise        elementwise, scale, cast and broadcast ops over one iteration space
    row_reduction      reductions over the last axis (reduce, softmax, rms_norm, layer_norm)
                       with elementwise prologue and epilogue, one program per row
    column_reduction   reductions over every axis but the last (reduce, batch_norm) with
                       elementwise prologue and epilogue (ReLU), one program per column block
    matmul             one tiled (batched) matmul, elementwise prologue on its operand tiles,
                       elementwise epilogue on its result tile
    dual_matmul        two matmuls sharing one operand, with a joint elementwise epilogue
    attention          flash attention, with elementwise prologue and epilogue
    <kind>             any other compute node alone: transpose, contract, opaque, concat, ...

Reshapes are free views: they are no kernel, and a kernel may absorb one only where it maps
values of one role to the same role (a row statistic with or without its kept axis). Nodes
that read only compile-time constants (a concatenation of weights, a broadcast splat,
BatchNorm's scale from its running variance) are folded when the program is built
(folding.worth_folding bounds how much a result may grow): no kernel, read like a constant.

The rules, and why:

1. Convex: no path leaves the group and re-enters it (the kernel would need a value computed
   after it starts).
2. A value consumed outside the group, or returned by the graph, is an output of the kernel,
   written once; every other member stays on chip.
3. Elementwise: every member has the same shape (the iteration space); a broadcast reads a
   value from outside (a member of another shape would be recomputed per element).
4. Reductions: one full shape F fixes the rows (F[:-1]) or the columns (F[-1]); every member
   is full-shaped or a statistic of one row or column (with or without its kept axis), and an
   elementwise member combines only values a row (column) program holds: full values with
   statistics broadcast along the reduced axes. Weights of a norm come from memory.
5. Matmul family (matmul, dual_matmul, attention): every other member is either prologue (an
   ancestor of the core op, consumed only inside the group and never an output, since its
   tiles are recomputed by every program that loads them) or epilogue (a descendant, with the
   core result's shape, combining only core and epilogue values with values from memory).
   Prologue members are elementwise ops, or transposes, slices and reshapes: index
   remappings, so the kernel loads each lane of an operand tile from the address its index
   maps to however the chain reorders it (lowering/index_remap.py); an epilogue may end in a
   transpose (a permuted store). The core
   op is a real matmul or attention node: an elementwise product is never taken for a
   contraction. A dual_matmul's two matmuls share an
   operand in the same position, neither feeds the other, and some epilogue member reads both.
"""

from __future__ import annotations

from typing import Sequence

from mirage_mlir.passes.eqsat.folding import worth_folding
from mirage_mlir.passes.eqsat.graph import Graph, Node
from mirage_mlir.passes.eqsat.kinds import (
    COMPILE_TIME_KINDS,
    FREE_KINDS,
    KINDS,
    LAYOUT_KINDS,
    STRIDED_LOAD_KINDS,
    VIEW_KINDS,
)
from mirage_mlir.passes.eqsat.kinds import PER_ELEMENT_KINDS as ELEMENTWISE_KINDS
from mirage_mlir.passes.eqsat.kinds.kind import Origin

# What each kind is to kernel formation is in its record (kinds/kind.py): FREE_KINDS need no
# kernel (splats are generated in registers), ELEMENTWISE_KINDS map each element
# independently, LAYOUT_KINDS of compile-time constants are folded when the program is
# built, STRIDED_LOAD_KINDS are applied while a tiled kernel loads, `fusion_core` names the
# matmul-family template a kind anchors and `reduces` the reduction template.

TEMPLATES = (
    "elementwise",
    "row_reduction",
    "column_reduction",
    "matmul",
    "dual_matmul",
    "attention",
)


def _opaque_op(node: Node) -> str | None:
    """The MLIR op name of an opaque node (its name is `<op>#<n>:<result>`), else None."""
    if node.kind != "opaque":
        return None
    return str(node.attrs[0]).split("#", 1)[0]


class FusionIndex:
    """What kernel formation needs to know about a graph: positions, consumers, reachability.

    Nodes are numbered in the graph's topological order; `ancestors[i]` and `descendants[i]`
    are bit sets (Python ints) of the strict ancestors and descendants of node i.
    """

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.nodes: list[Node] = graph.nodes()
        self.position = {id(n): i for i, n in enumerate(self.nodes)}
        n = len(self.nodes)
        self.consumers: list[list[int]] = [[] for _ in range(n)]
        self.ancestors = [0] * n
        for i, node in enumerate(self.nodes):
            for operand in node.operands:
                j = self.position[id(operand)]
                if i not in self.consumers[j]:
                    self.consumers[j].append(i)
                self.ancestors[i] |= self.ancestors[j] | (1 << j)
        self.descendants = [0] * n
        for i in reversed(range(n)):
            for c in self.consumers[i]:
                self.descendants[i] |= self.descendants[c] | (1 << c)
        self.returned = {self.position[id(o)] for o in graph.outputs}
        #: Nodes that read only compile-time values (weights, splats, folded nodes): computed
        #: when the program is built (folding.worth_folding says how large), no kernel.
        self.folded: set[int] = set()
        for i, node in enumerate(self.nodes):
            if not node.operands or KINDS[node.kind].origin not in (
                Origin.COMPUTED,
                Origin.OPAQUE,
            ):
                continue  # leaves (an opaque leaf stands for a value known only at run time)
            if node.kind in FREE_KINDS or not all(
                o.kind in COMPILE_TIME_KINDS or self.position[id(o)] in self.folded
                for o in node.operands
            ):
                continue
            read = sum(o.type.nbytes for o in node.operands if o.kind not in FREE_KINDS)
            if node.kind in LAYOUT_KINDS or worth_folding(node.type.nbytes, read):
                self.folded.add(i)
        #: Opaque nodes that launch nothing of their own, views to kernel formation: pads
        #: every reader reads through (convolutions and poolings load the padded window with
        #: masks, lowering/template_pooling.py), empty tensors, and the results after the
        #: first of an op with several (a sort's indices: the sort's one launch writes both).
        self.launchless: set[int] = set()
        first_result: set[str] = set()
        for i, node in enumerate(self.nodes):
            op = _opaque_op(node)
            if op is None:
                continue
            launch = str(node.attrs[0]).rsplit(":", 1)[0]
            if (
                op == "tensor.empty"
                or (op == "tensor.pad" and self._read_through(i))
                or launch in first_result
            ):
                self.launchless.add(i)
            first_result.add(launch)

    def _read_through(self, i: int) -> bool:
        """Whether every reader of node i takes it as the window input of a convolution or
        pooling, directly or through a view only such readers read."""
        from mirage_mlir.lowering.template_pooling import WINDOW_READERS

        readers = self.consumers[i]
        if not readers:
            return False
        for c in readers:
            reader = self.nodes[c]
            if reader.kind in VIEW_KINDS:
                if not self._read_through(c):
                    return False
            elif _opaque_op(reader) not in WINDOW_READERS or (
                reader.operands[0] is not self.nodes[i]
            ):
                return False
        return True

    def operand_positions(self, i: int) -> list[int]:
        """The positions of node i's operands, once each, in operand order."""
        seen: list[int] = []
        for operand in self.nodes[i].operands:
            j = self.position[id(operand)]
            if j not in seen:
                seen.append(j)
        return seen


def mask_of(members: frozenset[int]) -> int:
    """The bit set of `members`."""
    mask = 0
    for i in members:
        mask |= 1 << i
    return mask


def is_convex(index: FusionIndex, members: frozenset[int]) -> bool:
    """Whether no path between two members passes through a node outside the group."""
    mask = mask_of(members)
    below = above = 0
    for i in members:
        below |= index.descendants[i]
        above |= index.ancestors[i]
    return not (below & above & ~mask)


def template_of(index: FusionIndex, members: frozenset[int]) -> str | None:
    """The template of the group `members` (node positions), or None when it is illegal.

    A lone reshape, or an opaque node that launches nothing of its own (FusionIndex.launchless),
    is a "view" (no kernel). See the module docstring for the rules.
    """
    nodes = [index.nodes[i] for i in sorted(members)]
    if not nodes or any(n.kind in FREE_KINDS for n in nodes) or members & index.folded:
        return None
    if len(nodes) == 1:
        return "view" if members <= index.launchless else _single_template(nodes[0])
    if members & index.launchless or not _float_boundary(index, members):
        return None
    if not is_convex(index, members):
        return None
    matmuls = [i for i in members if _core(index.nodes[i]) == "matmul"]
    attentions = [i for i in members if _core(index.nodes[i]) == "attention"]
    rows = [i for i in members if _reduces(index.nodes[i]) == "row"]
    columns = [i for i in members if _reduces(index.nodes[i]) == "column"]
    special = set(matmuls) | set(attentions) | set(rows) | set(columns)
    for i in members:
        node = index.nodes[i]
        if i in special or node.kind in ELEMENTWISE_KINDS or node.kind in VIEW_KINDS:
            continue
        if node.kind in STRIDED_LOAD_KINDS and (matmuls or attentions):
            continue  # checked as a prologue below
        return None  # a single-op kind: it forms a kernel alone
    if attentions:
        if len(attentions) == 1 and not (matmuls or rows or columns):
            return "attention" if _core_legal(index, members, attentions) else None
        return None
    if matmuls:
        if rows or columns or len(matmuls) > 2:
            return None
        if len(matmuls) == 2 and not _dual_pair(index, members, matmuls):
            return None
        if not _core_legal(index, members, matmuls):
            return None
        return "matmul" if len(matmuls) == 1 else "dual_matmul"
    if rows and columns:
        return None
    if rows or columns:
        reducers = rows or columns
        ok = _reduction_legal(index, members, reducers, row=bool(rows))
        return ("row_reduction" if rows else "column_reduction") if ok else None
    return "elementwise" if _elementwise_legal(nodes) else None


def _core(node: Node) -> str | None:
    """The matmul-family template whose core op `node` is, if any."""
    return KINDS[node.kind].fusion_core


def _is_float(node: Node) -> bool:
    return node.dtype.startswith(("f", "bf"))


def _float_boundary(index: FusionIndex, members: frozenset[int]) -> bool:
    """Whether every value crossing the group's boundary is a float tensor: a kernel's
    operands and results are (an integer or boolean value stays inside it)."""
    for i in members:
        node = index.nodes[i]
        if any(
            index.position[id(o)] not in members
            and o.kind not in FREE_KINDS
            and not _is_float(o)
            for o in node.operands
        ):
            return False
        outside = i in index.returned or any(
            c not in members for c in index.consumers[i]
        )
        if outside and not _is_float(node):
            return False
    return True


def _single_template(node: Node) -> str:
    if node.kind in VIEW_KINDS:
        return "view"
    if node.kind in ELEMENTWISE_KINDS:
        return "elementwise"
    core = _core(node)
    if core is not None:
        return core
    axis = _reduces(node)
    if axis is not None:
        return f"{axis}_reduction"
    return node.kind


def _reduces(node: Node) -> str | None:
    """ "row" for a reduction over the last axis, "column" over all others, else None."""
    reduces = KINDS[node.kind].reduces
    if reduces is None:
        return None
    rank = len(node.operands[0].shape) if node.operands else 0
    return reduces(node.attrs, rank)


# --------------------------------------------------------------------------------------------
# Elementwise and reductions


def _elementwise_legal(nodes: Sequence[Node]) -> bool:
    space = nodes[-1].shape
    for node in nodes:
        if node.shape != space:
            return False
        if node.kind in VIEW_KINDS and node.operands[0].shape != space:
            return False
    return True


#: Reductions: for a member of each role, the roles its member operands may have.
_ROW_OPERAND_ROLES = {"full": {"full", "keep"}, "keep": {"keep"}, "flat": {"flat"}}
_COLUMN_OPERAND_ROLES = {
    "full": {"full", "keep", "flat"},
    "keep": {"keep", "flat"},
    "flat": {"flat"},
}


def _reduction_legal(
    index: FusionIndex, members: frozenset[int], reducers: list[int], row: bool
) -> bool:
    full = index.nodes[min(reducers)].operands[0].shape
    if row:
        keep, flat = full[:-1] + (1,), full[:-1]
    else:
        keep, flat = (1,) * (len(full) - 1) + full[-1:], full[-1:]
    allowed = _ROW_OPERAND_ROLES if row else _COLUMN_OPERAND_ROLES

    def role(shape: tuple[int, ...]) -> str | None:
        if shape == full:
            return "full"
        if shape == keep:
            return "keep"
        return "flat" if shape == flat else None

    for i in members:
        node = index.nodes[i]
        result = role(node.shape)
        if result is None:
            return False
        inner = [o for o in node.operands if index.position[id(o)] in members]
        if i in reducers:
            if node.operands[0].shape != full:
                return False
            weights = [o for o in node.operands[1:] if o in inner]
            # A norm's weight is per column: a column program may compute it, a row cannot.
            if weights and (row or any(role(w.shape) != "flat" for w in weights)):
                return False
            continue
        roles = {role(o.shape) for o in inner}
        if node.kind in VIEW_KINDS:
            if not roles <= ({"keep", "flat"} if result != "full" else {"full"}):
                return False
        elif KINDS[node.kind].broadcasts:
            if result != "full" or not roles <= allowed["full"] - {"full"}:
                return False
        elif not roles <= allowed[result]:
            return False
    return True


# --------------------------------------------------------------------------------------------
# The matmul family


def _dual_pair(index: FusionIndex, members: frozenset[int], matmuls: list[int]) -> bool:
    i, j = sorted(matmuls)
    a, b = index.nodes[i], index.nodes[j]
    if a.shape != b.shape or (index.ancestors[j] >> i) & 1:
        return False
    if not (a.operands[0] is b.operands[0] or a.operands[1] is b.operands[1]):
        return False
    both = index.descendants[i] & index.descendants[j] & mask_of(members)
    return both != 0  # a joint epilogue


def _core_legal(index: FusionIndex, members: frozenset[int], cores: list[int]) -> bool:
    space = index.nodes[cores[0]].shape
    core_set = set(cores)
    before = after = 0
    for c in cores:
        before |= index.ancestors[c]
        after |= index.descendants[c]
    for i in members:
        if i in core_set:
            continue
        node = index.nodes[i]
        prologue, epilogue = (before >> i) & 1, (after >> i) & 1
        if prologue == epilogue:
            return False  # unrelated to the core op, or between two core ops
        if prologue:
            if not _prologue_legal(index, members, core_set, i):
                return False
            continue
        if KINDS[node.kind].permuted_store:
            # A permuted store: the last step of the epilogue.
            if any(c in members for c in index.consumers[i]):
                return False
        elif node.kind not in ELEMENTWISE_KINDS or node.shape != space:
            return False
        for operand in node.operands:
            j = index.position[id(operand)]
            if j in members and not (j in core_set or (after >> j) & 1):
                return False
            if j in members and operand.shape != space:
                return False
    return True


def _prologue_legal(
    index: FusionIndex, members: frozenset[int], cores: set[int], i: int
) -> bool:
    node = index.nodes[i]
    if i in index.returned:
        return False
    if node.kind not in ELEMENTWISE_KINDS and node.kind not in STRIDED_LOAD_KINDS:
        return False
    for c in index.consumers[i]:
        if c not in members:
            return False  # a prologue value is never written
        consumer = index.nodes[c]
        if c in cores or consumer.kind in STRIDED_LOAD_KINDS:
            continue
        if consumer.shape != node.shape:
            return False
    return True
