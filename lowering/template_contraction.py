"""Kernel template: a general contraction or reduction (an einsum-shaped `linalg.generic`).

The generic has parallel and reduction loops over any axes, operands read
through projected permutations, and a body that maps the inputs (multiplies
them, for an einsum) and folds the result into the accumulator with any
combine `template_reduction.reduction_of` knows: sums, products, max/min,
integer and i1 (`all`/`any`) folds.  Tensor-network einsums and lone
reductions (`sum`, `amax`, `all` over any axes, with the reduced dimensions
dropped or kept as size 1) arrive in this form.
One program owns `block_out` consecutive output elements (row-major) and
walks the flattened reduction space `block_red` elements at a time: a
`[block_out, block_red]` tile whose lanes each know their index along every
loop, so every operand is one strided, masked load; the mapped values are
folded along the reduction axis (`tt.reduce`) into an accumulator carried
by an `scf.for` (f32 for f16/bf16 data, see `lowering.dtypes`).  No tensor
cores: contractions that are matmuls in disguise reach the matmul template as
`linalg.matmul` / `batch_matmul`.

Grid: `(cdiv(numel_out, block_out),)`.
"""

from __future__ import annotations

import math

from xdsl.builder import ImplicitBuilder
from xdsl.dialects import arith, scf
from xdsl.dialects.builtin import TensorType, i32
from xdsl.ir import Block, Operation, Region, SSAValue

from mirage_mlir.dialects import tt
from mirage_mlir.dialects.arith import CmpiOp
from mirage_mlir.lowering.fused_body import KernelGroup
from mirage_mlir.lowering.kernel_builder import (
    LoweringError,
    TileSpace,
    const_i32,
    emit_elementwise_body,
    next_power_of_two,
    splat,
    splat_const,
    tensor_operand_dims,
    unflatten,
)
from mirage_mlir.lowering.kernel_signature import kernel_for_group
from mirage_mlir.lowering.template_reduction import (
    combine_init,
    fold,
    init_value,
    loop_sizes,
    reduction_of,
    require_reduction,
)

BLOCK_OUT = 64
BLOCK_RED = 32


def is_contraction_generic(op: Operation) -> bool:
    """A one-result `linalg.generic` with reduction loops and a combine `reduction_of` knows.

    Its init must be a constant fill (an init read from memory is not supported).
    """
    if op.name != "linalg.generic" or len(op.results) != 1:
        return False
    if init_value(op.outputs[0]) is None:
        return False
    if "reduction" not in [str(t.data) for t in op.iterator_types]:
        return False
    return reduction_of(op) is not None


def _output_loops(op: Operation, kinds: list[str]) -> list[int]:
    """The parallel loops in the order the output indexes them (kept unit dims skipped)."""
    out_dims = tensor_operand_dims(op.indexing_maps.data[-1].data, op)
    shape = op.results[0].type.get_shape()
    if any(dim is None and size != 1 for dim, size in zip(out_dims, shape)):
        raise LoweringError(
            "a contraction's output reads a constant index of a longer dimension", op
        )
    loops = [d for d in out_dims if d is not None]
    if sorted(loops) != [d for d, k in enumerate(kinds) if k == "parallel"]:
        raise LoweringError(
            "a contraction's output must index every parallel loop once", op
        )
    return loops


def build_contraction_kernel(
    name: str, group: KernelGroup
) -> tuple[tt.FuncOp, tuple[int, ...]]:
    """The contraction kernel of a lone contraction or reduction generic, and its launch grid."""
    (op,) = group.ops
    maps = [m.data for m in op.indexing_maps.data]
    kinds = [str(t.data) for t in op.iterator_types]
    out_loops = _output_loops(op, kinds)
    init = init_value(op.outputs[0])
    if init is None:
        raise LoweringError("a contraction's init must be a constant fill", op)
    reduction = require_reduction(op, "contraction")
    sizes = loop_sizes(op)
    out_sizes = [sizes[d] for d in out_loops]
    red_dims = [d for d, k in enumerate(kinds) if k == "reduction"]
    red_sizes = [sizes[d] for d in red_dims]
    numel_out, numel_red = math.prod(out_sizes), math.prod(red_sizes)
    bo = min(BLOCK_OUT, next_power_of_two(numel_out))
    br = min(BLOCK_RED, next_power_of_two(numel_red))
    tile = [bo, br]
    block_args = op.regions[0].block.args
    element = op.results[0].type.get_element_type()
    acc_element = reduction.element

    kernel, pointers, (out_pointer,) = kernel_for_group(name, group)
    with ImplicitBuilder(kernel.body.block):
        start = arith.MuliOp(tt.GetProgramIdOp(0).result, const_i32(bo)).result
        flat_out = arith.AddiOp(splat(start, [bo]), tt.MakeRangeOp(0, bo)).result
        out_mask = CmpiOp(flat_out, splat_const(numel_out, i32, [bo]), "slt").result
        out_index = unflatten(tt.ExpandDimsOp(flat_out, 1).result, out_sizes)
        out_mask_2d = tt.BroadcastOp(tt.ExpandDimsOp(out_mask, 1), tile).result
        red_range = tt.MakeRangeOp(0, br).result
        loop_body = Block(arg_types=[i32, TensorType(acc_element, [bo])])
        loop = scf.ForOp(
            const_i32(0),
            const_i32(numel_red),
            const_i32(br),
            [splat_const(reduction.identity, acc_element, [bo])],
            Region(loop_body),
        )
        with ImplicitBuilder(loop_body) as (r0, acc):
            flat_red = arith.AddiOp(splat(r0, [br]), red_range).result
            red_mask = CmpiOp(flat_red, splat_const(numel_red, i32, [br]), "slt").result
            red_index = unflatten(tt.ExpandDimsOp(flat_red, 0).result, red_sizes)
            index: list[SSAValue] = [None] * len(sizes)  # type: ignore[list-item]
            for d, value in zip(out_loops, out_index):
                index[d] = tt.BroadcastOp(value, tile).result
            for d, value in zip(red_dims, red_index):
                index[d] = tt.BroadcastOp(value, tile).result
            mask = arith.AndIOp(
                out_mask_2d, tt.BroadcastOp(tt.ExpandDimsOp(red_mask, 0), tile)
            ).result
            space = TileSpace(tuple(tile), index, mask)
            tiles = [
                space.load(pointers[v], v.type, tensor_operand_dims(m, op))
                for v, m in zip(op.inputs, maps)
            ]
            if reduction.mapped in block_args:
                mapped = tiles[list(block_args).index(reduction.mapped)]
            else:
                (mapped,) = emit_elementwise_body(
                    op, [*tiles, tiles[0]], tile, until=reduction.mapped
                )
            part = fold(mapped, 1, reduction, mask)
            scf.YieldOp(reduction.combine(part, acc))
        total = combine_init(loop.results[0], reduction, init, [bo])
        out_space = TileSpace((bo,), [flat_out], out_mask)
        out_space.store(out_pointer, TensorType(element, [numel_out]), total)
        tt.ReturnOp()
    return kernel, (-(-numel_out // bo),)
