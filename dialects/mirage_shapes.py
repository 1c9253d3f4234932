"""Shape and type rules of the `mirage` dialect.

The verifiers, the Python builders and the optimiser share these rules, so a
shape is inferred and checked in exactly one place.  Shapes are tuples of ints
in which `DYNAMIC` (xDSL's `DYNAMIC_INDEX`) stands for a `?` dimension; two
dimensions are compatible when either is dynamic or both are equal.  Every
rule raises `VerifyException` with a message that names the operand at fault.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    BaseAttr,
    BFloat16Type,
    Float16Type,
    Float32Type,
    Float64Type,
    TensorType,
)
from xdsl.ir import Attribute
from xdsl.irdl import MessageConstraint
from xdsl.utils.exceptions import VerifyException

DYNAMIC = DYNAMIC_INDEX
"""A `?` dimension in a shape tuple."""

FloatElementConstr = (
    BaseAttr(Float16Type)
    | BaseAttr(BFloat16Type)
    | BaseAttr(Float32Type)
    | BaseAttr(Float64Type)
)
"""The element types the mirage ops compute in: f16, bf16, f32 and f64."""

FloatTensorConstr = MessageConstraint(
    TensorType.constr(FloatElementConstr),
    "expected a ranked tensor of f16, bf16, f32 or f64 elements",
)
"""A ranked tensor of f16, bf16, f32 or f64 elements."""


def format_shape(shape: Sequence[int]) -> str:
    """Write a shape as MLIR does, `4x?x8`, for error messages."""
    return "x".join("?" if d == DYNAMIC else str(d) for d in shape) or "scalar"


def dims_compatible(a: int, b: int) -> bool:
    """Whether two dimensions may be equal at run time."""
    return a == DYNAMIC or b == DYNAMIC or a == b


def merge_dims(a: int, b: int) -> int:
    """The more precise of two compatible dimensions."""
    return b if a == DYNAMIC else a


def shape_of(value_type: Attribute) -> tuple[int, ...]:
    """The shape of a tensor type."""
    assert isinstance(value_type, TensorType)
    return tuple(value_type.get_shape())


def normalize_axis(axis: int, rank: int, what: str) -> int:
    """Map an axis in [-rank, rank) to [0, rank), or raise naming `what`."""
    if not -rank <= axis < rank:
        raise VerifyException(
            f"{what} {axis} is out of range for rank {rank} "
            f"(expected {-rank} <= axis < {rank})"
        )
    return axis + rank if axis < 0 else axis


def verify_same_element_type(named_types: Sequence[tuple[str, Attribute]]) -> None:
    """Check that every named tensor type has the first one's element type."""
    first_name, first_type = named_types[0]
    assert isinstance(first_type, TensorType)
    expected = first_type.get_element_type()
    for name, value_type in named_types[1:]:
        assert isinstance(value_type, TensorType)
        if value_type.get_element_type() != expected:
            raise VerifyException(
                f"{name} element type {value_type.get_element_type()} does not "
                f"match {first_name} element type {expected}"
            )


def verify_shape_matches(
    what: str, actual: Sequence[int], expected: Sequence[int]
) -> None:
    """Check that `actual` is compatible with the inferred `expected` shape."""
    if len(actual) != len(expected) or not all(
        dims_compatible(a, e) for a, e in zip(actual, expected)
    ):
        raise VerifyException(
            f"{what} shape {format_shape(actual)} does not match the expected "
            f"shape {format_shape(expected)}"
        )


def verify_positive_finite(what: str, value: float) -> None:
    """Check an attribute such as eps: finite and strictly positive."""
    if not (math.isfinite(value) and value > 0.0):
        raise VerifyException(f"{what} must be finite and > 0, got {value}")


def broadcast_shapes(
    a: Sequence[int], b: Sequence[int], what: str
) -> tuple[int, ...]:
    """NumPy broadcasting of two shapes (right-aligned, 1 stretches)."""
    rank = max(len(a), len(b))
    a = (1,) * (rank - len(a)) + tuple(a)
    b = (1,) * (rank - len(b)) + tuple(b)
    out: list[int] = []
    for x, y in zip(a, b):
        if x == 1:
            out.append(y)
        elif y == 1:
            out.append(x)
        elif dims_compatible(x, y):
            out.append(merge_dims(x, y))
        else:
            raise VerifyException(
                f"{what}: shapes {format_shape(a)} and {format_shape(b)} "
                "do not broadcast"
            )
    return tuple(out)


def matmul_shape(
    lhs: Sequence[int],
    rhs: Sequence[int],
    transpose_lhs: bool = False,
    transpose_rhs: bool = False,
) -> tuple[int, ...]:
    """Result shape of `numpy.matmul` on operands of rank >= 2.

    A transpose flag swaps the last two dimensions of that operand first.
    """
    for name, shape in (("lhs", lhs), ("rhs", rhs)):
        if len(shape) < 2:
            raise VerifyException(
                f"{name} must have rank >= 2, got rank {len(shape)}"
            )
    m, k_lhs = (lhs[-1], lhs[-2]) if transpose_lhs else (lhs[-2], lhs[-1])
    k_rhs, n = (rhs[-1], rhs[-2]) if transpose_rhs else (rhs[-2], rhs[-1])
    if not dims_compatible(k_lhs, k_rhs):
        raise VerifyException(
            f"contraction dimensions differ: lhs has {format_shape([k_lhs])}, "
            f"rhs has {format_shape([k_rhs])}"
        )
    batch = broadcast_shapes(lhs[:-2], rhs[:-2], "batch dimensions")
    return batch + (m, n)


