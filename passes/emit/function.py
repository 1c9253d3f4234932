"""`emit_function`: write an optimised term graph back into the `func.func` it came from.

    recognized = recognize_function(func)           # graph + where its leaves live in func
    result = optimize_graph(recognized.graph, ...)   # a cheaper graph
    emit_function(recognized, result.graph, kernels) # func now computes result.graph

New ops are built before the function's `func.return`, one node at a time in dependence order
(leaves reuse the values recognition found; an opaque node reuses its original op when its
operands are unchanged and clones it otherwise). The return then yields the new values and
every op left without uses and without side effects is erased. Each kernel group of more
than one node becomes one `mirage.kernel` whose body holds its nodes' ops: its operands are
the values the group reads from outside, its results the values used outside.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from xdsl.builder import Builder, ImplicitBuilder
from xdsl.dialects import func as func_dialect
from xdsl.dialects.builtin import StringAttr, TensorType
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.rewriter import InsertPoint
from xdsl.transforms.dead_code_elimination import would_be_trivially_dead

from mirage_mlir.dialects import mirage
from mirage_mlir.passes.emit.emit_elementwise import is_float_value
from mirage_mlir.passes.emit.structured import EmitError, tensor_type
from mirage_mlir.passes.eqsat.fusion_templates import TEMPLATES as KERNEL_TEMPLATES
from mirage_mlir.passes.eqsat.graph import Graph, Node
from mirage_mlir.passes.eqsat.kinds import KINDS, Origin
from mirage_mlir.passes.recognize.effects import has_side_effects

Emitter = Callable[[Node, Sequence[SSAValue]], SSAValue]


def _emitters() -> dict[str, Emitter]:
    """One function per node kind (from the op registry); each builds its ops and returns
    the node's value."""
    table: dict[str, Emitter] = {}
    for kind in KINDS.values():
        emitter = kind.emitter()
        if emitter is not None:
            table[kind.name] = emitter
    return table


EMITTERS: dict[str, Emitter] = _emitters()

LEAF_KINDS = ("input", "constant")


#: Ops of an emission that compute nothing a kernel launches for.
_INIT_OPS = frozenset({"tensor.empty", "linalg.fill", "arith.constant"})


class Recognized(Protocol):
    """What emission needs from recognition (`mirage_mlir.passes.recognize.RecognizedFunction`)."""

    func: func_dialect.FuncOp
    leaves: Mapping[str, SSAValue]
    opaque_ops: Mapping[str, tuple[Operation, int]]
    output_positions: tuple[int, ...] | None
    """Per graph output, its position among `func.return`'s operands (None: all, in order)."""


class KernelGroup(Protocol):
    """One fused group from kernel formation: a template name and its graph nodes."""

    template: str
    nodes: tuple[Node, ...]


def emit_function(
    recognized: Recognized, graph: Graph, kernels: Sequence[KernelGroup] | None = None
) -> None:
    """Rewrite `recognized.func` in place so that it computes `graph`.

    `kernels` partitions the compute nodes of `graph` into fused groups; None (or a node in
    no group) means one kernel per node. Raises EmitError naming the node or group at fault;
    the function is then left unchanged apart from unused new ops.
    """
    block = recognized.func.body.block
    ret = block.last_op
    if not isinstance(ret, func_dialect.ReturnOp):
        raise EmitError(f"@{recognized.func.sym_name.data} does not end in func.return")
    positions = getattr(recognized, "output_positions", None)
    if positions is None:
        positions = tuple(range(len(ret.operands)))
    if len(positions) != len(graph.outputs):
        raise EmitError(
            f"the graph has {len(graph.outputs)} outputs, the function returns "
            f"{len(positions)} tensors"
        )
    state = _Emission(recognized, graph)
    units = schedule(graph, kernels)
    with ImplicitBuilder(Builder(InsertPoint.before(ret))):
        for nodes, template in units:
            state.emit_unit(nodes, template)
    results = list(ret.operands)
    for position, output in zip(positions, graph.outputs):
        new, old = state.values[id(output)], ret.operands[position]
        if new.type != old.type:
            raise EmitError(
                f"output #{position} has type {new.type}, the function returns {old.type}"
            )
        results[position] = new
    ret.operands = results
    eliminate_dead_code(block)


def eliminate_dead_code(block: Block) -> None:
    """Erase, back to front until nothing changes, every op without uses or side effects."""
    changed = True
    while changed:
        changed = False
        for op in reversed(list(block.ops)):
            if all(r.first_use is None for r in op.results) and _removable(op):
                block.erase_op(op)
                changed = True


