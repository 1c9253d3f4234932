"""Kernel template: tiled matmul (2-D or batched), one or two products, with epilogue.

One program computes a `block_m x block_n` tile of the output (axis 0 over
rows, axis 1 over columns, axis 2 over the batch).  The K loop is an
`scf.for` that carries one accumulator per product and applies `tt.dot`
to tiles loaded with masks, so sizes need not be multiples of the tiles.
With two products that share their left operand (`dual_matmul`), each
`x` tile is loaded once and feeds both `tt.dot`s in the same iteration.
Elementwise ops after the products (bias, activation, the product of
the two results) run on the accumulators in registers before the one store.

The products are `linalg.matmul` / `linalg.batch_matmul` whose init is a
`linalg.fill` of zero and whose operands the kernel reads from memory.
Grid: `(cdiv(M, block_m), cdiv(N, block_n), batch)`.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.builder import ImplicitBuilder
from xdsl.dialects import arith, scf
from xdsl.dialects.builtin import TensorType, i32
from xdsl.ir import Block, Operation, Region, SSAValue

from mirage_mlir.dialects import tt
from mirage_mlir.dialects.arith import CmpiOp
from mirage_mlir.lowering.fused_body import FusedBody, KernelGroup, splat_constant_value
from mirage_mlir.lowering.kernel_builder import (
    LoweringError,
    TileSpace,
    const_i32,
    next_power_of_two,
    splat,
    splat_const,
)
from mirage_mlir.lowering.kernel_signature import kernel_for_group

MATMUL_OPS = ("linalg.matmul", "linalg.batch_matmul")
"""The contractions this template computes with tt.dot."""

MIN_DOT_TILE = 16
"""Triton's smallest tt.dot tile along any dimension."""


@dataclass(frozen=True)
class MatmulTiles:
    """Tile sizes (upper bounds; small matrices get smaller powers of two)."""

    block_m: int = 64
    block_n: int = 64
    block_k: int = 32
    input_precision: str = "tf32"


def _tile(size: int, bound: int) -> int:
    return max(MIN_DOT_TILE, min(bound, next_power_of_two(size)))


def _range(pid: SSAValue, block: int) -> SSAValue:
    start = arith.MuliOp(pid, const_i32(block)).result
    return arith.AddiOp(splat(start, [block]), tt.MakeRangeOp(0, block)).result


def _grid_2d(rows: SSAValue, cols: SSAValue, row_stride: int, col_stride: int) -> SSAValue:
    """`rows[:, None] * row_stride + cols[None, :] * col_stride` as an i32 tile."""
    (m,), (n,) = rows.type.get_shape(), cols.type.get_shape()  # type: ignore[union-attr]
    r = arith.MuliOp(tt.ExpandDimsOp(rows, 1), splat_const(row_stride, i32, [m, 1])).result
    c = arith.MuliOp(tt.ExpandDimsOp(cols, 0), splat_const(col_stride, i32, [1, n])).result
    return arith.AddiOp(tt.BroadcastOp(r, [m, n]), tt.BroadcastOp(c, [m, n])).result


def _mask_2d(rows: SSAValue, n_rows: int, cols: SSAValue, n_cols: int) -> SSAValue:
    (m,), (n,) = rows.type.get_shape(), cols.type.get_shape()  # type: ignore[union-attr]
    r = CmpiOp(tt.ExpandDimsOp(rows, 1), splat_const(n_rows, i32, [m, 1]), "slt").result
    c = CmpiOp(tt.ExpandDimsOp(cols, 0), splat_const(n_cols, i32, [1, n]), "slt").result
    return arith.AndIOp(tt.BroadcastOp(r, [m, n]), tt.BroadcastOp(c, [m, n])).result


def _load_tile(
    pointer: SSAValue, base: SSAValue | None, offsets: SSAValue, mask: SSAValue, element
) -> SSAValue:
    shape = offsets.type.get_shape()  # type: ignore[union-attr]
    if base is not None:
        pointer = tt.AddPtrOp(pointer, base).result
    pointers = tt.AddPtrOp(splat(pointer, shape), offsets).result
    return tt.LoadOp(pointers, mask, splat_const(0.0, element, shape)).result


