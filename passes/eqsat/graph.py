"""The tensor-algebra term graph: the interface between recognition, saturation and re-emission.

A `Graph` is a small immutable DAG of `Node` values with static shapes and dtypes. Recognition
builds one from an MLIR region, `optimize_graph` returns a cheaper equivalent one, and
re-emission turns it back into MLIR. Nodes are compared by identity: two uses of the same
`Node` object are one shared value (computed once), while two structurally equal nodes are two
computations until the e-graph merges them.

Every node kind is described by a `kind` string and a tuple of `attrs`, so the type rules
(`type_rules.result_type`), the cost model and the NumPy semantics can treat graph nodes and e-graph
e-nodes alike:

    kind          attrs                   operands
    input         (name, shape, dtype)    ()
    constant      (name, shape, dtype)    ()          an opaque named tensor (a weight)
    full          (value, shape, dtype)   ()          a tensor filled with one scalar
    matmul        ()                      (a, b)      numpy.matmul, rank >= 2, batch dims broadcast
    transpose     (perm,)                 (x,)        numpy.transpose
    reshape       (shape,)                (x,)        row-major reshape
    scale         (s,)                    (x,)        x * s for a Python float s
    contract      (spec,)                 operands    an einsum term such as "ik,kj->ij"
    elementwise   (op,)                   operands    add, mul, exp, tanh, ... with broadcasting
    opaque        (name, shape, dtype)    operands    an op the algebra does not model
    reduce, broadcast, concat, slice, cast, softmax, attention, rms_norm, layer_norm,
    batch_norm: the structured kinds of kinds/layout.py and kinds/neural.py, all built as
                  `Structured` nodes

Example (E5, the gated layer):

    x = Input("x", (64, 128), "f32")
    w1, w2 = Constant("w1", (128, 256), "f32"), Constant("w2", (128, 256), "f32")
    bias = Constant("bias", (256,), "f32")
    y = tanh((x @ w1) * (x @ w2) + bias)
    graph = Graph((x,), (y,))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Sequence

from mirage_mlir.passes.eqsat.kinds import STRUCTURED_KINDS
from mirage_mlir.passes.eqsat.type_rules import (
    COMPARISONS,
    DTYPE_BYTES,
    ELEMENTWISE_ARITY,
    LETTERS,
    GraphError,
    Shape,
    TensorType,
    broadcast_shapes,
    index_sizes,
    parse_spec,
    result_type,
)

__all__ = [
    "COMPARISONS",
    "DTYPE_BYTES",
    "ELEMENTWISE_ARITY",
    "LETTERS",
    "Constant",
    "Contract",
    "Elementwise",
    "Full",
    "Graph",
    "GraphError",
    "Input",
    "MatMul",
    "Node",
    "Opaque",
    "Reshape",
    "Scale",
    "Shape",
    "Structured",
    "attention",
    "batch_norm",
    "broadcast",
    "cast",
    "concat",
    "layer_norm",
    "reduce",
    "rms_norm",
    "softmax",
    "strided_slice",
    "TensorType",
    "Transpose",
    "Weight",
    "broadcast_shapes",
    "elementwise",
    "exp",
    "index_sizes",
    "make_node",
    "parse_spec",
    "result_type",
    "swap_last_two",
    "tanh",
]


# --------------------------------------------------------------------------------------------
# Nodes


class Node:
    """A value of the term graph. Subclasses are frozen dataclasses compared by identity."""

    kind: str = ""
    shape: Shape
    dtype: str

    @property
    def operands(self) -> tuple[Node, ...]:
        """The values this node reads."""
        return ()

    @property
    def attrs(self) -> tuple:
        """The node's attributes, in the order of the table in the module docstring."""
        return ()

    @property
    def type(self) -> TensorType:
        """The node's static type."""
        return TensorType(self.shape, self.dtype)

    def _infer(self) -> None:
        for operand in self.operands:
            if not isinstance(operand, Node):
                raise GraphError(
                    f"{self.kind}: operand {operand!r} is not a graph node"
                )
        shape, dtype = result_type(
            self.kind, self.attrs, [o.type for o in self.operands]
        )
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "dtype", dtype)

    # Operators, so that tests and examples read like the programs they stand for.
    def __matmul__(self, other: Node) -> MatMul:
        return MatMul(self, other)

    def __add__(self, other: Node) -> Elementwise:
        return Elementwise("add", (self, other))

    def __sub__(self, other: Node) -> Elementwise:
        return Elementwise("sub", (self, other))

    def __mul__(self, other: Node | float) -> Node:
        if isinstance(other, (int, float)):
            return Scale(self, float(other))
        return Elementwise("mul", (self, other))

    def __rmul__(self, other: float) -> Node:
        return self * other

    def __truediv__(self, other: Node) -> Elementwise:
        return Elementwise("div", (self, other))

    @property
    def mT(self) -> Transpose:  # noqa: N802 (the numpy/torch name)
        """The transpose of the two innermost axes."""
        return Transpose(self, swap_last_two(len(self.shape)))


