"""Layout ops in `convert-mirage-to-triton`: folded on weights, copies otherwise.

A layout op moves elements without computing: `mirage.concat`, `tensor.concat`,
`mirage.slice`, `tensor.extract_slice`, `linalg.broadcast`, `tensor.pad` (with a
constant value) and `linalg.transpose`.

- On weights (`arith.constant` operands) they run at compile time:
  `fold_constant_layout_ops` replaces them by one constant whose blob holds
  the result, so the joined q/k/v weight of a fused projection (a concat of
  three weights, then a transpose) is one buffer and no kernel.
- Otherwise they run inside a kernel built on a `TileSpace` (the elementwise
  template, so they fuse with elementwise neighbours): each output lane
  computes the element offset it reads from, so a slice or a concat is a
  strided, masked load and the kernel stores a contiguous result; a pad
  loads its source where the lane lies inside it and yields the pad value
  elsewhere (the load's `other`).
- A convolution or pooling reads its padded input through the pad
  (`PaddedOperand`): the same masked loads, in the kernel that consumes it,
  so the padded tensor is never built.

A slice or concat reads its sources from memory (kernel inputs); a value
computed earlier in the same kernel cannot be gathered from registers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.dialects import arith
from xdsl.dialects.builtin import (
    BFloat16Type,
    FloatAttr,
    IntegerAttr,
    TensorType,
    i32,
)
from xdsl.ir import Operation, SSAValue

from mirage_mlir.passes.fold_compile_time import blob_constant
from mirage_mlir.dialects import tt
from mirage_mlir.dialects.arith import CmpiOp, SelectOp
from mirage_mlir.lowering.kernel_builder import (
    LoweringError,
    load_elements,
    TileSpace,
    row_major_strides,
    splat,
    splat_const,
)

LAYOUT_OPS = frozenset(
    {
        "mirage.concat",
        "tensor.concat",
        "mirage.slice",
        "tensor.extract_slice",
        "tensor.pad",
        "linalg.broadcast",
    }
)
"""Layout ops lowered by `run_layout_op` (transposes are `FusedBody`'s own)."""


def slice_geometry(op: Operation) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Static (offsets, strides) of a `mirage.slice` or `tensor.extract_slice`."""
    if op.name == "tensor.extract_slice":
        if len(op.operands) != 1:
            raise LoweringError(
                "tensor.extract_slice with dynamic offsets is not supported", op
            )
        offsets = tuple(op.static_offsets.get_values())
        strides = tuple(op.static_strides.get_values())
        if len(op.source.type.get_shape()) != len(op.result.type.get_shape()):
            raise LoweringError(
                "rank-reducing tensor.extract_slice is not supported", op
            )
        return offsets, strides
    return tuple(op.offsets), tuple(op.strides)


def pad_widths(op: Operation) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Static (low, high) padding of a `tensor.pad`, per dimension."""
    if len(op.low) or len(op.high):
        raise LoweringError("tensor.pad with dynamic padding is not supported", op)
    return tuple(op.static_low.get_values()), tuple(op.static_high.get_values())


def pad_value(op: Operation) -> float | int | None:
    """The padding value of a `tensor.pad` when it is a scalar constant, else None."""
    (yielded,) = op.region.block.last_op.operands
    owner = yielded.owner
    if not isinstance(owner, Operation) or owner.name != "arith.constant":
        return None
    attr = owner.properties.get("value") or owner.attributes.get("value")
    if isinstance(attr, FloatAttr | IntegerAttr):
        return attr.value.data
    return None


def foldable_pad(value: SSAValue) -> Operation | None:
    """The `tensor.pad` defining `value` when a consumer can read through it.

    Its widths must be static and its value a scalar constant.
    """
    owner = value.owner
    if not isinstance(owner, Operation) or owner.name != "tensor.pad":
        return None
    if len(owner.low) or len(owner.high) or pad_value(owner) is None:
        return None
    return owner


@dataclass(frozen=True)
class PaddedOperand:
    """A tensor read by a kernel as the result of a pad of `source` (no pad: all zero).

    Indices are in the padded tensor's coordinates; lanes in the padding
    read `value`.
    """

    source: SSAValue
    low: tuple[int, ...]
    high: tuple[int, ...]
    value: float | int = 0.0
    shape: tuple[int, ...] | None = None
    """The source's shape as indexed (a view of it), when it is not the source's own."""

    @staticmethod
    def of(value: SSAValue) -> PaddedOperand:
        """`value` read through the foldable pad that defines it, if any.

        A `tensor.expand_shape` of such a pad that splits no padded
        dimension (grouped convolutions split the channels of a padded
        image) is read through as well, as a view of the pad's source.
        """
        pad = foldable_pad(value)
        rank = len(value.type.get_shape())  # type: ignore[union-attr]
        if pad is not None:
            low, high = pad_widths(pad)
            return PaddedOperand(pad.source, low, high, pad_value(pad))  # type: ignore[arg-type]
        view = _padded_view(value)
        return (
            view if view is not None else PaddedOperand(value, (0,) * rank, (0,) * rank)
        )

    def load(
        self, pointer: SSAValue, index: list[SSAValue], mask: SSAValue, shape
    ) -> SSAValue:
        """Load the padded tensor at per-dimension `index` blocks of `shape`.

        The result keeps the source's element type (f16/bf16 are not widened).
        """
        source_shape = self.shape or self.source.type.get_shape()  # type: ignore[union-attr]
        terms: list[SSAValue | None] = []
        for term, low, high, size in zip(index, self.low, self.high, source_shape):
            if low:
                term = arith.SubiOp(term, splat_const(low, i32, shape)).result
            if low or high:
                inside = arith.AndIOp(
                    CmpiOp(term, splat_const(0, i32, shape), "sge").result,
                    CmpiOp(term, splat_const(size, i32, shape), "slt").result,
                ).result
                mask = arith.AndIOp(mask, inside).result
            terms.append(term)
        element = self.source.type.get_element_type()  # type: ignore[union-attr]
        offsets = _offsets_of(shape, source_shape, terms)
        pointers = tt.AddPtrOp(splat(pointer, shape), offsets).result
        return tt.LoadOp(pointers, mask, splat_const(self.value, element, shape)).result


def _padded_view(value: SSAValue) -> PaddedOperand | None:
    """A `tensor.expand_shape` of a foldable pad, splitting only unpadded dims, as a read."""
    view = value.owner
    if not isinstance(view, Operation) or view.name != "tensor.expand_shape":
        return None
    pad = foldable_pad(view.src)
    if pad is None:
        return None
    low, high = pad_widths(pad)
    groups = [[int(i.value.data) for i in g.data] for g in view.reassociation.data]
    rank = len(value.type.get_shape())  # type: ignore[union-attr]
    view_low, view_high = [0] * rank, [0] * rank
    for dim, group in enumerate(groups):
        if (low[dim] or high[dim]) and len(group) != 1:
            return None
        view_low[group[0]], view_high[group[0]] = low[dim], high[dim]
    shape = tuple(
        size - lo - hi
        for size, lo, hi in zip(value.type.get_shape(), view_low, view_high)
    )
    fill = pad_value(pad)
    return PaddedOperand(pad.source, tuple(view_low), tuple(view_high), fill, shape)  # type: ignore[arg-type]


CONCAT_OPS = frozenset({"mirage.concat", "tensor.concat"})
"""Concatenations: `mirage.concat` (any axis) and `tensor.concat` (`dim`)."""


def concat_axis(op: Operation) -> int:
    """The concatenated dimension of a `mirage.concat` or `tensor.concat`, non-negative."""
    if op.name == "tensor.concat":
        return op.dim.value.data
    return op.normalized_axis


def broadcast_dims(op: Operation) -> list[int | None]:
    """For each dimension of a `linalg.broadcast`'s input, the result dimension it reads."""
    added = set(op.dimensions.get_values())
    rank = len(op.results[0].type.get_shape())
    return [d for d in range(rank) if d not in added]


# -- compile time ---------------------------------------------------------------


def _constant_array(value: SSAValue) -> np.ndarray | None:
    from mirage_mlir.lowering.program import constant_array

    owner = value.owner
    if not isinstance(owner, Operation) or owner.name != "arith.constant":
        return None
    if not isinstance(value.type, TensorType) or isinstance(
        value.type.get_element_type(), BFloat16Type
    ):
        return None  # bf16 blobs are not stored as float32; leave them to a kernel
    attr = owner.properties.get("value") or owner.attributes.get("value")
    try:
        return constant_array(attr, value.type)
    except ValueError:
        return None


def _evaluate(op: Operation, arrays: list[np.ndarray]) -> np.ndarray:
    if op.name == "tensor.pad":
        low, high = pad_widths(op)
        return np.pad(arrays[0], list(zip(low, high)), constant_values=pad_value(op))
    if op.name in CONCAT_OPS:
        return np.concatenate(arrays, axis=concat_axis(op))
    if op.name == "linalg.transpose":
        return np.transpose(arrays[0], list(op.permutation.get_values()))
    offsets, strides = slice_geometry(op)
    sizes = op.results[0].type.get_shape()
    index = tuple(
        slice(o, o + s * (n - 1) + 1, s) for o, s, n in zip(offsets, strides, sizes)
    )
    return arrays[0][index]


def fold_constant_layout_ops(block) -> int:
    """Replace layout ops whose operands are all weights by one weight; returns how many."""
    folded = 0
    for op in list(block.ops):
        if op.name not in LAYOUT_OPS and op.name != "linalg.transpose":
            continue
        if op.name == "linalg.broadcast":
            continue  # a kernel reads the weight through strides; no bigger copy
        if op.name == "tensor.pad" and foldable_pad(op.results[0]) is None:
            continue
        sources = (
            [op.operands[0]] if op.name == "linalg.transpose" else list(op.operands)
        )
        arrays = [_constant_array(v) for v in sources]
        if not arrays or any(a is None for a in arrays):
            continue
        result = op.results[0]
        array = _evaluate(op, arrays)  # type: ignore[arg-type]
        constant = blob_constant(array, result.type, f"folded_{op.name.split('.')[-1]}")
        block.insert_op_before(constant, op)
        result.replace_all_uses_with(constant.result)
        block.erase_op(op)
        folded += 1
    return folded


# -- in a kernel ------------------------------------------------------------------


def _offsets(space: TileSpace, shape, terms: list[SSAValue | None]) -> SSAValue:
    """Row-major element offsets of the lanes whose index along dim d is `terms[d]`."""
    return _offsets_of(space.shape, shape, terms)


def _offsets_of(block_shape, shape, terms: list[SSAValue | None]) -> SSAValue:
    """Row-major offsets into a tensor of `shape`, for index blocks of `block_shape`."""
    total: SSAValue | None = None
    for size, stride, term in zip(shape, row_major_strides(shape), terms):
        if term is None or size == 1:
            continue
        if stride != 1:
            term = arith.MuliOp(term, splat_const(stride, i32, block_shape)).result
        total = term if total is None else arith.AddiOp(total, term).result
    return total if total is not None else splat_const(0, i32, block_shape)


def _gather(
    body, source: SSAValue, terms: list[SSAValue | None], mask: SSAValue, op
) -> SSAValue:
    """Load `source` (a kernel input) at the given per-dimension indices."""
    from mirage_mlir.lowering.dtypes import widen

    if source not in body.pointers:
        raise LoweringError(
            f"'{op.name}' must read its operands from memory, not from values of the same kernel",
            op,
        )
    space = body.space
    element = source.type.get_element_type()
    pointers = tt.AddPtrOp(
        splat(body.pointers[source], space.shape),
        _offsets(space, source.type.get_shape(), terms),
    ).result
    return widen(load_elements(pointers, mask, element))


def _affine(index: SSAValue, offset: int, stride: int, shape) -> SSAValue:
    if stride != 1:
        index = arith.MuliOp(index, splat_const(stride, i32, shape)).result
    if offset:
        index = arith.AddiOp(index, splat_const(offset, i32, shape)).result
    return index


def run_layout_op(body, op: Operation) -> None:
    """Evaluate a slice, concat, broadcast or pad on `body`'s tile space (its result's shape)."""
    body._check_shape(op, op.results[0].type)
    space: TileSpace = body.space
    if op.name == "tensor.pad":
        _run_pad(body, op)
        return
    if op.name in ("mirage.slice", "tensor.extract_slice"):
        offsets, strides = slice_geometry(op)
        terms = [
            _affine(space.index[d], o, s, space.shape)
            for d, (o, s) in enumerate(zip(offsets, strides))
        ]
        body.tiles[op.results[0]] = _gather(body, op.operands[0], terms, space.mask, op)
        return
    if op.name == "linalg.broadcast":
        body.tiles[op.results[0]] = body.read(op.operands[0], broadcast_dims(op), op)
        return
    if op.name not in CONCAT_OPS:
        raise LoweringError(f"'{op.name}' is not a layout op", op)
    axis = concat_axis(op)
    along = space.index[axis]
    result: SSAValue | None = None
    start = 0
    for source in op.operands:
        size = source.type.get_shape()[axis]
        inside = arith.AndIOp(
            CmpiOp(along, splat_const(start, i32, space.shape), "sge").result,
            CmpiOp(along, splat_const(start + size, i32, space.shape), "slt").result,
        ).result
        terms: list[SSAValue | None] = list(space.index)
        terms[axis] = _affine(along, -start, 1, space.shape)
        mask = arith.AndIOp(space.mask, inside).result
        part = _gather(body, source, terms, mask, op)
        result = part if result is None else SelectOp(inside, part, result).result
        start += size
    body.tiles[op.results[0]] = result


def _run_pad(body, op: Operation) -> None:
    """A pad: each lane loads its source element, or takes the pad value outside it."""
    from mirage_mlir.lowering.dtypes import widen

    low, high = pad_widths(op)
    value = pad_value(op)
    if value is None:
        raise LoweringError(
            "tensor.pad needs a constant padding value to be lowered", op
        )
    operand = PaddedOperand(op.source, low, high, value)
    if operand.source not in body.pointers:
        raise LoweringError(
            "'tensor.pad' must read its source from memory, not from values of the same kernel",
            op,
        )
    space: TileSpace = body.space
    loaded = operand.load(
        body.pointers[operand.source], list(space.index), space.mask, space.shape
    )
    body.tiles[op.results[0]] = widen(loaded)
