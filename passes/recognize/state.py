"""The state of recognising one function: which term-graph node holds each SSA value.

Recognisers of single ops (named.py, tensor_ops.py, generic.py) read their operands through
`RecognitionState.node` and return one node per tensor result, or raise `Unrecognized`, after
which the driver (function.py) makes the op an opaque leaf of the graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects import tensor
from xdsl.dialects.builtin import FileLineColLoc
from xdsl.ir import Operation, OpResult, SSAValue

from mirage_mlir.passes.eqsat.graph import Constant, Node, Opaque, Reshape, Transpose
from mirage_mlir.passes.recognize.constants import static_tensor_type


class Unrecognized(Exception):
    """An op (or one of its results) the algebra does not model; the message says why."""


class RecognitionError(Exception):
    """A function that cannot be recognised at all (e.g. dynamic argument shapes), located."""


def location_of(op: Operation) -> str:
    """`file:line:col` of an op, or its name when the op has no place in a text."""
    loc = op.location
    if isinstance(loc, FileLineColLoc):
        return f"{loc.filename.data}:{loc.line.data}:{loc.column.data}"
    return f"'{op.name}'"


def reshape(node: Node, shape: tuple[int, ...]) -> Node:
    """`node` reshaped to `shape`; `node` itself when the shape is already right."""
    shape = tuple(shape)
    return node if node.shape == shape else Reshape(node, shape)


def transpose(node: Node, perm: tuple[int, ...]) -> Node:
    """`node` transposed by `perm`; `node` itself for the identity permutation."""
    perm = tuple(perm)
    return node if perm == tuple(range(len(perm))) else Transpose(node, perm)


@dataclass
class RecognitionState:
    """The nodes found so far for the SSA values of one function, and the leaves made."""

    values: dict[SSAValue, Node] = field(default_factory=dict)
    leaves: dict[str, SSAValue] = field(default_factory=dict)
    opaque_ops: dict[str, tuple[Operation, int]] = field(default_factory=dict)
    opaque_reasons: dict[str, str] = field(default_factory=dict)
    constant_values: dict[str, np.ndarray] = field(default_factory=dict)
    op_numbers: dict[Operation, int] = field(default_factory=dict)
    dense_count: int = 0

    def number(self, op: Operation) -> int:
        """A stable number of `op` in its function (its position in the walk)."""
        return self.op_numbers.setdefault(op, len(self.op_numbers))

    def node(self, value: SSAValue) -> Node:
        """The node holding tensor `value`; an opaque leaf for values nothing else models."""
        found = self.values.get(value)
        if found is not None:
            return found
        if isinstance(value, OpResult) and isinstance(value.op, tensor.EmptyOp):
            # Uninitialised storage: only an op that ignores its contents (an opaque op's
            # destination) reads it, so it is a leaf re-emission keeps as it is.
            return self.make_opaque(value.op, value.index, (), "uninitialised tensor")
        raise Unrecognized(f"value {value} has no term")

    def make_opaque(
        self, op: Operation, index: int, inputs: tuple[Node, ...], reason: str
    ) -> Node:
        """The Opaque node for result `index` of `op` (made once per result)."""
        result = op.results[index]
        if result in self.values:
            return self.values[result]
        typed = static_tensor_type(result.type)
        if typed is None:
            raise RecognitionError(
                f"{location_of(op)}: result {index} of '{op.name}' has type {result.type}, "
                "which the tensor algebra cannot hold (dynamic or unsupported element type)"
            )
        name = f"{op.name}#{self.number(op)}:{index}"
        node = Opaque(name, inputs, typed[0], typed[1])
        self.opaque_ops[name] = (op, index)
        self.opaque_reasons[name] = reason
        self.values[result] = node
        return node

    def make_constant(self, value: SSAValue, name: str, array: np.ndarray | None) -> Node:
        """A Constant leaf named `name` for `value`, with its decoded value when known."""
        typed = static_tensor_type(value.type)
        assert typed is not None
        node = Constant(name, typed[0], typed[1])
        self.leaves[name] = value
        if array is not None:
            self.constant_values[name] = array
        self.values[value] = node
        return node