def swap_last_two(rank: int) -> tuple[int, ...]:
    """The permutation that swaps the two innermost of `rank` axes."""
    if rank < 2:
        raise GraphError(f"a tensor of rank {rank} has no two innermost axes to swap")
    return tuple(range(rank - 2)) + (rank - 1, rank - 2)


@dataclass(frozen=True, eq=False)
class Input(Node):
    """A function argument."""

    name: str
    shape: Shape
    dtype: str = "f32"
    kind = "input"

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(self.shape))
        result_type(self.kind, self.attrs, ())

    @property
    def attrs(self) -> tuple:
        return (self.name, self.shape, self.dtype)


@dataclass(frozen=True, eq=False)
class Constant(Node):
    """An opaque named tensor such as a weight; its value is supplied by name at evaluation."""

    name: str
    shape: Shape
    dtype: str = "f32"
    kind = "constant"

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(self.shape))
        result_type(self.kind, self.attrs, ())

    @property
    def attrs(self) -> tuple:
        return (self.name, self.shape, self.dtype)


#: Weights are constants: opaque named tensors.
Weight = Constant


@dataclass(frozen=True, eq=False)
class Full(Node):
    """A tensor whose elements all equal `value` (a splat constant, e.g. the 0 of a ReLU)."""

    value: float
    shape: Shape = ()
    dtype: str = "f32"
    kind = "full"

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", float(self.value))
        object.__setattr__(self, "shape", tuple(self.shape))
        result_type(self.kind, self.attrs, ())

    @property
    def attrs(self) -> tuple:
        return (self.value, self.shape, self.dtype)


@dataclass(frozen=True, eq=False)
class MatMul(Node):
    """numpy.matmul of two tensors of rank >= 2; batch dimensions broadcast."""

    a: Node
    b: Node
    shape: Shape = field(init=False)
    dtype: str = field(init=False)
    kind = "matmul"

    def __post_init__(self) -> None:
        self._infer()

    @property
    def operands(self) -> tuple[Node, ...]:
        return (self.a, self.b)


@dataclass(frozen=True, eq=False)
class Transpose(Node):
    """numpy.transpose(x, perm): result axis i is axis perm[i] of x."""

    x: Node
    perm: tuple[int, ...]
    shape: Shape = field(init=False)
    dtype: str = field(init=False)
    kind = "transpose"

    def __post_init__(self) -> None:
        object.__setattr__(self, "perm", tuple(self.perm))
        self._infer()

    @property
    def operands(self) -> tuple[Node, ...]:
        return (self.x,)

    @property
    def attrs(self) -> tuple:
        return (self.perm,)


@dataclass(frozen=True, eq=False)
class Reshape(Node):
    """A row-major reshape (a view: no data moves)."""

    x: Node
    new_shape: Shape
    shape: Shape = field(init=False)
    dtype: str = field(init=False)
    kind = "reshape"

    def __post_init__(self) -> None:
        object.__setattr__(self, "new_shape", tuple(self.new_shape))
        self._infer()

    @property
    def operands(self) -> tuple[Node, ...]:
        return (self.x,)

    @property
    def attrs(self) -> tuple:
        return (self.new_shape,)


@dataclass(frozen=True, eq=False)
class Scale(Node):
    """Multiplication by a scalar `s`."""

    x: Node
    s: float
    shape: Shape = field(init=False)
    dtype: str = field(init=False)
    kind = "scale"

    def __post_init__(self) -> None:
        object.__setattr__(self, "s", float(self.s))
        self._infer()

    @property
    def operands(self) -> tuple[Node, ...]:
        return (self.x,)

    @property
    def attrs(self) -> tuple:
        return (self.s,)


@dataclass(frozen=True, eq=False)
class Contract(Node):
    """An einsum term: `Contract((a, b, c), "ik,kj,jl->il")`. Sizes must agree exactly."""

    inputs: tuple[Node, ...]
    spec: str
    shape: Shape = field(init=False)
    dtype: str = field(init=False)
    kind = "contract"

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        self._infer()

    @property
    def operands(self) -> tuple[Node, ...]:
        return self.inputs

    @property
    def attrs(self) -> tuple:
        return (self.spec,)


