"""Kernel template: `tm_tensor.sort` by rank counting (torch.sort, argsort, topk routers).

The CPU runtime (`driver.torch_tm_tensor`) sorts each line of the first
`outs` operand stably, ascending or descending as the comparator says, and
permutes every `outs` operand by that order.  This kernel computes each
element's place directly: one program per line, the line is one block of
`B = next_power_of_two(n)` lanes, and on a `[B, B]` tile element `i` counts
the elements `j` that come before it,

    rank(i) = #{j : x[j] before x[i]} + #{j < i : x[j] equals x[i]},

then every operand's element `i` is stored at position `rank(i)` of its line.
Orders are torch's: NaN is larger than every number and equal to NaN, -0.0
equals 0.0, integers compare signed.  The tile is quadratic in the line, so
lines longer than `MAX_SORT_ROW` are a `LoweringError`.  Grid: one program per
line.
"""

from __future__ import annotations

import math

from xdsl.builder import ImplicitBuilder
from xdsl.dialects import arith
from xdsl.dialects.builtin import IntegerType, TensorType, i1, i32
from xdsl.ir import Operation, SSAValue

from mirage_mlir.dialects import tt
from mirage_mlir.dialects.arith import CmpfOp, CmpiOp
from mirage_mlir.lowering.fused_body import KernelGroup
from mirage_mlir.lowering.kernel_builder import LoweringError, TileSpace, splat_const
from mirage_mlir.lowering.kernel_signature import kernel_for_group
from mirage_mlir.lowering.template_scan import line_block, line_space

MAX_SORT_ROW = 128
"""The longest line one program sorts (its rank tile has MAX_SORT_ROW**2 lanes)."""

_ASCENDING = {"olt", "ult", "slt", "ole", "ule", "sle"}
_DESCENDING = {"ogt", "ugt", "sgt", "oge", "uge", "sge"}
_SWAPPED = {"lt": "gt", "gt": "lt", "le": "ge", "ge": "le"}


def sort_descending(op: Operation) -> bool:
    """Whether a sort's comparator puts the larger element first (else the smaller)."""
    from xdsl.dialects.arith import (
        CMPF_COMPARISON_OPERATIONS,
        CMPI_COMPARISON_OPERATIONS,
    )

    block = op.regions[0].block
    body = list(block.ops)[:-1]
    predicate = None
    if (
        len(body) == 1
        and body[0].name in ("arith.cmpf", "arith.cmpi")
        and not op.inputs
    ):
        compare = body[0]
        table = (
            CMPF_COMPARISON_OPERATIONS
            if compare.name == "arith.cmpf"
            else CMPI_COMPARISON_OPERATIONS
        )
        name = table[compare.predicate.value.data]
        left, right = compare.operands
        if (left, right) == (block.args[0], block.args[1]):
            predicate = name
        elif (left, right) == (block.args[1], block.args[0]):
            predicate = name[0] + _SWAPPED.get(name[1:], name[1:])
    if predicate not in _ASCENDING | _DESCENDING:
        names = "; ".join(o.name for o in body) or "nothing"
        raise LoweringError(
            f"tm_tensor.sort with the comparator {names} cannot be lowered", op
        )
    return predicate in _DESCENDING


def _as_rows(line: SSAValue, block: int) -> SSAValue:
    """`[B]` -> `[B, B]` with element i along the first axis (constant along the second)."""
    return tt.BroadcastOp(tt.ExpandDimsOp(line, 1).result, [block, block]).result


def _as_columns(line: SSAValue, block: int) -> SSAValue:
    """`[B]` -> `[B, B]` with element j along the second axis."""
    return tt.BroadcastOp(tt.ExpandDimsOp(line, 0).result, [block, block]).result


def _comes_first(
    a: SSAValue, b: SSAValue, descending: bool
) -> tuple[SSAValue, SSAValue]:
    """(a strictly before b, a equal to b) in torch's order of floats or integers."""
    if isinstance(a.type.get_element_type(), IntegerType):  # type: ignore[union-attr]
        before = CmpiOp(a, b, "sgt" if descending else "slt").result
        return before, CmpiOp(a, b, "eq").result
    a_nan = CmpfOp(a, a, "uno").result
    b_nan = CmpfOp(b, b, "uno").result
    true = splat_const(1, i1, a.type.get_shape())  # type: ignore[union-attr]
    if descending:  # NaN first
        before = arith.OrIOp(
            CmpfOp(a, b, "ogt").result,
            arith.AndIOp(a_nan, arith.XOrIOp(b_nan, true)).result,
        ).result
    else:  # NaN last
        before = arith.OrIOp(
            CmpfOp(a, b, "olt").result,
            arith.AndIOp(b_nan, arith.XOrIOp(a_nan, true)).result,
        ).result
    equal = arith.OrIOp(
        CmpfOp(a, b, "oeq").result, arith.AndIOp(a_nan, b_nan).result
    ).result
    return before, equal


def _ranks(space: TileSpace, keys: SSAValue, n: int, descending: bool) -> SSAValue:
    """Each lane's position in the stably sorted line: an i32 block of `[B]`."""
    (block,) = space.shape
    square = [block, block]
    mine, others = _as_rows(keys, block), _as_columns(keys, block)
    lanes = tt.MakeRangeOp(0, block).result
    i, j = _as_rows(lanes, block), _as_columns(lanes, block)
    before, equal = _comes_first(others, mine, descending)
    earlier = CmpiOp(j, i, "slt").result
    counted = arith.OrIOp(before, arith.AndIOp(equal, earlier).result).result
    inside = CmpiOp(j, splat_const(n, i32, square), "slt").result
    counted = arith.AndIOp(counted, inside).result
    ones = arith.ExtUIOp(counted, TensorType(i32, square)).result
    return tt.ReduceOp([ones], 1, lambda a, b: [arith.AddiOp(a, b).result]).result[0]


def build_sort_kernel(
    name: str, group: KernelGroup
) -> tuple[tt.FuncOp, tuple[int, ...]]:
    """The kernel of a lone `tm_tensor.sort` and its launch grid."""
    (op,) = group.ops
    descending = sort_descending(op)
    operands = list(op.outputs)
    shape = tuple(operands[0].type.get_shape())
    if any(tuple(v.type.get_shape()) != shape for v in operands):
        raise LoweringError("the operands of a tm_tensor.sort must share one shape", op)
    dim = op.dimension.value.data
    block = line_block(op, shape, dim, MAX_SORT_ROW)
    kernel, pointers, out_pointers = kernel_for_group(name, group)
    with ImplicitBuilder(kernel.body.block):
        space = line_space(shape, dim, block)
        full = list(range(len(shape)))
        lines = [space.load(pointers[v], v.type, full) for v in operands]
        rank = _ranks(space, lines[0], shape[dim], descending)
        index = list(space.index)
        index[dim] = rank
        placed = TileSpace(space.shape, index, space.mask)
        for value, line, pointer in zip(op.results, lines, out_pointers):
            placed.store(pointer, value.type, line)
        tt.ReturnOp()
    return kernel, (max(1, math.prod(s for d, s in enumerate(shape) if d != dim)),)


__all__ = ["MAX_SORT_ROW", "build_sort_kernel", "sort_descending"]
