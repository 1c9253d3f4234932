"""Kernel formation and the fusion-aware roofline cost.

`form_kernels(graph, target)` partitions the compute nodes of a term graph into kernels, legal
under the templates and rules of fusion_templates.py, choosing the grouping of least cost;
`fused_cost(kernels, target)` prices them. Each kernel costs

    time = max(FLOPs / peak, bytes / bandwidth) + launch

with the FLOPs of all its nodes, and bytes = the distinct values it reads from memory plus its
outputs, each written once. Intermediates stay on chip: an op fused into a kernel does not pay
for writing and re-reading its result. Reading a view (a reshape) reads the tensor it views;
splat constants are generated in registers and read nothing; layout ops of constants are
folded when the program is built and read like constants. On the "flops" target a kernel
costs its FLOPs, so the fused cost of a graph is its FLOP count.

Formation is greedy: every compute node starts as its own kernel (reshapes as free views);
then, while some merge of two neighbouring groups (producer and consumer, or two readers of
one value) is legal and lowers (cost, bytes, kernels), the merge that lowers them most is made.
Views lying between the two groups join the merge. Each merge never raises the cost, so the
result costs at most the unfused graph.

Example (E5, the gated layer): tanh((x @ w1) * (x @ w2) + bias) becomes one dual_matmul kernel
that reads x, w1, w2 and bias and writes only the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mirage_mlir.passes.eqsat.cost import (
    GraphCost,
    KernelWork,
    combined_engine,
    Target,
    get_target,
    kernel_cost,
    node_work,
)
from mirage_mlir.passes.eqsat.fusion_templates import (
    ELEMENTWISE_KINDS,
    FREE_KINDS,
    LAYOUT_KINDS,
    TEMPLATES,
    VIEW_KINDS,
    FusionIndex,
    is_convex,
    mask_of,
    template_of,
)
from mirage_mlir.passes.eqsat.graph import Graph, Node
from mirage_mlir.passes.eqsat.kinds import KINDS, Origin
from mirage_mlir.passes.eqsat.patterns import elementwise_op

__all__ = [
    "FUSIBLE_KINDS",
    "TEMPLATES",
    "anticipated_cost",
    "Kernel",
    "form_kernels",
    "fused_cost",
    "kernel_template",
    "kernel_work",
]


@dataclass(frozen=True, eq=False)
class Kernel:
    """One kernel: its template, its nodes (operands first), what it reads and what it writes.

    inputs are the values from outside the kernel that its nodes read, in first-use order;
    outputs are its nodes that are used outside it or returned by the graph.
    """

    template: str
    nodes: tuple[Node, ...]
    inputs: tuple[Node, ...]
    outputs: tuple[Node, ...]

    def __str__(self) -> str:
        kinds = ", ".join(elementwise_op(n) or n.kind for n in self.nodes)
        return f"{self.template}[{kinds}]"


def _storage(node: Node) -> Node:
    """The tensor a chain of views reads."""
    while node.kind in VIEW_KINDS:
        node = node.operands[0]
    return node


def _splat(node: Node) -> bool:
    """Whether `node` is a splat, or a layout op of splats: generated in registers."""
    if KINDS[node.kind].origin is Origin.SPLAT:
        return True
    return node.kind in LAYOUT_KINDS and all(_splat(o) for o in node.operands)


def kernel_work(kernel: Kernel) -> KernelWork:
    """FLOPs of all the kernel's nodes, the bytes it reads and writes, and its engine."""
    works = [
        node_work(node.kind, node.attrs, [o.type for o in node.operands], node.type)
        for node in kernel.nodes
    ]
    flops = sum(w.flops for w in works)
    engine = combined_engine(w.engine for w in works)
    # The dtype of the work that sets the engine (the matmul's in a matmul kernel).
    dtype = next((w.dtype for w in works if w.engine == engine), None) or next(
        (w.dtype for w in works if w.is_kernel), None
    )
    read: dict[int, int] = {}
    for node in kernel.inputs:
        source = _storage(node)
        if not _splat(source):
            read[id(source)] = source.type.nbytes
    written: dict[int, int] = {}
    members = {id(n) for n in kernel.nodes}
    for node in kernel.outputs:
        source = node
        # A view of a member is the member's data: write it once.
        while source.kind in VIEW_KINDS and id(source.operands[0]) in members:
            source = source.operands[0]
        written[id(source)] = node.type.nbytes
    return KernelWork(
        flops, sum(read.values()), sum(written.values()), engine, dtype or "f32"
    )


