"""Kernel template: row reductions with elementwise prologue and epilogue.

One program per row of the last dimension; the whole row is one block of
`next_power_of_two(n)` lanes (lanes past `n` masked), so a row is read once
and written once.  The ops it fuses:

- `mirage.softmax` over the last axis, in the max-subtracted (stable) form;
- `mirage.rms_norm` and `mirage.layer_norm` (statistics over the last axis);
- `linalg.generic` reductions of the last dimension whose body is a map of
  the input followed by one associative combine (add, mul, max, min) with the
  accumulator; the result is constant along the row;
- elementwise generics and transposes before and after them.

Grid: `(rows,)` where rows is the product of the leading dimensions.
"""

from __future__ import annotations

import math

from xdsl.builder import ImplicitBuilder
from xdsl.dialects import arith
from xdsl.dialects import math as xmath
from xdsl.dialects.builtin import i32
from xdsl.ir import Operation, SSAValue

from mirage_mlir.dialects import tt
from mirage_mlir.dialects.arith import CmpiOp, SelectOp
from mirage_mlir.lowering.dtypes import compute_type
from mirage_mlir.lowering.fused_body import FusedBody, KernelGroup, splat_constant_value
from mirage_mlir.lowering.kernel_builder import (
    REDUCTION_COMBINERS,
    LoweringError,
    TileSpace,
    const_i32,
    emit_elementwise_body,
    next_power_of_two,
    reduction_combine,
    splat,
    splat_const,
    tensor_operand_dims,
)
from mirage_mlir.lowering.kernel_signature import kernel_for_group

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


class _RowBody(FusedBody):
    """A `FusedBody` that also knows the row-wide ops."""

    def masked(self, tile: SSAValue, fill: float) -> SSAValue:
        """Lanes past the row replaced by `fill`, the reduction's identity."""
        element = tile.type.get_element_type()  # type: ignore[union-attr]
        return SelectOp(self.space.mask, tile, splat_const(fill, element, self.space.shape)).result

    def row_sum(self, tile: SSAValue) -> SSAValue:
        return _reduce(self.masked(tile, 0.0), arith.AddfOp)

    def run_row_op(self, op: Operation) -> None:
        n = self.space_shape[-1]
        block = self.space.shape
        full = list(range(len(self.space_shape)))
        if op.name == "mirage.softmax":
            if op.normalized_axis != len(self.space_shape) - 1:
                raise LoweringError("mirage.softmax is lowered over the last axis only", op)
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
            variance = arith.MulfOp(self.row_sum(arith.MulfOp(x, x).result), inv_n).result
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
            raise LoweringError(f"'{op.name}' cannot be lowered by the row-reduction template", op)

    def _run_reduction_generic(self, op: Operation) -> None:
        rank = len(self.space_shape)
        kinds = [str(t.data) for t in op.iterator_types]
        maps = [m.data for m in op.indexing_maps.data]
        if (
            len(op.results) != 1
            or kinds != ["parallel"] * (rank - 1) + ["reduction"]
            or tensor_operand_dims(maps[-1], op) != list(range(rank - 1))
            or tuple(op.inputs[0].type.get_shape()) != self.space_shape
        ):
            raise LoweringError(
                "only reductions of the last dimension fuse into a row-reduction kernel", op
            )
        init = splat_constant_value(op.outputs[0])
        if init is None:
            raise LoweringError("a row reduction's init must be a constant fill", op)
        found = reduction_combine(op)
        if found is None:
            raise LoweringError(
                "a row reduction's body must end in one add, mul, max or min with the accumulator",
                op,
            )
        combine, mapped_value = found
        tiles = [self.read(v, tensor_operand_dims(m, op), op) for v, m in zip(op.inputs, maps)]
        element = compute_type(op.regions[0].block.args[-1].type)
        # Only the map part of the body runs on the tile; the combine becomes
        # the tt.reduce combiner, and the init joins once at the end.
        mapped = _map_part(op, tiles, mapped_value, self.space.shape)
        combiner, identity = REDUCTION_COMBINERS[combine.name]
        total = _reduce(self.masked(mapped, identity), combiner)
        total = combiner(total, splat_const(init, element, ())).result
        self.tiles[op.results[0]] = splat(total, self.space.shape)
        self.row_constant.add(op.results[0])


def _map_part(op: Operation, tiles: list[SSAValue], mapped_value: SSAValue, shape) -> SSAValue:
    """The tile of `mapped_value` in a reduction body (the part before the combine)."""
    block = op.regions[0].block
    if mapped_value in block.args:
        return tiles[list(block.args).index(mapped_value)]
    return emit_elementwise_body(op, [*tiles, tiles[0]], shape, until=mapped_value)[0]


def build_row_reduction_kernel(
    name: str, group: KernelGroup
) -> tuple[tt.FuncOp, tuple[int, ...]]:
    """The row-reduction kernel of `group` and its launch grid."""
    shapes = {tuple(v.type.get_shape()) for v in group.outputs}  # type: ignore[union-attr]
    if len(shapes) != 1:
        raise LoweringError("a row-reduction kernel's outputs must share one shape", group.anchor)
    (space_shape,) = shapes
    if not space_shape or space_shape[-1] > MAX_ROW:
        raise LoweringError(
            f"rows of {space_shape[-1] if space_shape else 0} elements do not fit one program "
            f"(at most {MAX_ROW})",
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
        for value, pointer in zip(group.outputs, out_pointers):
            space.store(pointer, value.type, body.read(value, list(range(len(space_shape))), group.anchor))
        tt.ReturnOp()
    return kernel, (max(1, math.prod(space_shape[:-1])),)
