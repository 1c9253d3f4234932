"""Building blocks of the mirage-to-linalg lowerings: types, maps, destinations, loop nests.

Every lowering runs inside an xDSL `ImplicitBuilder` placed before the op it replaces, so an
op is inserted where it is constructed and the helpers here only build and return values.
They write MLIR the way torch-mlir does: `tensor.empty` as a destination, `linalg.fill` for
an accumulator, one `linalg.generic` per loop nest with an arith/math body.

Precision follows the reference semantics (`interpreters/mirage_numpy.py`): f16 and bf16
values are widened to f32 for the arithmetic (`compute_type`) and rounded back once, where
the result is written; f32 and f64 compute in their own type.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from xdsl.dialects import tensor
from xdsl.dialects.builtin import (
    AffineMapAttr,
    BFloat16Type,
    Float16Type,
    Float32Type,
    TensorType,
)
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.ir.affine import AffineExpr, AffineMap
from xdsl.utils.exceptions import DiagnosticException

from mirage_mlir.dialects import linalg
from mirage_mlir.passes.emit.emit_elementwise import cast_scalar
from mirage_mlir.passes.emit.structured import generic, scalar

__all__ = [
    "LoweringError",
    "MapEntry",
    "cast_scalar",
    "compute_type",
    "element_of",
    "indexing_map",
    "loop_nest",
    "new_tensor",
    "rounded",
    "scalar",
    "shape_of",
    "static_shape",
    "widen",
]


class LoweringError(DiagnosticException):
    """A mirage op that cannot be written in upstream linalg (the message names the op)."""


MapEntry = AffineExpr | int | None
"""One result of an indexing map: a loop number, the constant 0 (None), or any expression."""


def indexing_map(num_loops: int, results: Sequence[MapEntry]) -> AffineMapAttr:
    """An indexing map over `num_loops` loops; ints are loops, None is the constant 0."""
    exprs = tuple(
        (
            AffineExpr.constant(0)
            if r is None
            else AffineExpr.dimension(r) if isinstance(r, int) else r
        )
        for r in results
    )
    return AffineMapAttr(AffineMap(num_loops, 0, exprs))


def element_of(value: SSAValue) -> Attribute:
    """The element type of a tensor value."""
    assert isinstance(value.type, TensorType)
    return value.type.get_element_type()


def compute_type(element: Attribute) -> Attribute:
    """The type the arithmetic on `element` values runs in: f32 for f16 and bf16."""
    if isinstance(element, Float16Type | BFloat16Type):
        return Float32Type()
    return element


def widen(value: SSAValue, to: Attribute) -> SSAValue:
    """A scalar in compute type `to` (an `arith.extf` when it is narrower)."""
    return cast_scalar(value, to)


def shape_of(value: SSAValue) -> tuple[int, ...]:
    """The shape of a tensor value."""
    assert isinstance(value.type, TensorType)
    return tuple(value.type.get_shape())


def static_shape(value: SSAValue, op: Operation) -> tuple[int, ...]:
    """The shape of a tensor value, or LoweringError naming `op` when a dim is dynamic."""
    shape = shape_of(value)
    if any(d < 0 for d in shape):
        raise LoweringError(
            f"{op.name}: cannot lower a tensor of dynamic shape ({value.type}); "
            "the lowering needs static shapes"
        )
    return shape


def new_tensor(shape: Sequence[int], element: Attribute, fill: float | None = None) -> SSAValue:
    """A `tensor.empty` destination, filled with `fill` by `linalg.fill` when given."""
    init = tensor.EmptyOp([], TensorType(element, list(shape))).tensor
    if fill is None:
        return init
    return linalg.FillOp([scalar(fill, element)], [init]).results[0]


def loop_nest(
    inputs: Sequence[tuple[SSAValue, AffineMapAttr]],
    outputs: Sequence[tuple[SSAValue, AffineMapAttr]],
    iterators: Sequence[str],
    body: Callable[[Sequence[SSAValue]], Sequence[SSAValue]],
) -> list[SSAValue]:
    """One `linalg.generic`: (value, map) pairs for its ins and outs; returns its results.

    `body` receives the block arguments (one scalar per input, then one per output) and
    returns the values to yield.
    """
    return generic(
        [v for v, _ in inputs],
        [v for v, _ in outputs],
        [m for _, m in (*inputs, *outputs)],
        iterators,
        body,
    )


def rounded(value: SSAValue, element: Attribute) -> SSAValue:
    """`value` converted to element type `element` by a pointwise generic (identity if equal)."""
    if element_of(value) == element:
        return value
    shape = shape_of(value)
    identity = indexing_map(len(shape), range(len(shape)))
    (out,) = loop_nest(
        [(value, identity)],
        [(new_tensor(shape, element), identity)],
        ["parallel"] * len(shape),
        lambda args: [cast_scalar(args[0], element)],
    )
    return out
