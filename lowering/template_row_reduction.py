"""Kernel template: row reductions with elementwise prologue and epilogue.

One program per row of the last dimension; the whole row is one block of
`next_power_of_two(n)` lanes (lanes past `n` masked), so a row is read once
and written once.  The ops it fuses:

- `mirage.softmax` over the last axis, in the max-subtracted (stable) form;
- `mirage.rms_norm` and `mirage.layer_norm` (statistics over the last axis);
- `linalg.generic` reductions of the last loop whose body is a map of the
  inputs followed by a combine `template_reduction.reduction_of` knows (sums,
  products, max/min, integer and i1 `all`/`any` folds), the reduced
  dimension dropped or kept as size 1; inputs from memory are read through
  their maps, so the reduced axis of a tensor need not be its last;
- elementwise generics and transposes before and after them, on whole rows
  or on row statistics (values of shape `...x1` or with the last dimension
  dropped, one per row, e.g. a LayerNorm's mean and variance, computed in f64
  where the module asks for f64).

The rows are those of the first row-wide op (or the outputs' common shape);
an output is a whole row, or a row statistic stored once per row.

Grid: `(rows,)` where rows is the product of the leading dimensions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from xdsl.builder import ImplicitBuilder
from xdsl.dialects import arith
from xdsl.dialects import math as xmath
from xdsl.dialects.builtin import TensorType, i32
from xdsl.ir import Operation, SSAValue

from mirage_mlir.dialects import tt
from mirage_mlir.dialects.arith import CmpiOp, SelectOp
from mirage_mlir.lowering.dtypes import narrow
from mirage_mlir.lowering.fused_body import FusedBody, KernelGroup
from mirage_mlir.lowering.kernel_builder import (
    LoweringError,
    TileSpace,
    const_i32,
    emit_elementwise_body,
    next_power_of_two,
    splat,
    splat_const,
    tensor_operand_dims,
)
from mirage_mlir.lowering.kernel_signature import kernel_for_group
from mirage_mlir.lowering.template_reduction import (
    combine_init,
    fold,
    init_value,
    loop_sizes,
    require_reduction,
)

MAX_ROW = 16384
"""The longest row one program holds in registers."""


def _row_space(space_shape: tuple[int, ...], block: int) -> TileSpace:
    """Lanes along the last dimension; leading indices from the program id."""
    row = tt.GetProgramIdOp(0).result
    cols = tt.MakeRangeOp(0, block).result
    mask = CmpiOp(cols, splat_const(space_shape[-1], i32, [block]), "slt").result
    index: list[SSAValue] = []
    rest = row
    leading = space_shape[:-1]
    for d, size in reversed(list(enumerate(leading))):
        # Decompose the row number into leading indices, innermost first.
        if d == 0:
            index.insert(0, splat(rest, [block]))
        else:
            index.insert(0, splat(arith.RemSIOp(rest, const_i32(size)).result, [block]))
            rest = arith.DivSIOp(rest, const_i32(size)).result
    index.append(cols)
    return TileSpace((block,), index, mask)


def _reduce(tile: SSAValue, combiner: type[Operation]) -> SSAValue:
    return tt.ReduceOp([tile], 0, lambda a, b: [combiner(a, b).result]).result[0]


def _space_shape(group: KernelGroup) -> tuple[int, ...]:
    """The rows the group works on: the input of its first row-wide op, else its outputs."""
    for op in group.ops:
        if op.name in ("mirage.softmax", "mirage.rms_norm", "mirage.layer_norm"):
            return tuple(op.input.type.get_shape())
        if op.name == "linalg.generic" and "reduction" in [
            str(t.data) for t in op.iterator_types
        ]:
            return tuple(loop_sizes(op))
    shapes = {tuple(v.type.get_shape()) for v in group.outputs}  # type: ignore[union-attr]
    if len(shapes) != 1:
        raise LoweringError(
            "a row-reduction kernel's outputs must share one shape", group.anchor
        )
    return shapes.pop()


def row_shapes(space_shape: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The shapes of one value per row: the last dimension kept as 1, or dropped."""
    return (*space_shape[:-1], 1), space_shape[:-1]