def fused_cost(kernels: tuple[Kernel, ...], target: str | Target = "h100") -> GraphCost:
    """The cost of running `kernels`: objective, FLOPs, bytes moved, kernels launched."""
    tgt = get_target(target)
    cost: float | int = 0 if tgt.objective == "flops" else 0.0
    flops = moved = 0
    for kernel in kernels:
        work = kernel_work(kernel)
        cost += kernel_cost(tgt, work)
        flops += work.flops
        moved += work.bytes
    return GraphCost(cost, flops, moved, len(kernels))


#: Kinds that usually ride in a neighbour's kernel (see `anticipated_cost`). A slice is a
#: strided load of the matmul or attention kernel that reads it (fusion_templates.py), so a
#: joined projection x @ [Wq | Wk | Wv] whose pieces feed those kernels pays no copy.
FUSIBLE_KINDS = (
    ELEMENTWISE_KINDS
    | VIEW_KINDS
    | {"slice"}
    | {k.name for k in KINDS.values() if k.reduces is not None}
)


def anticipated_cost(target: Target, kind: str, work: KernelWork) -> float | int:
    """An e-node's cost for an extraction that anticipates fusion.

    Elementwise ops, reductions, norms and slices usually join a neighbouring kernel, where
    they pay neither launch nor memory traffic: they are charged their arithmetic alone (a
    slice has none: it is a strided load). Other ops,
    infinite costs (forms that must never be chosen) and the "flops" objective are unchanged.
    The extracted program is only a candidate: `optimize_graph` keeps it only where its
    kernels cost less than those of the ordinary extraction.
    """
    cost = kernel_cost(target, work)
    if (
        target.objective == "flops"
        or kind not in FUSIBLE_KINDS
        or not work.is_kernel
        or not math.isfinite(cost)
    ):
        return cost
    return work.flops / target.peak(work.engine, work.dtype)


def kernel_template(graph: Graph, nodes: tuple[Node, ...] | list[Node]) -> str | None:
    """The template under which `nodes` of `graph` may form one kernel, or None if illegal."""
    index = FusionIndex(graph)
    try:
        members = frozenset(index.position[id(n)] for n in nodes)
    except KeyError:
        return None
    return template_of(index, members)


def _make_kernel(index: FusionIndex, members: frozenset[int], template: str) -> Kernel:
    order = sorted(members)
    inputs: dict[int, Node] = {}
    outputs = []
    for i in order:
        for j in index.operand_positions(i):
            if j not in members:
                inputs.setdefault(j, index.nodes[j])
        if i in index.returned or any(c not in members for c in index.consumers[i]):
            outputs.append(index.nodes[i])
    return Kernel(
        template,
        tuple(index.nodes[i] for i in order),
        tuple(inputs.values()),
        tuple(outputs),
    )


