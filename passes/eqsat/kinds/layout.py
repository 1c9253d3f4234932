"""Reductions and the kinds that move or retype data: broadcast, concat, slice, cast.

    kind        attrs                       operands
    reduce      (op, axes, keepdims)        (x,)        op in sum, max, min, mean
    broadcast   (shape,)                    (x,)        numpy.broadcast_to, materialised
    concat      (axis,)                     operands    numpy.concatenate
    slice       (offsets, sizes, strides)   (x,)        a strided static slice
    cast        (dtype,)                    (x,)        element type conversion

A reduction over no elements is its combiner's identity (a max of nothing is -inf, a sum 0),
as a linalg reduction leaves its init; sums and means of narrow floats accumulate in f32, as
torch's do.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mirage_mlir.passes.eqsat.kinds.kind import (
    COLUMN,
    ROW,
    EncodeContext,
    ENodeChildren,
    Kind,
)
from mirage_mlir.passes.eqsat.type_rules import (
    GraphError,
    TensorType,
    broadcast_shapes,
    normalized_axis,
    same_dtype,
)

REDUCTIONS = ("sum", "max", "min", "mean")


def _reduce_type(attrs: tuple, operands: Sequence[TensorType]) -> TensorType:
    op, axes, keepdims = attrs
    (x,) = operands
    if op not in REDUCTIONS:
        raise GraphError(f"reduce: unknown reduction {op!r}")
    norm = sorted({normalized_axis(a, len(x.shape), "reduce") for a in axes})
    if len(norm) != len(axes) or not axes:
        raise GraphError(f"reduce: axes {axes} must be distinct and non-empty")
    if keepdims:
        shape = tuple(1 if i in norm else d for i, d in enumerate(x.shape))
    else:
        shape = tuple(d for i, d in enumerate(x.shape) if i not in norm)
    return TensorType(shape, x.dtype)


def _reduce(attrs: tuple, args: list[np.ndarray]) -> np.ndarray:
    op, axes, keepdims = attrs
    (x,) = args
    if op in ("max", "min"):
        fn, identity = (np.max, -np.inf) if op == "max" else (np.min, np.inf)
        return fn(x, axis=tuple(axes), keepdims=keepdims, initial=identity)
    wide = x.astype(np.float32) if x.dtype == np.float16 else x
    fn = np.sum if op == "sum" else np.mean
    return fn(wide, axis=tuple(axes), keepdims=keepdims).astype(x.dtype)


def _encode_reduce(node, terms: list, context: EncodeContext):
    from mirage_mlir.passes.eqsat.language import Tensor
    from mirage_mlir.passes.eqsat.language_nn import axes_mask

    op, axes, keepdims = node.attrs
    rank = len(node.operands[0].shape)
    return Tensor.reduce(terms[0], op, axes_mask(axes, rank), int(keepdims))


def _decode_reduce(e: ENodeChildren) -> tuple[str, tuple, list[str]]:
    from mirage_mlir.passes.eqsat.language_nn import mask_axes

    return (
        "reduce",
        (e.literal(1), mask_axes(e.literal(2)), bool(e.literal(3))),
        [e.eclass(0)],
    )


def _reduces(attrs: tuple, rank: int) -> str | None:
    axes = {a % rank for a in attrs[1]}
    if axes == {rank - 1}:
        return ROW
    if rank >= 2 and axes == set(range(rank - 1)):
        return COLUMN
    return None


REDUCE = Kind(
    name="reduce",
    attrs=("op", "axes", "keepdims"),
    type_rule=_reduce_type,
    semantics=_reduce,
    work=lambda attrs, operands, result: (operands[0].numel, "vector"),
    encode=_encode_reduce,
    decoders={"reduce": _decode_reduce},
    emit="mirage_mlir.passes.emit.emit_elementwise:emit_reduce",
    reduces=_reduces,
)


def _broadcast_type(attrs: tuple, operands: Sequence[TensorType]) -> TensorType:
    (shape,) = attrs
    (x,) = operands
    if broadcast_shapes([x.shape, shape], "broadcast") != tuple(shape):
        raise GraphError(f"broadcast: {x} does not broadcast to {shape}")
    return TensorType(tuple(shape), x.dtype)


def _encode_broadcast(node, terms: list, context: EncodeContext):
    from mirage_mlir.passes.eqsat.language import Tensor, shape_text

    return Tensor.broadcast(terms[0], shape_text(node.attrs[0]))


def _decode_broadcast(e: ENodeChildren) -> tuple[str, tuple, list[str]]:
    from mirage_mlir.passes.eqsat.language import parse_shape_text

    return "broadcast", (parse_shape_text(e.literal(1)),), [e.eclass(0)]


def _moves_data(attrs, operands, result) -> tuple[int, str]:
    return 0, "vector"


BROADCAST = Kind(
    name="broadcast",
    attrs=("shape",),
    type_rule=_broadcast_type,
    semantics=lambda attrs, args: np.broadcast_to(args[0], attrs[0]).copy(),
    work=_moves_data,
    encode=_encode_broadcast,
    decoders={"broadcast": _decode_broadcast},
    emit="mirage_mlir.passes.emit.emit_linear:emit_broadcast",
    layout=True,
    per_element=True,
    broadcasts=True,
)


def _concat_type(attrs: tuple, operands: Sequence[TensorType]) -> TensorType:
    (axis,) = attrs
    if not operands:
        raise GraphError("concat: needs at least one operand")
    rank = len(operands[0].shape)
    ax = normalized_axis(axis, rank, "concat")
    for t in operands:
        if len(t.shape) != rank or any(
            d != e
            for i, (d, e) in enumerate(zip(t.shape, operands[0].shape))
            if i != ax
        ):
            raise GraphError(f"concat: {t} and {operands[0]} differ off axis {axis}")
    shape = list(operands[0].shape)
    shape[ax] = sum(t.shape[ax] for t in operands)
    return TensorType(tuple(shape), same_dtype(operands, "concat"))


def _encode_concat(node, terms: list, context: EncodeContext):
    from mirage_mlir.passes.eqsat.language import Tensor, args_term
    from mirage_mlir.passes.eqsat.language_nn import negative_axis

    rank = len(node.operands[0].shape)
    return Tensor.concat(args_term(terms), negative_axis(node.attrs[0], rank))


CONCAT = Kind(
    name="concat",
    attrs=("axis",),
    type_rule=_concat_type,
    semantics=lambda attrs, args: np.concatenate(args, axis=attrs[0]),
    work=_moves_data,
    encode=_encode_concat,
    decoders={"concat": lambda e: ("concat", (int(e.literal(1)),), e.tensors(0))},
    emit="mirage_mlir.passes.emit.emit_linear:emit_concat",
    layout=True,
)


def _slice_type(attrs: tuple, operands: Sequence[TensorType]) -> TensorType:
    offsets, sizes, strides = attrs
    (x,) = operands
    if not len(offsets) == len(sizes) == len(strides) == len(x.shape):
        raise GraphError(
            f"slice: offsets, sizes and strides must each have rank {len(x.shape)}"
        )
    for o, s, st, d in zip(offsets, sizes, strides, x.shape):
        if o < 0 or s < 0 or st < 1 or (s > 0 and o + (s - 1) * st >= d):
            raise GraphError(
                f"slice: offset {o}, size {s}, stride {st} exceeds dimension {d}"
            )
    return TensorType(tuple(sizes), x.dtype)


def _slice(attrs: tuple, args: list[np.ndarray]) -> np.ndarray:
    offsets, sizes, strides = attrs
    index = tuple(
        slice(o, o + (s - 1) * st + 1, st) for o, s, st in zip(offsets, sizes, strides)
    )
    return args[0][index]


def _encode_slice(node, terms: list, context: EncodeContext):
    from mirage_mlir.passes.eqsat.language import Tensor, shape_text

    return Tensor.slice(terms[0], *(shape_text(a) for a in node.attrs))


def _decode_slice(e: ENodeChildren) -> tuple[str, tuple, list[str]]:
    from mirage_mlir.passes.eqsat.language import parse_shape_text

    attrs = tuple(parse_shape_text(e.literal(i)) for i in range(1, 4))
    return "slice", attrs, [e.eclass(0)]


SLICE = Kind(
    name="slice",
    attrs=("offsets", "sizes", "strides"),
    type_rule=_slice_type,
    semantics=_slice,
    work=_moves_data,
    encode=_encode_slice,
    decoders={"slice": _decode_slice},
    emit="mirage_mlir.passes.emit.emit_linear:emit_slice",
    layout=True,
    strided_load=True,
)


def _cast(attrs: tuple, args: list[np.ndarray]) -> np.ndarray:
    from mirage_mlir.passes.eqsat.evaluate import NUMPY_DTYPES

    return args[0].astype(NUMPY_DTYPES[attrs[0]])


def _encode_cast(node, terms: list, context: EncodeContext):
    from mirage_mlir.passes.eqsat.language import Tensor

    return Tensor.cast(terms[0], node.attrs[0])


CAST = Kind(
    name="cast",
    attrs=("dtype",),
    type_rule=lambda attrs, operands: TensorType(operands[0].shape, attrs[0]),
    semantics=_cast,
    work=_moves_data,
    encode=_encode_cast,
    decoders={"cast": lambda e: ("cast", (e.literal(1),), [e.eclass(0)])},
    emit="mirage_mlir.passes.emit.emit_elementwise:emit_cast",
    layout=True,
    per_element=True,
)

KINDS = (REDUCE, BROADCAST, CONCAT, SLICE, CAST)