def _products(group: KernelGroup) -> list[Operation]:
    products = [op for op in group.ops if op.name in MATMUL_OPS]
    if not 1 <= len(products) <= 2:
        raise LoweringError(
            f"the matmul template takes one or two products, found {len(products)}", group.anchor
        )
    for op in products:
        if splat_constant_value(op.outputs[0]) != 0.0:
            raise LoweringError(f"'{op.name}' must accumulate into a zero fill", op)
        for operand in op.inputs:
            if operand not in group.inputs:
                raise LoweringError(
                    f"'{op.name}' operands must be read from memory (no prologue yet)", op
                )
    if len(products) == 2 and (
        products[0].inputs[0] != products[1].inputs[0] or products[0].name != products[1].name
    ):
        raise LoweringError("two products in one kernel must share their left operand", group.anchor)
    return products


def build_matmul_kernel(
    name: str, group: KernelGroup, tiles: MatmulTiles = MatmulTiles()
) -> tuple[tt.FuncOp, tuple[int, ...]]:
    """The (dual) matmul kernel of `group` with its epilogue, and its launch grid."""
    products = _products(group)
    out_type = products[0].results[0].type
    assert isinstance(out_type, TensorType)
    batched = products[0].name == "linalg.batch_matmul"
    a_type = products[0].inputs[0].type
    shape = tuple(out_type.get_shape())
    m, n = shape[-2:]
    k = a_type.get_shape()[-1]  # type: ignore[union-attr]
    batch = shape[0] if batched else 1
    bm, bn, bk = _tile(m, tiles.block_m), _tile(n, tiles.block_n), _tile(k, tiles.block_k)
    element = out_type.get_element_type()
    for value in group.outputs:
        if tuple(value.type.get_shape()) != shape:  # type: ignore[union-attr]
            raise LoweringError("a matmul kernel's outputs must have the product's shape", group.anchor)

    kernel, pointers, out_pointers = kernel_for_group(name, group)
    with ImplicitBuilder(kernel.body.block):
        rows = _range(tt.GetProgramIdOp(0).result, bm)
        cols = _range(tt.GetProgramIdOp(1).result, bn)
        pid_b = tt.GetProgramIdOp(2).result if batched else None

        def batch_base(matrix_elements: int) -> SSAValue | None:
            if pid_b is None:
                return None
            return arith.MuliOp(pid_b, const_i32(matrix_elements)).result

        a_base = batch_base(m * k)
        b_base = batch_base(k * n)
        k_range = tt.MakeRangeOp(0, bk).result
        zero = splat_const(0.0, element, [bm, bn])
        acc_type = TensorType(element, [bm, bn])
        loop_body = Block(arg_types=[i32] + [acc_type] * len(products))
        loop = scf.ForOp(
            const_i32(0), const_i32(k), const_i32(bk), [zero] * len(products), Region(loop_body)
        )
        with ImplicitBuilder(loop_body) as (k0, *accs):
            ks = arith.AddiOp(splat(k0, [bk]), k_range).result
            a_tile = _load_tile(
                pointers[products[0].inputs[0]], a_base,
                _grid_2d(rows, ks, k, 1), _mask_2d(rows, m, ks, k), element,
            )
            b_offsets = _grid_2d(ks, cols, n, 1)
            b_mask = _mask_2d(ks, k, cols, n)
            results = []
            for product, acc in zip(products, accs):
                b_tile = _load_tile(pointers[product.inputs[1]], b_base, b_offsets, b_mask, element)
                results.append(tt.DotOp(a_tile, b_tile, acc, tiles.input_precision).d)
            scf.YieldOp(*results)

        index = [tt.BroadcastOp(tt.ExpandDimsOp(rows, 1), [bm, bn]).result,
                 tt.BroadcastOp(tt.ExpandDimsOp(cols, 0), [bm, bn]).result]
        if pid_b is not None:
            index.insert(0, splat(pid_b, [bm, bn]))
        space = TileSpace((bm, bn), index, _mask_2d(rows, m, cols, n))
        body = FusedBody(space, shape, pointers)
        for product, result in zip(products, loop.results):
            body.tiles[product.results[0]] = result
        for op in group.ops:
            if op.name not in MATMUL_OPS and not body.run(op):
                raise LoweringError(f"'{op.name}' cannot be fused into a matmul epilogue", op)
        for value, pointer in zip(group.outputs, out_pointers):
            space.store(pointer, value.type, body.read(value, list(range(len(shape))), group.anchor))
        tt.ReturnOp()
    grid = (-(-m // bm), -(-n // bn), batch)
    return kernel, grid
