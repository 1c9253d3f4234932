"""The leaf kinds: named inputs and constants, filled tensors, and opaque ops.

    kind       attrs                  operands
    input      (name, shape, dtype)   ()          a function argument
    constant   (name, shape, dtype)   ()          an opaque named tensor (a weight)
    full       (value, shape, dtype)  ()          a tensor filled with one scalar
    opaque     (name, shape, dtype)   operands    an op the algebra does not model

Inputs, constants and opaque ops are known to the e-graph by name only; their types are
recorded beside it at encoding and read back at decoding.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mirage_mlir.passes.eqsat.kinds.kind import (
    NO_ENGINE,
    EncodeContext,
    ENodeChildren,
    Kind,
    Origin,
)
from mirage_mlir.passes.eqsat.type_rules import TensorType, check_leaf_type


def _leaf_type(attrs: tuple, operands: Sequence[TensorType], what: str) -> TensorType:
    _, shape, dtype = attrs
    check_leaf_type(shape, dtype, what)
    return TensorType(shape, dtype)


def _encode_named(kind: str, with_operands: bool):
    """The encoder of a named kind: `Tensor.<kind>(name)`, or `(name, operands)`."""

    def encode(node, terms: list, context: EncodeContext):
        from mirage_mlir.passes.eqsat.language import Tensor, args_term

        name = node.attrs[0]
        context.record_leaf(kind, name, node.type)
        constructor = getattr(Tensor, kind)
        if with_operands:
            return constructor(name, args_term(terms))
        return constructor(name)

    return encode


def _decode_named(kind: str, with_operands: bool):
    def decode(e: ENodeChildren) -> tuple[str, tuple, list[str]]:
        name = e.literal(0)
        ty = e.leaf_type(kind, name)
        operands = e.tensors(1) if with_operands else []
        return kind, (name, ty.shape, ty.dtype), operands

    return decode


def _no_kernel(attrs, operands, result) -> tuple[int, str]:
    return 0, NO_ENGINE


def _encode_full(node, terms: list, context: EncodeContext):
    from mirage_mlir.passes.eqsat.language import Tensor, shape_text

    value, shape, dtype = node.attrs
    return Tensor.full(value, shape_text(shape), dtype)


def _decode_full(e: ENodeChildren) -> tuple[str, tuple, list[str]]:
    from mirage_mlir.passes.eqsat.language import parse_shape_text

    return (
        "full",
        (float(e.literal(0)), parse_shape_text(e.literal(1)), e.literal(2)),
        [],
    )


def _argument_kind(name: str, origin: Origin) -> Kind:
    """A named tensor whose value is given, not computed: a function input or a weight."""
    return Kind(
        name=name,
        attrs=("name", "shape", "dtype"),
        type_rule=lambda attrs, operands: _leaf_type(
            attrs, operands, f"{name} {attrs[0]!r}"
        ),
        semantics=None,
        work=_no_kernel,
        encode=_encode_named(name, with_operands=False),
        decoders={name: _decode_named(name, with_operands=False)},
        origin=origin,
    )


INPUT = _argument_kind("input", Origin.ARGUMENT)
CONSTANT = _argument_kind("constant", Origin.CONSTANT)

FULL = Kind(
    name="full",
    attrs=("value", "shape", "dtype"),
    type_rule=lambda attrs, operands: _leaf_type(attrs, operands, f"full {attrs[0]!r}"),
    semantics=lambda attrs, args: np.full(attrs[1], attrs[0]),
    work=_no_kernel,
    encode=_encode_full,
    decoders={"full": _decode_full},
    emit="mirage_mlir.passes.emit.emit_elementwise:emit_full",
    origin=Origin.SPLAT,
)

OPAQUE = Kind(
    name="opaque",
    attrs=("name", "shape", "dtype"),
    type_rule=lambda attrs, operands: _leaf_type(
        attrs, operands, f"opaque op {attrs[0]!r}"
    ),
    # The value comes from the caller's implementation of the named op (evaluate's `opaque`).
    semantics=None,
    # Its arithmetic is unknown: it costs the bytes it moves.
    work=lambda attrs, operands, result: (0, "vector"),
    encode=_encode_named("opaque", with_operands=True),
    decoders={"opaque": _decode_named("opaque", with_operands=True)},
    origin=Origin.OPAQUE,
)

KINDS = (INPUT, CONSTANT, FULL, OPAQUE)