class _Former:
    """Greedy kernel formation over one graph (see the module docstring)."""

    def __init__(self, graph: Graph, target: Target) -> None:
        self.index = FusionIndex(graph)
        self.target = target
        self._scores: dict[frozenset[int], tuple | None] = {}
        nodes = self.index.nodes
        self.group_of: dict[int, frozenset[int]] = {
            i: frozenset((i,))
            for i, n in enumerate(nodes)
            if n.kind not in FREE_KINDS and i not in self.index.folded
        }

    def score(self, members: frozenset[int]) -> tuple | None:
        """(cost, bytes, kernels) of the group as one kernel, or None when illegal."""
        if members not in self._scores:
            template = template_of(self.index, members)
            if template is None:
                self._scores[members] = None
            elif template == "view":
                self._scores[members] = (0, 0, 0)
            else:
                work = kernel_work(_make_kernel(self.index, members, template))
                self._scores[members] = (kernel_cost(self.target, work), work.bytes, 1)
        return self._scores[members]

    def is_view(self, i: int) -> bool:
        group = self.group_of.get(i)
        return (
            group is not None
            and len(group) == 1
            and (self.index.nodes[i].kind in VIEW_KINDS or i in self.index.launchless)
        )

    def neighbours(self, group: frozenset[int]) -> set[frozenset[int]]:
        """Groups joined to `group` by a value (through views), or reading one value with it."""
        found: set[frozenset[int]] = set()
        index = self.index

        def readers(j: int, out: set[frozenset[int]]) -> None:
            for c in index.consumers[j]:
                if c not in self.group_of:
                    continue  # folded
                if self.is_view(c):
                    readers(c, out)
                else:
                    out.add(self.group_of[c])

        for i in group:
            readers(i, found)
            for j in index.operand_positions(i):
                source = j
                while self.is_view(source) and index.nodes[source].operands:
                    source = index.position[id(index.nodes[source].operands[0])]
                if source in self.group_of:
                    found.add(self.group_of[source])
                if j not in group:
                    # horizontal: another reader of the same value
                    readers(source, found)
        found.discard(group)
        return {g for g in found if not (len(g) == 1 and self.is_view(next(iter(g))))}

    def merged(self, a: frozenset[int], b: frozenset[int]) -> frozenset[int] | None:
        """a | b with the views that lie between them, or None when another group does."""
        members = a | b
        if is_convex(self.index, members):
            return members
        mask = mask_of(members)
        below = above = 0
        for i in members:
            below |= self.index.descendants[i]
            above |= self.index.ancestors[i]
        between = below & above & ~mask
        extra = [i for i in range(len(self.index.nodes)) if (between >> i) & 1]
        if not all(self.is_view(i) for i in extra):
            return None
        return members | frozenset(extra)

    def acyclic(self, members: frozenset[int]) -> bool:
        """Whether no path leaves `members` and comes back through other kernels.

        Each group being convex is not enough: two groups may each read a value of the other.
        """
        seen: set[frozenset[int]] = set()
        stack = [
            c for i in members for c in self.index.consumers[i] if c not in members
        ]
        while stack:
            c = stack.pop()
            if c in members:
                return False
            group = self.group_of[c]
            if group not in seen:
                seen.add(group)
                stack.extend(k for i in group for k in self.index.consumers[i])
        return True

    def ordered(self) -> list[frozenset[int]]:
        """The groups in an order that runs them: each after the groups it reads from."""
        order: list[frozenset[int]] = []
        done: set[frozenset[int]] = set()
        for i in range(len(self.index.nodes)):
            if i not in self.group_of:
                continue
            stack = [(self.group_of[i], False)]
            while stack:
                group, expanded = stack.pop()
                if group in done:
                    continue
                if expanded:
                    done.add(group)
                    order.append(group)
                    continue
                stack.append((group, True))
                for k in group:
                    for j in self.index.operand_positions(k):
                        if j in self.group_of and self.group_of[j] not in done:
                            if self.group_of[j] != group:
                                stack.append((self.group_of[j], False))
        return order

    def run(self) -> tuple[Kernel, ...]:
        """Merge groups while a legal merge lowers (cost, bytes, kernels)."""
        while True:
            best, best_gain = None, None
            groups = set(self.group_of.values())
            for a in groups:
                sa = self.score(a)
                for b in self.neighbours(a):
                    if min(a) > min(b):
                        continue  # each unordered pair once
                    members = self.merged(a, b)
                    if members is None or not self.acyclic(members):
                        continue
                    joined = self.score(members)
                    if joined is None:
                        continue
                    parts = [sa, self.score(b)] + [
                        self.score(self.group_of[i]) for i in members - a - b
                    ]
                    gain = tuple(sum(p[k] for p in parts) - joined[k] for k in range(3))
                    if gain <= (0, 0, 0) or gain[0] < 0:
                        continue
                    if best_gain is None or gain > best_gain:
                        best, best_gain = members, gain
            if best is None:
                break
            for i in best:
                self.group_of[i] = best
        kernels = []
        for members in self.ordered():
            template = template_of(self.index, members)
            if template != "view":
                kernels.append(_make_kernel(self.index, members, template))
        return tuple(kernels)


def form_kernels(graph: Graph, target: str | Target = "h100") -> tuple[Kernel, ...]:
    """A partition of the compute nodes of `graph` into legal kernels of low fused cost.

    Kernels come in an order that runs them (each after the kernels it reads from). Reshapes
    that no kernel absorbs are free views and belong to no kernel.
    """
    return _Former(graph, get_target(target)).run()
