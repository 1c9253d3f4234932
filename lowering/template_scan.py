"""Kernel template: `tm_tensor.scan` (torch's cumsum, cumprod, cummax, cummin).

One program per line along the scanned dimension; the whole line is one
block of `next_power_of_two(n)` lanes (lanes past `n` masked), scanned by
`tt.scan` with the region's combine op.  Semantics are the CPU runtime's
(`driver.torch_tm_tensor`):

- inclusive: `out[i] = x[0] (+) ... (+) x[i]`;
- exclusive: `out[0] = init`, `out[i] = out[i-1] (+) x[i-1]`: the line is
  loaded shifted by one with `init` in front, then scanned inclusively;
- the second result (the accumulator out) is `out[n-1]` of each line.

f16/bf16 lines are scanned in f32 and rounded once when stored.  Lines of
more than `MAX_SCAN_ROW` elements are a `LoweringError`.  Grid: one program
per line (the product of the other dimensions).
"""

from __future__ import annotations

import math

from xdsl.builder import ImplicitBuilder
from xdsl.dialects import arith
from xdsl.dialects.builtin import TensorType, i32
from xdsl.ir import Operation, SSAValue

from mirage_mlir.dialects import tt
from mirage_mlir.dialects.arith import CmpiOp, SelectOp
from mirage_mlir.lowering.dtypes import compute_type, narrow
from mirage_mlir.lowering.fused_body import KernelGroup, splat_constant_value
from mirage_mlir.lowering.kernel_builder import (
    LoweringError,
    TileSpace,
    broadcast_to,
    const_i32,
    next_power_of_two,
    splat,
    splat_const,
    store_elements,
)
from mirage_mlir.lowering.kernel_signature import kernel_for_group

MAX_SCAN_ROW = 16384
"""The longest line one program scans in registers."""

SCAN_COMBINERS = frozenset(
    {
        "arith.addi",
        "arith.addf",
        "arith.muli",
        "arith.mulf",
        "arith.maxsi",
        "arith.maxui",
        "arith.maximumf",
        "arith.maxnumf",
        "arith.minsi",
        "arith.minui",
        "arith.minimumf",
        "arith.minnumf",
    }
)
"""Ops a scan region may combine the running value and the next element with."""


def line_space(shape: tuple[int, ...], dim: int, block: int) -> TileSpace:
    """Lanes along dimension `dim`; the other indices come from the program id."""
    program = tt.GetProgramIdOp(0).result
    lanes = tt.MakeRangeOp(0, block).result
    mask = CmpiOp(lanes, splat_const(shape[dim], i32, [block]), "slt").result
    index: list[SSAValue] = [lanes] * len(shape)
    rest = program
    others = [d for d in range(len(shape)) if d != dim]
    for position, d in reversed(list(enumerate(others))):
        if position == 0:
            index[d] = splat(rest, [block])
        else:
            index[d] = splat(arith.RemSIOp(rest, const_i32(shape[d])).result, [block])
            rest = arith.DivSIOp(rest, const_i32(shape[d])).result
    return TileSpace((block,), index, mask)


def line_block(op: Operation, shape: tuple[int, ...], dim: int, limit: int) -> int:
    """The block of lanes a line of `shape[dim]` elements takes, at most `limit`."""
    if not 0 <= dim < len(shape) or shape[dim] > limit:
        raise LoweringError(
            f"'{op.name}' lines of {shape[dim] if 0 <= dim < len(shape) else '?'} elements "
            f"do not fit one program (at most {limit})",
            op,
        )
    return next_power_of_two(shape[dim])


def _combiner(op: Operation) -> Operation:
    block = op.regions[0].block
    body = list(block.ops)[:-1]
    if (
        len(body) != 1
        or body[0].name not in SCAN_COMBINERS
        or set(body[0].operands) != set(block.args)
    ):
        names = "; ".join(o.name for o in body) or "nothing"
        raise LoweringError(
            f"tm_tensor.scan combining by {names} cannot be lowered", op
        )
    return body[0]