@dataclass(frozen=True, eq=False)
class Elementwise(Node):
    """An elementwise operation (see ELEMENTWISE_ARITY) with NumPy broadcasting."""

    op: str
    inputs: tuple[Node, ...]
    shape: Shape = field(init=False)
    dtype: str = field(init=False)
    kind = "elementwise"

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        self._infer()

    @property
    def operands(self) -> tuple[Node, ...]:
        return self.inputs

    @property
    def attrs(self) -> tuple:
        return (self.op,)


@dataclass(frozen=True, eq=False)
class Opaque(Node):
    """An op the algebra does not model; it passes through optimisation unchanged.

    `name` identifies the computation completely: two Opaque nodes with the same name and the
    same operands compute the same value (the e-graph merges them).
    """

    name: str
    inputs: tuple[Node, ...]
    out_shape: Shape
    out_dtype: str = "f32"
    shape: Shape = field(init=False)
    dtype: str = field(init=False)
    kind = "opaque"

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "out_shape", tuple(self.out_shape))
        self._infer()

    @property
    def operands(self) -> tuple[Node, ...]:
        return self.inputs

    @property
    def attrs(self) -> tuple:
        return (self.name, self.out_shape, self.out_dtype)


@dataclass(frozen=True, eq=False)
class Structured(Node):
    """A node of one of the structured kinds (kinds/layout.py, kinds/neural.py: reduce, softmax, ...).

    Build them with the helpers below: `softmax(x, -1)`, `attention(q, k, v, 0.125, True)`.
    """

    structured_kind: str
    structured_attrs: tuple
    inputs: tuple[Node, ...]
    shape: Shape = field(init=False)
    dtype: str = field(init=False)

    def __post_init__(self) -> None:
        if self.structured_kind not in STRUCTURED_KINDS:
            raise GraphError(f"{self.structured_kind!r} is not a structured node kind")
        object.__setattr__(self, "inputs", tuple(self.inputs))
        self._infer()

    @property
    def operands(self) -> tuple[Node, ...]:
        return self.inputs

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.structured_kind

    @property
    def attrs(self) -> tuple:
        return self.structured_attrs


def reduce(x: Node, op: str, axes: Sequence[int], keepdims: bool = False) -> Structured:
    """A reduction (sum, max, min, mean) of x over `axes`."""
    return Structured("reduce", (op, tuple(axes), bool(keepdims)), (x,))


def broadcast(x: Node, shape: Sequence[int]) -> Structured:
    """numpy.broadcast_to(x, shape), materialised."""
    return Structured("broadcast", (tuple(shape),), (x,))


def concat(inputs: Sequence[Node], axis: int) -> Structured:
    """numpy.concatenate(inputs, axis)."""
    return Structured("concat", (axis,), tuple(inputs))


def strided_slice(x: Node, offsets: Sequence[int], sizes: Sequence[int], strides: Sequence[int] | None = None) -> Structured:
    """A static slice: `sizes[i]` elements of axis i from `offsets[i]`, every `strides[i]`."""
    strides = tuple(strides) if strides is not None else (1,) * len(sizes)
    return Structured("slice", (tuple(offsets), tuple(sizes), strides), (x,))


def cast(x: Node, dtype: str) -> Structured:
    """x converted to element type `dtype`."""
    return Structured("cast", (dtype,), (x,))


def softmax(x: Node, axis: int = -1) -> Structured:
    """The numerically stable softmax of x along `axis`."""
    return Structured("softmax", (axis,), (x,))


def attention(q: Node, k: Node, v: Node, scale: float, causal: bool = False, mask: Node | None = None) -> Structured:
    """softmax(scale * q @ k^T [+ mask], causal) @ v with grouped KV heads (see kinds/neural.py)."""
    operands = (q, k, v) if mask is None else (q, k, v, mask)
    return Structured("attention", (float(scale), bool(causal)), operands)


def rms_norm(x: Node, weight: Node, eps: float) -> Structured:
    """x / sqrt(mean(x^2, -1) + eps) * weight."""
    return Structured("rms_norm", (float(eps),), (x, weight))


def layer_norm(x: Node, weight: Node, bias: Node, eps: float) -> Structured:
    """LayerNorm over the last axis."""
    return Structured("layer_norm", (float(eps),), (x, weight, bias))