def _removable(op: Operation) -> bool:
    """Whether erasing `op` (its results unused) changes nothing observable.

    xDSL 0.74 declares no memory effects for linalg ops, so it never erases them; in
    destination-passing style on tensors (no memref operand) they only produce their results,
    unless their body has effects of its own (a call).
    """
    if would_be_trivially_dead(op):
        return True
    return (
        op.dialect_name() == "linalg" and bool(op.results) and not has_side_effects(op)
    )


def schedule(
    graph: Graph, kernels: Sequence[KernelGroup] | None
) -> list[tuple[tuple[Node, ...], str]]:
    """The emission units (the nodes of one kernel, with its template) in dependence order.

    Leaves are not units. Raises EmitError if the groups are not convex (a group that feeds
    itself through another unit cannot be one kernel).
    """
    order = [n for n in graph.nodes() if n.kind not in LEAF_KINDS]
    position = {id(n): i for i, n in enumerate(order)}
    unit_of: dict[int, int] = {}
    units: list[tuple[list[Node], str]] = []
    for group in kernels or ():
        members = [n for n in group.nodes if id(n) in position]
        if not members:
            continue
        for n in members:
            if id(n) in unit_of:
                raise EmitError(f"{n.kind} node {n.type} is in two kernel groups")
            unit_of[id(n)] = len(units)
        members.sort(key=lambda n: position[id(n)])
        units.append((members, getattr(group, "template", "")))
    for n in order:
        if id(n) not in unit_of:
            unit_of[id(n)] = len(units)
            units.append(([n], ""))
    # Kahn's algorithm on the unit graph, taking ready units in graph order.
    deps: list[set[int]] = [set() for _ in units]
    for n in order:
        for o in n.operands:
            if id(o) in unit_of and unit_of[id(o)] != unit_of[id(n)]:
                deps[unit_of[id(n)]].add(unit_of[id(o)])
    users: list[set[int]] = [set() for _ in units]
    for u, ds in enumerate(deps):
        for d in ds:
            users[d].add(u)
    first = [position[id(nodes[0])] for nodes, _ in units]
    waiting = [len(ds) for ds in deps]
    ready = sorted((first[u], u) for u in range(len(units)) if not waiting[u])
    done: list[int] = []
    heapq.heapify(ready)
    while ready:
        _, u = heapq.heappop(ready)
        done.append(u)
        for w in users[u]:
            waiting[w] -= 1
            if not waiting[w]:
                heapq.heappush(ready, (first[w], w))
    if len(done) != len(units):
        stuck = [
            units[u][1] or units[u][0][0].kind for u in range(len(units)) if waiting[u]
        ]
        raise EmitError(
            f"kernel groups are not convex: {', '.join(stuck)} depend on each other"
        )
    return [(tuple(units[u][0]), units[u][1]) for u in done]