def scan_inputs(op: Operation) -> list[SSAValue]:
    """What a scan kernel reads from memory: the input, and a non-constant exclusive init."""
    (source,) = op.inputs
    init = op.outputs[1]
    if op.inclusive.value.data or splat_constant_value(init) is not None:
        return [source]
    return [source, init]


def build_scan_kernel(
    name: str, group: KernelGroup
) -> tuple[tt.FuncOp, tuple[int, ...]]:
    """The kernel of a lone `tm_tensor.scan` and its launch grid."""
    (op,) = group.ops
    combine = _combiner(op)
    (source,) = op.inputs
    out_type, acc_type = (v.type for v in op.outputs)
    shape = tuple(source.type.get_shape())
    if tuple(out_type.get_shape()) != shape or out_type.get_element_type() != (
        source.type.get_element_type()
    ):
        raise LoweringError("a scan's output must have its input's type", op)
    dim = op.dimension.value.data
    block = line_block(op, shape, dim, MAX_SCAN_ROW)
    element = compute_type(source.type.get_element_type())
    kernel, pointers, (out_pointer, acc_pointer) = kernel_for_group(name, group)
    with ImplicitBuilder(kernel.body.block):
        space = line_space(shape, dim, block)
        full = list(range(len(shape)))
        others = [d for d in full if d != dim]
        if op.inclusive.value.data:
            line = space.load(pointers[source], source.type, full)
        else:
            line = _shifted_line(space, op, pointers, dim, element)
        (scanned,) = tt.ScanOp(
            [line],
            0,
            lambda a, b: [
                combine.create(
                    operands=[a, b],
                    result_types=[element],
                    properties=dict(combine.properties),
                ).results[0]
            ],
        ).result
        space.store(out_pointer, out_type, scanned)
        last = CmpiOp(
            space.index[dim], splat_const(shape[dim] - 1, i32, [block]), "eq"
        ).result
        store_at(
            space,
            acc_pointer,
            acc_type,
            scanned,
            others,
            arith.AndIOp(space.mask, last).result,
        )
        tt.ReturnOp()
    return kernel, (max(1, math.prod(s for d, s in enumerate(shape) if d != dim)),)


def store_at(
    space: TileSpace,
    pointer: SSAValue,
    tensor_type: TensorType,
    value: SSAValue,
    dims: list[int],
    mask: SSAValue,
) -> None:
    """Store `value` into a tensor whose dimensions are the iteration dims `dims`."""
    offsets = space.offsets(tensor_type.get_shape(), dims)
    pointers = tt.AddPtrOp(splat(pointer, space.shape), offsets).result
    stored = narrow(value, tensor_type.get_element_type())
    store_elements(pointers, broadcast_to(stored, space.shape), mask)


def _shifted_line(
    space: TileSpace,
    op: Operation,
    pointers: dict[SSAValue, SSAValue],
    dim: int,
    element,
) -> SSAValue:
    """The line loaded one place later, with the exclusive scan's init in front."""
    (source,) = op.inputs
    init = op.outputs[1]
    shape = space.shape
    along = space.index[dim]
    first = CmpiOp(along, splat_const(0, i32, shape), "eq").result
    previous = arith.SubiOp(along, splat_const(1, i32, shape)).result
    index = list(space.index)
    index[dim] = previous
    shifted = TileSpace(
        shape,
        index,
        arith.AndIOp(
            space.mask,
            arith.XOrIOp(
                first, splat_const(1, first.type.get_element_type(), shape)
            ).result,
        ).result,
    )
    full = list(range(len(index)))
    line = shifted.load(pointers[source], source.type, full)
    constant = splat_constant_value(init)
    if constant is not None:
        start = splat_const(constant, element, shape)
    else:
        others = [d for d in full if d != dim]
        start = space.load(pointers[init], init.type, others)
    return SelectOp(first, broadcast_to(start, shape), line).result


__all__ = [
    "MAX_SCAN_ROW",
    "build_scan_kernel",
    "line_block",
    "line_space",
    "scan_inputs",
    "store_at",
]