def batch_norm(x: Node, gamma: Node, beta: Node, eps: float) -> Structured:
    """BatchNorm of x [N, C] with the training statistics over axis 0."""
    return Structured("batch_norm", (float(eps),), (x, gamma, beta))


def elementwise(op: str, *inputs: Node) -> Elementwise:
    """Build an elementwise node: `elementwise("tanh", x)`."""
    return Elementwise(op, inputs)


def tanh(x: Node) -> Elementwise:
    """tanh(x), elementwise."""
    return Elementwise("tanh", (x,))


def exp(x: Node) -> Elementwise:
    """exp(x), elementwise."""
    return Elementwise("exp", (x,))


def make_node(kind: str, attrs: tuple, operands: Sequence[Node]) -> Node:
    """Build the node of `kind` with `attrs` and `operands` (the inverse of .kind/.attrs)."""
    if kind in STRUCTURED_KINDS:
        return Structured(kind, tuple(attrs), tuple(operands))
    if kind not in _NODE_CLASSES:
        raise GraphError(f"unknown node kind {kind!r}")
    return _NODE_CLASSES[kind](tuple(attrs), tuple(operands))


#: The node class of every kind that has one, as a constructor from (attrs, operands).
_NODE_CLASSES = {
    "input": lambda attrs, operands: Input(*attrs),
    "constant": lambda attrs, operands: Constant(*attrs),
    "full": lambda attrs, operands: Full(*attrs),
    "matmul": lambda attrs, operands: MatMul(*operands),
    "transpose": lambda attrs, operands: Transpose(operands[0], attrs[0]),
    "reshape": lambda attrs, operands: Reshape(operands[0], attrs[0]),
    "scale": lambda attrs, operands: Scale(operands[0], attrs[0]),
    "contract": lambda attrs, operands: Contract(operands, attrs[0]),
    "elementwise": lambda attrs, operands: Elementwise(attrs[0], operands),
    "opaque": lambda attrs, operands: Opaque(attrs[0], operands, attrs[1], attrs[2]),
}


# --------------------------------------------------------------------------------------------
# Graphs


@dataclass(frozen=True, eq=False)
class Graph:
    """A function: named inputs and an ordered tuple of outputs (which may share subterms)."""

    inputs: tuple[Input, ...]
    outputs: tuple[Node, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        names = [i.name for i in self.inputs]
        if len(set(names)) != len(names):
            raise GraphError(f"graph inputs repeat a name: {names}")
        declared = {id(i) for i in self.inputs}
        named: dict[str, Node] = {}
        for node in self.nodes():
            if isinstance(node, Input) and id(node) not in declared:
                raise GraphError(
                    f"input {node.name!r} is used but not among the graph's inputs"
                )
            if isinstance(node, (Input, Constant)):
                other = named.setdefault(node.name, node)
                if other is not node and (other.kind, other.type) != (
                    node.kind,
                    node.type,
                ):
                    raise GraphError(
                        f"two different tensors are both named {node.name!r}"
                    )

    @classmethod
    def of(cls, *outputs: Node) -> Graph:
        """A graph whose inputs are the Input nodes its outputs use, in first-use order."""
        seen: dict[int, Input] = {}
        for node in _topological(outputs):
            if isinstance(node, Input):
                seen.setdefault(id(node), node)
        return cls(tuple(seen.values()), outputs)

    def nodes(self) -> list[Node]:
        """Every node reachable from the outputs, once each, operands before users."""
        return list(_topological(self.outputs))

    def __str__(self) -> str:
        names: dict[int, str] = {}
        lines = []
        for node in self.nodes():
            names[id(node)] = f"%{len(names)}"
            args = ", ".join(names[id(o)] for o in node.operands)
            attrs = ", ".join(
                repr(a) for a in node.attrs if node.kind not in ("input", "constant")
            )
            if node.kind in ("input", "constant"):
                attrs = repr(node.attrs[0])
            text = " ".join(part for part in (node.kind, attrs, args) if part)
            lines.append(f"{names[id(node)]} = {text} : {node.type}")
        lines.append("return " + ", ".join(names[id(o)] for o in self.outputs))
        return "\n".join(lines)


def _topological(roots: Sequence[Node]) -> Iterator[Node]:
    """Post-order walk without recursion (graphs can be deep)."""
    done: set[int] = set()
    for root in roots:
        stack: list[tuple[Node, bool]] = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if id(node) in done:
                continue
            if expanded:
                done.add(id(node))
                yield node
                continue
            stack.append((node, True))
            for operand in reversed(node.operands):
                if id(operand) not in done:
                    stack.append((operand, False))