class _RowBody(FusedBody):
    """A `FusedBody` that also knows the row-wide ops.

    Values of a row shape (see `row_shapes`) are row constants: their tile
    holds the row's value in every lane.
    """

    def masked(self, tile: SSAValue, fill: float) -> SSAValue:
        """Lanes past the row replaced by `fill`, the reduction's identity."""
        element = tile.type.get_element_type()  # type: ignore[union-attr]
        return SelectOp(
            self.space.mask, tile, splat_const(fill, element, self.space.shape)
        ).result

    def row_sum(self, tile: SSAValue) -> SSAValue:
        return _reduce(self.masked(tile, 0.0), arith.AddfOp)

    def is_row_shape(self, value: SSAValue) -> bool:
        shape = tuple(value.type.get_shape())  # type: ignore[union-attr]
        return shape != self.space_shape and shape in row_shapes(self.space_shape)

    def read(
        self, value: SSAValue, dims: Sequence[int | None], user: Operation
    ) -> SSAValue:
        """As `FusedBody.read`; a row constant reads the same through any map that
        keeps the leading dimensions in place."""
        if value in self.row_constant:
            shape = value.type.get_shape()  # type: ignore[union-attr]
            leading = len(self.space_shape) - 1
            in_place = all(
                dims[i] == i or (dims[i] is None and shape[i] == 1)
                for i in range(leading)
            )
            if in_place and all(d in (None, leading) for d in dims[leading:]):
                return self.tiles[value]
            raise LoweringError(
                f"'{user.name}' reads a row statistic computed in the same kernel through a "
                "permutation, which this template cannot fuse",
                user,
            )
        return super().read(value, dims, user)

    def run(self, op: Operation) -> bool:
        """`FusedBody.run`; elementwise ops on row constants give row constants."""
        if not super().run(op):
            return False
        for result in op.results:
            if result in self.tiles and self.is_row_shape(result):
                self.row_constant.add(result)
        return True

    def _check_shape(self, op: Operation, result_type: object) -> None:
        assert isinstance(result_type, TensorType)
        if tuple(result_type.get_shape()) not in (
            self.space_shape,
            *row_shapes(self.space_shape),
        ):
            super()._check_shape(op, result_type)

    def run_row_op(self, op: Operation) -> None:
        n = self.space_shape[-1]
        block = self.space.shape
        full = list(range(len(self.space_shape)))
        if op.name == "mirage.softmax":
            if op.normalized_axis != len(self.space_shape) - 1:
                raise LoweringError(
                    "mirage.softmax is lowered over the last axis only", op
                )
            x = self.read(op.input, full, op)
            row_max = _reduce(self.masked(x, float("-inf")), arith.MaxnumfOp)
            numerators = xmath.ExpOp(arith.SubfOp(x, splat(row_max, block))).result
            total = self.row_sum(numerators)
            self.tiles[op.result] = arith.DivfOp(numerators, splat(total, block)).result
        elif op.name in ("mirage.rms_norm", "mirage.layer_norm"):
            x = self.read(op.input, full, op)
            element = x.type.get_element_type()  # type: ignore[union-attr]
            inv_n = splat_const(1.0 / n, element, ())
            eps = splat_const(op.eps.value.data, element, ())
            if op.name == "mirage.layer_norm":
                mean = arith.MulfOp(self.row_sum(x), inv_n).result
                x = arith.SubfOp(x, splat(mean, block)).result
            variance = arith.MulfOp(
                self.row_sum(arith.MulfOp(x, x).result), inv_n
            ).result
            scale = xmath.RsqrtOp(arith.AddfOp(variance, eps)).result
            y = arith.MulfOp(x, splat(scale, block)).result
            last = [len(self.space_shape) - 1]
            y = arith.MulfOp(y, self.read(op.weight, last, op)).result
            if op.name == "mirage.layer_norm":
                y = arith.AddfOp(y, self.read(op.bias, last, op)).result
            self.tiles[op.result] = y
        elif op.name == "linalg.generic":
            self._run_reduction_generic(op)
        else:
            raise LoweringError(
                f"'{op.name}' cannot be lowered by the row-reduction template", op
            )

    def _run_reduction_generic(self, op: Operation) -> None:
        rank = len(self.space_shape)
        kinds = [str(t.data) for t in op.iterator_types]
        maps = [m.data for m in op.indexing_maps.data]
        out_dims = tensor_operand_dims(maps[-1], op)
        if (
            len(op.results) != 1
            or kinds != ["parallel"] * (rank - 1) + ["reduction"]
            or tuple(loop_sizes(op)) != self.space_shape
            or not self.is_row_shape(op.results[0])
            or [d for d in out_dims if d is not None] != list(range(rank - 1))
        ):
            raise LoweringError(
                "only reductions of the last loop over the kernel's rows, with one result per "
                f"row ({'x'.join(map(str, self.space_shape))} -> "
                f"{'x'.join(map(str, row_shapes(self.space_shape)[0]))} or "
                f"{'x'.join(map(str, row_shapes(self.space_shape)[1])) or 'a scalar'}), "
                "fuse into a row-reduction kernel",
                op,
            )
        init = init_value(op.outputs[0])
        if init is None:
            raise LoweringError("a row reduction's init must be a constant fill", op)
        reduction = require_reduction(op, "row reduction")
        tiles = [
            self.read(v, tensor_operand_dims(m, op), op)
            for v, m in zip(op.inputs, maps)
        ]
        # Only the map part of the body runs on the tile; the combine becomes
        # the tt.reduce combiner, and the init joins once at the end.
        mapped = _map_part(op, tiles, reduction.mapped, self.space.shape)
        total = combine_init(
            fold(mapped, 0, reduction, self.space.mask), reduction, init, ()
        )
        self.tiles[op.results[0]] = splat(total, self.space.shape)
        self.row_constant.add(op.results[0])