class _Emission:
    """The values emitted so far, and how to emit a node, a unit or an opaque op."""

    def __init__(self, recognized: Recognized, graph: Graph) -> None:
        self.recognized = recognized
        self.values: dict[int, SSAValue] = {}
        self.users: dict[int, list[Node]] = {}
        self.outputs = {id(o) for o in graph.outputs}
        self._clones: dict[tuple, Operation] = {}
        for node in graph.nodes():
            for o in node.operands:
                self.users.setdefault(id(o), []).append(node)
            if node.kind in LEAF_KINDS:
                name = node.attrs[0]
                if name not in recognized.leaves:
                    raise EmitError(
                        f"{node.kind} {name!r} has no value in the function"
                    )
                self.values[id(node)] = SSAValue.get(recognized.leaves[name])

    def emit_unit(self, nodes: Sequence[Node], template: str) -> None:
        """Emit one unit: a bare node, or a group as one mirage.kernel.

        A node alone whose ops are more than one compute op (a matmul of f16 operands that
        accumulates in f32, then the cast back) is one kernel of its template too, so the
        lowering launches it once, as kernel formation counted it.
        """
        if (
            len(nodes) == 1
            and template in KERNEL_TEMPLATES
            and self._fits_kernel(nodes)
        ):
            if self._compute_ops_of(nodes[0]) > 1:
                self._emit_kernel(nodes, template)
                return
        if len(nodes) == 1 or not self._fits_kernel(nodes):
            for node in nodes:
                self.values[id(node)] = self.emit_node(node, self.values)
            return
        self._emit_kernel(nodes, template)

    def _compute_ops_of(self, node: Node) -> int:
        """How many ops other than inits and constants the node's emission makes."""
        block = Block(arg_types=[self.values[id(o)].type for o in node.operands])
        local = {id(o): arg for o, arg in zip(node.operands, block.args)}
        with ImplicitBuilder(block):
            self.emit_node(node, local)
        return sum(1 for op in block.ops if op.name not in _INIT_OPS)

    def _emit_kernel(self, nodes: Sequence[Node], template: str) -> None:
        """Emit `nodes` as one mirage.kernel of `template`."""
        members = {id(n) for n in nodes}
        inputs: list[SSAValue] = []
        for node in nodes:
            for o in node.operands:
                if id(o) not in members and self.values[id(o)] not in inputs:
                    inputs.append(self.values[id(o)])
        outputs = [
            n
            for n in nodes
            if id(n) in self.outputs
            or any(id(u) not in members for u in self.users.get(id(n), ()))
        ]
        block = Block(arg_types=[v.type for v in inputs])
        local: dict[int, SSAValue] = {}
        arg_of = dict(zip(inputs, block.args))
        for node in nodes:
            for o in node.operands:
                if id(o) not in members:
                    local[id(o)] = arg_of[self.values[id(o)]]
        with ImplicitBuilder(block):
            for node in nodes:
                local[id(node)] = self.emit_node(node, local)
            mirage.YieldOp(*[local[id(n)] for n in outputs])
        kernel = mirage.KernelOp(
            inputs, [local[id(n)].type for n in outputs], Region(block)
        )
        if template:
            kernel.attributes["template"] = StringAttr(template)
        for node, result in zip(outputs, kernel.results):
            self.values[id(node)] = result

    def _fits_kernel(self, nodes: Sequence[Node]) -> bool:
        """Whether a group can be a mirage.kernel: float tensors in and out, no opaque op.

        Opaque ops may read values from outside (a kernel is isolated from above) and kernel
        operands and results are float tensors; such groups are emitted bare.
        """
        if any(KINDS[n.kind].origin is Origin.OPAQUE for n in nodes):
            return False
        members = {id(n) for n in nodes}
        for n in nodes:
            for o in n.operands:
                if id(o) not in members and not is_float_value(self.values[id(o)]):
                    return False
            if not n.dtype.startswith(("f", "bf")):
                used_outside = id(n) in self.outputs or any(
                    id(u) not in members for u in self.users.get(id(n), ())
                )
                if used_outside:
                    return False
        return True

    def emit_node(self, node: Node, values: Mapping[int, SSAValue]) -> SSAValue:
        """Build the ops of one node from the values of its operands."""
        operands = [values[id(o)] for o in node.operands]
        if KINDS[node.kind].origin is Origin.OPAQUE:
            return self._emit_opaque(node, operands)
        emitter = EMITTERS.get(node.kind)
        if emitter is None:
            raise EmitError(f"no MLIR form for graph node kind {node.kind!r}")
        value = emitter(node, operands)
        expected = tensor_type(node.shape, node.dtype)
        if value.type != expected:
            raise EmitError(
                f"{node.kind} was emitted as {value.type}, its type is {expected}"
            )
        return value

    def _emit_opaque(self, node: Node, operands: Sequence[SSAValue]) -> SSAValue:
        name = node.attrs[0]
        if name not in self.recognized.opaque_ops:
            raise EmitError(f"opaque op {name!r} has no original op in the function")
        op, index = self.recognized.opaque_ops[name]
        tensor_positions = [
            i for i, v in enumerate(op.operands) if isinstance(v.type, TensorType)
        ]
        if not operands:
            # A leaf-like opaque op (a tensor.empty, an op whose operands the graph does not
            # model): it stays where it is.
            return op.results[index]
        if len(tensor_positions) != len(operands):
            raise EmitError(
                f"opaque op {name!r} ({op.name}) has {len(tensor_positions)} tensor operands, "
                f"the graph gives it {len(operands)}"
            )
        new_operands = list(op.operands)
        for position, value in zip(tensor_positions, operands):
            new_operands[position] = value
        if all(a is b for a, b in zip(new_operands, op.operands)):
            return op.results[index]
        key = (id(op), tuple(id(v) for v in new_operands))
        if key not in self._clones:
            clone = _clone_here(op)
            clone.operands = new_operands
            self._clones[key] = clone
        return self._clones[key].results[index]


def _clone_here(op: Operation) -> Operation:
    """Clone `op` (with its regions) at the active ImplicitBuilder's insertion point.

    Cloning under an ImplicitBuilder would insert every op of the cloned regions at the
    builder's point too (xDSL inserts each op as it is created), so the builder is set aside
    while cloning; xDSL 0.74 has no public way to do that.
    """
    from xdsl import builder as xdsl_builder

    current = xdsl_builder._current_builder
    saved = current.builder
    assert saved is not None, "opaque ops are cloned during emission only"
    current.builder = None
    try:
        clone = op.clone()
    finally:
        current.builder = saved
    saved.insert(clone)
    return clone
