"""Layout ops as index remapping: values of a kernel evaluated at any element index.

A transpose, a reshape (`tensor.expand_shape` / `tensor.collapse_shape`) or a
slice moves no data: it only changes which element of its source an index
names.  A tiled kernel that reads a value through a chain of them (the
attention output `[b, h, s, d]` transposed to `[b, s, h, d]` and collapsed to
`[b*s, h*d]` before the out-projection) can therefore load each lane straight
from the address its index maps to, however the chain scrambles the order:
merged dimensions are split again by division and remainder by constants,
so no contiguity is needed.

`IndexedValues` evaluates a value of a kernel group at per-dimension index
blocks (one i32 block per dimension of the value, all of the tile's shape):

- a kernel input is one masked load at the row-major offset of the index;
- a layout op maps the index to its source's index (`source_index`);
- an elementwise `linalg.generic` reads each input at the index its indexing
  map gives and evaluates its body on the tiles;
- `mirage.concat` evaluates each part where the index falls inside it.

Results keep the element type they were loaded in when only layout ops lie
between them and memory, so f16/bf16 matmul operands reach `tt.dot` without
a widen-narrow round trip; elementwise ops compute in f32.

`result_index` is the other direction, for stores: from the index of a
value to the index of a layout op's result, so a kernel can write a tile
through a transpose or a reshape of it (a permuted store).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from xdsl.dialects import arith
from xdsl.dialects.builtin import i32
from xdsl.ir import Operation, SSAValue

from mirage_mlir.dialects import tt
from mirage_mlir.dialects.arith import CmpiOp, SelectOp
from mirage_mlir.lowering.dtypes import compute_type, widen
from mirage_mlir.lowering.kernel_builder import (
    LoweringError,
    emit_elementwise_body,
    row_major_strides,
    splat,
    splat_const,
    tensor_operand_dims,
)
from mirage_mlir.lowering.layout_ops import concat_axis, slice_geometry

Index = tuple[SSAValue | None, ...]
"""Per dimension of a value, the i32 block of indices along it (None: index 0)."""

REMAP_OPS = frozenset(
    {"linalg.transpose", "tensor.expand_shape", "tensor.collapse_shape",
     "tensor.extract_slice", "mirage.slice"}
)
"""Layout ops that are a pure index remapping of one source."""

STORE_REMAP_OPS = frozenset({"linalg.transpose", "tensor.expand_shape", "tensor.collapse_shape"})
"""Layout ops a kernel can store through: bijections between source and result."""


def _shape(value: SSAValue) -> tuple[int, ...]:
    return tuple(value.type.get_shape())  # type: ignore[union-attr]


def _groups(op: Operation) -> list[list[int]]:
    return [[i.value.data for i in group.data] for group in op.reassociation.data]


def _scaled(block: SSAValue, factor: int, shape) -> SSAValue:
    if factor == 1:
        return block
    return arith.MuliOp(block, splat_const(factor, i32, shape)).result


def merge_index(index: Sequence[SSAValue | None], sizes: Sequence[int], shape) -> SSAValue | None:
    """The row-major index of one dimension merging dims of `sizes` indexed by `index`."""
    total: SSAValue | None = None
    for block, stride in zip(index, row_major_strides(sizes)):
        if block is None:
            continue
        term = _scaled(block, stride, shape)
        total = term if total is None else arith.AddiOp(total, term).result
    return total


def split_index(block: SSAValue | None, sizes: Sequence[int], shape) -> list[SSAValue | None]:
    """Per dim of `sizes`, the index inside a merged (row-major) dimension indexed by `block`."""
    if block is None:
        return [None] * len(sizes)
    strides = row_major_strides(sizes)
    extent = math.prod(sizes)
    parts: list[SSAValue | None] = []
    for size, stride in zip(sizes, strides):
        if size == 1:
            parts.append(None)
            continue
        part = block
        if stride != 1:
            part = arith.DivSIOp(part, splat_const(stride, i32, shape)).result
        if stride * size != extent:
            part = arith.RemSIOp(part, splat_const(size, i32, shape)).result
        parts.append(part)
    return parts


def source_index(op: Operation, index: Index, shape) -> Index:
    """The index of `op`'s source read by the result's `index` (`op` in REMAP_OPS)."""
    source = op.operands[0]
    if op.name == "linalg.transpose":
        perm = [int(p) for p in op.permutation.get_values()]
        out: list[SSAValue | None] = [None] * len(perm)
        for result_dim, source_dim in enumerate(perm):
            out[source_dim] = index[result_dim]
        return tuple(out)
    if op.name == "tensor.expand_shape":
        result_shape = _shape(op.results[0])
        return tuple(
            merge_index([index[d] for d in group], [result_shape[d] for d in group], shape)
            for group in _groups(op)
        )
    if op.name == "tensor.collapse_shape":
        source_shape = _shape(source)
        out = [None] * len(source_shape)
        for block, group in zip(index, _groups(op)):
            for d, part in zip(group, split_index(block, [source_shape[d] for d in group], shape)):
                out[d] = part
        return tuple(out)
    if op.name in ("tensor.extract_slice", "mirage.slice"):
        offsets, strides = slice_geometry(op)
        mapped: list[SSAValue | None] = []
        for block, offset, stride in zip(index, offsets, strides):
            if block is None:
                mapped.append(splat_const(offset, i32, shape) if offset else None)
                continue
            block = _scaled(block, stride, shape)
            if offset:
                block = arith.AddiOp(block, splat_const(offset, i32, shape)).result
            mapped.append(block)
        return tuple(mapped)
    raise LoweringError(f"'{op.name}' is not an index remapping", op)


def result_index(op: Operation, index: Index, shape) -> Index:
    """The index of `op`'s result holding its source's element at `index` (STORE_REMAP_OPS)."""
    if op.name == "linalg.transpose":
        perm = [int(p) for p in op.permutation.get_values()]
        return tuple(index[p] for p in perm)
    if op.name == "tensor.collapse_shape":
        source_shape = _shape(op.operands[0])
        return tuple(
            merge_index([index[d] for d in group], [source_shape[d] for d in group], shape)
            for group in _groups(op)
        )
    if op.name == "tensor.expand_shape":
        result_shape = _shape(op.results[0])
        out: list[SSAValue | None] = [None] * len(result_shape)
        for block, group in zip(index, _groups(op)):
            for d, part in zip(group, split_index(block, [result_shape[d] for d in group], shape)):
                out[d] = part
        return tuple(out)
    raise LoweringError(f"a kernel cannot store through '{op.name}'", op)


def row_major_offsets(tensor_shape: Sequence[int], index: Index, shape) -> SSAValue:
    """Element offsets of the lanes at `index` in a row-major tensor of `tensor_shape`."""
    total = merge_index(
        [b if size != 1 else None for b, size in zip(index, tensor_shape)], tensor_shape, shape
    )
    return total if total is not None else splat_const(0, i32, shape)


@dataclass
class IndexedValues:
    """Evaluates values of a kernel group at index blocks of one tile `shape`.

    `pointers` maps the group's inputs to kernel pointer arguments; `ops` are
    the group's ops that may be evaluated (others are a located error).
    Evaluations are cached per (value, index, mask), so a value read twice
    at the same index is computed once.
    """

    shape: tuple[int, ...]
    pointers: dict[SSAValue, SSAValue]
    ops: frozenset[Operation]
    _cache: dict[tuple, SSAValue] = field(default_factory=dict)

    def evaluate(self, value: SSAValue, index: Index, mask: SSAValue, user: Operation) -> SSAValue:
        """The tile of `value` at `index`; lanes outside `mask` are not loaded (0)."""
        key = (value, tuple(index), mask)
        if key not in self._cache:
            self._cache[key] = self._evaluate(value, tuple(index), mask, user)
        return self._cache[key]

    def _evaluate(self, value: SSAValue, index: Index, mask: SSAValue, user: Operation) -> SSAValue:
        from mirage_mlir.lowering.fused_body import is_elementwise_generic, splat_constant_value

        if value in self.pointers:
            element = value.type.get_element_type()  # type: ignore[union-attr]
            offsets = row_major_offsets(_shape(value), index, self.shape)
            pointers = tt.AddPtrOp(splat(self.pointers[value], self.shape), offsets).result
            return tt.LoadOp(pointers, mask, splat_const(0.0, element, self.shape)).result
        scalar = splat_constant_value(value)
        if scalar is not None:
            element = compute_type(value.type.get_element_type())  # type: ignore[union-attr]
            return splat_const(scalar, element, self.shape)
        op = value.owner
        if not isinstance(op, Operation) or op not in self.ops:
            raise LoweringError(f"'{user.name}' reads a value this kernel does not have", user)
        if op.name in REMAP_OPS:
            return self.evaluate(op.operands[0], source_index(op, index, self.shape), mask, op)
        if op.name == "mirage.concat":
            return self._concat(op, index, mask)
        if is_elementwise_generic(op):
            return self._elementwise(op, index, mask)
        raise LoweringError(f"'{op.name}' cannot be evaluated at remapped indices", op)

    def _concat(self, op: Operation, index: Index, mask: SSAValue) -> SSAValue:
        axis = concat_axis(op)
        along = index[axis]
        if along is None:  # a concatenated axis of size 1 reads its first part at 0
            return self.evaluate(op.operands[0], index, mask, op)
        result: SSAValue | None = None
        start = 0
        for source in op.operands:
            size = _shape(source)[axis]
            inside = arith.AndIOp(
                CmpiOp(along, splat_const(start, i32, self.shape), "sge").result,
                CmpiOp(along, splat_const(start + size, i32, self.shape), "slt").result,
            ).result
            part_index = list(index)
            part_index[axis] = (
                arith.SubiOp(along, splat_const(start, i32, self.shape)).result if start else along
            )
            part_mask = arith.AndIOp(mask, inside).result
            part = widen(self.evaluate(source, tuple(part_index), part_mask, op))
            result = part if result is None else SelectOp(inside, part, result).result
            start += size
        assert result is not None
        return result

    def _elementwise(self, op: Operation, index: Index, mask: SSAValue) -> SSAValue:
        maps = [m.data for m in op.indexing_maps.data]
        tiles = []
        for value, indexing_map in zip(op.inputs, maps):
            dims = tensor_operand_dims(indexing_map, op)
            read = tuple(index[d] if d is not None else None for d in dims)
            tiles.append(widen(self.evaluate(value, read, mask, op)))
        out_arg = op.regions[0].block.args[-1]
        if out_arg.uses:
            tiles.append(widen(self.evaluate(op.outputs[0], index, mask, op)))
        else:
            tiles.append(
                tiles[0] if tiles else splat_const(0.0, compute_type(out_arg.type), self.shape)
            )
        (tile,) = emit_elementwise_body(op, tiles, self.shape)
        return tile


def index_of_space(space_index: Sequence[SSAValue], shape: Sequence[int]) -> Index:
    """A tile space's index blocks as an `Index` of a value of `shape` (size-1 dims: 0)."""
    return tuple(b if size != 1 else None for b, size in zip(space_index, shape))