def _map_part(
    op: Operation, tiles: list[SSAValue], mapped_value: SSAValue, shape
) -> SSAValue:
    """The tile of `mapped_value` in a reduction body (the part before the combine)."""
    block = op.regions[0].block
    if mapped_value in block.args:
        return tiles[list(block.args).index(mapped_value)]
    return emit_elementwise_body(op, [*tiles, tiles[0]], shape, until=mapped_value)[0]


def _store_row(
    space: TileSpace, pointer: SSAValue, value: SSAValue, tile: SSAValue
) -> None:
    """Write a row constant once per row, from the row's first lane."""
    shape = value.type.get_shape()  # type: ignore[union-attr]
    first = CmpiOp(space.index[-1], splat_const(0, i32, space.shape), "eq").result
    offsets = space.offsets(shape, list(range(len(shape))))
    pointers = tt.AddPtrOp(splat(pointer, space.shape), offsets).result
    element = value.type.get_element_type()  # type: ignore[union-attr]
    tt.StoreOp(pointers, narrow(tile, element), first)


def build_row_reduction_kernel(
    name: str, group: KernelGroup
) -> tuple[tt.FuncOp, tuple[int, ...]]:
    """The row-reduction kernel of `group` and its launch grid."""
    space_shape = _space_shape(group)
    if not space_shape or space_shape[-1] > MAX_ROW:
        raise LoweringError(
            f"rows of {space_shape[-1] if space_shape else 0} elements do not fit one program "
            f"(at most {MAX_ROW})",
            group.anchor,
        )
    allowed = (space_shape, *row_shapes(space_shape))
    for value in group.outputs:
        if tuple(value.type.get_shape()) not in allowed:  # type: ignore[union-attr]
            raise LoweringError(
                "a row-reduction kernel's outputs must be whole rows "
                f"({'x'.join(map(str, space_shape))}) or one value per row, not {value.type}",
                group.anchor,
            )
    block = next_power_of_two(space_shape[-1])
    kernel, pointers, out_pointers = kernel_for_group(name, group)
    with ImplicitBuilder(kernel.body.block):
        space = _row_space(space_shape, block)
        body = _RowBody(space, space_shape, pointers)
        for op in group.ops:
            if not body.run(op):
                body.run_row_op(op)
        full = list(range(len(space_shape)))
        for value, pointer in zip(group.outputs, out_pointers):
            if body.is_row_shape(value):
                dims = full[: len(value.type.get_shape())]  # type: ignore[union-attr]
                _store_row(space, pointer, value, body.read(value, dims, group.anchor))
            else:
                space.store(pointer, value.type, body.read(value, full, group.anchor))
        tt.ReturnOp()
    return kernel, (max(1, math.prod(space_shape[:-1])),)