def attention_shape(
    query: Sequence[int], key: Sequence[int], value: Sequence[int]
) -> tuple[int, ...]:
    """Result shape of attention, [B, Hq, Sq, Dv] (or [B, Sq, Dv] at rank 3).

    q is [B, Hq, Sq, D], k [B, Hkv, Skv, D], v [B, Hkv, Skv, Dv] with Hq a
    multiple of Hkv: query head h reads KV head h // (Hq / Hkv).
    """
    rank = len(query)
    if rank not in (3, 4):
        raise VerifyException(f"query must have rank 3 or 4, got rank {rank}")
    for name, shape in (("key", key), ("value", value)):
        if len(shape) != rank:
            raise VerifyException(
                f"{name} rank {len(shape)} does not match query rank {rank}"
            )
    batch = query[0]
    for name, shape in (("key", key), ("value", value)):
        if not dims_compatible(shape[0], query[0]):
            raise VerifyException(
                f"{name} batch size {format_shape(shape[:1])} does not match "
                f"query batch size {format_shape(query[:1])}"
            )
        batch = merge_dims(batch, shape[0])
    if not dims_compatible(query[-1], key[-1]):
        raise VerifyException(
            f"query head dim {format_shape(query[-1:])} does not match key "
            f"head dim {format_shape(key[-1:])}"
        )
    if not dims_compatible(key[-2], value[-2]):
        raise VerifyException(
            f"key sequence length {format_shape(key[-2:-1])} does not match "
            f"value sequence length {format_shape(value[-2:-1])}"
        )
    if rank == 3:
        return (batch, query[1], value[2])
    q_heads, kv_heads = query[1], key[1]
    if not dims_compatible(key[1], value[1]):
        raise VerifyException(
            f"key heads {format_shape(key[1:2])} do not match value heads "
            f"{format_shape(value[1:2])}"
        )
    kv_heads = merge_dims(key[1], value[1])
    if DYNAMIC not in (q_heads, kv_heads) and (
        kv_heads == 0 or q_heads % kv_heads != 0
    ):
        raise VerifyException(
            f"query heads ({q_heads}) must be a multiple of key/value heads "
            f"({kv_heads})"
        )
    return (batch, q_heads, query[2], value[3])


def attention_scores_shape(
    query: Sequence[int], key: Sequence[int]
) -> tuple[int, ...]:
    """Shape of the score matrix q·kᵀ per query head: [B, (Hq,) Sq, Skv]."""
    return tuple(query[:-1]) + (key[-2],)


def verify_broadcastable_to(
    what: str, shape: Sequence[int], target: Sequence[int]
) -> None:
    """Check that `shape` broadcasts to `target` without growing it."""
    if len(shape) > len(target):
        raise VerifyException(
            f"{what} rank {len(shape)} exceeds the rank {len(target)} of "
            f"{format_shape(target)}"
        )
    aligned = target[len(target) - len(shape) :]
    for dim, goal in zip(shape, aligned):
        if dim != 1 and not dims_compatible(dim, goal):
            raise VerifyException(
                f"{what} shape {format_shape(shape)} does not broadcast to "
                f"{format_shape(target)}"
            )


def concat_shape(shapes: Sequence[Sequence[int]], axis: int) -> tuple[int, ...]:
    """Result shape of concatenating tensors of equal rank along `axis`."""
    if not shapes:
        raise VerifyException("expected at least one input")
    rank = len(shapes[0])
    axis = normalize_axis(axis, rank, "axis")
    out = list(shapes[0])
    for index, shape in enumerate(shapes[1:], start=1):
        if len(shape) != rank:
            raise VerifyException(
                f"input #{index} rank {len(shape)} does not match input #0 "
                f"rank {rank}"
            )
        for d, (x, y) in enumerate(zip(out, shape)):
            if d == axis:
                out[d] = DYNAMIC if DYNAMIC in (x, y) else x + y
            elif not dims_compatible(x, y):
                raise VerifyException(
                    f"input #{index} dimension {d} is {format_shape([y])}, "
                    f"expected {format_shape([x])} as in the other inputs"
                )
            else:
                out[d] = merge_dims(x, y)
    return tuple(out)


def slice_shape(
    source: Sequence[int],
    offsets: Sequence[int],
    sizes: Sequence[int],
    strides: Sequence[int],
) -> tuple[int, ...]:
    """Check a static strided slice against its source; the result is `sizes`."""
    rank = len(source)
    for what, values in (("offsets", offsets), ("sizes", sizes), ("strides", strides)):
        if len(values) != rank:
            raise VerifyException(
                f"expected {rank} {what} (the source rank), got {len(values)}"
            )
    for d, (dim, offset, size, stride) in enumerate(
        zip(source, offsets, sizes, strides)
    ):
        if offset < 0 or size < 0:
            raise VerifyException(
                f"dimension {d}: offset ({offset}) and size ({size}) must be >= 0"
            )
        if stride < 1:
            raise VerifyException(f"dimension {d}: stride must be >= 1, got {stride}")
        if dim != DYNAMIC and size > 0 and offset + (size - 1) * stride >= dim:
            last = offset + (size - 1) * stride
            raise VerifyException(
                f"dimension {d}: the slice reads index {last}, past the "
                f"source extent {dim}"
            )
    return tuple(sizes)
