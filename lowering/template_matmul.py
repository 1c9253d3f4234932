"""Kernel template: tiled matmul (2-D or batched), one or two products, prologue, epilogue.

One program computes a `block_m x block_n` tile of the output (axis 0 over
rows, axis 1 over columns, axis 2 over the flattened batch dimensions).  The
K loop is an `scf.for` that carries one accumulator per product and applies
`tt.dot` to tiles loaded with masks, so sizes need not be multiples of the
tiles.  Two products (`dual_matmul`) must have the same shape and contracted
size; an operand they share is loaded once per K step and feeds both
`tt.dot`s.

Operand tiles come from `matmul_operands`: kernel inputs are strided loads
(transposed operands and broadcast batch dimensions cost nothing), and
operands computed in the kernel (the prologue: elementwise ops, and
transposes, reshapes and slices, which only remap indices) are evaluated
tile by tile inside the K loop.  Elementwise ops after the products (bias,
activation, the product of the two results) run on the accumulators in
registers before the one store.  An output that is a transpose or reshape of
an epilogue value is a permuted store: each lane is written to the address
its index maps to.  f16/bf16 operands go to `tt.dot` as they are, with an
f32 accumulator.

The products are `linalg.matmul` / `linalg.batch_matmul` whose init is a
`linalg.fill` of zero, or `mirage.matmul` (NumPy batch broadcasting and
transpose flags).  Grid: `(cdiv(M, block_m), cdiv(N, block_n), batch)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from xdsl.builder import ImplicitBuilder
from xdsl.dialects import arith, scf
from xdsl.dialects.builtin import TensorType, i32
from xdsl.ir import Block, Operation, Region, SSAValue

from mirage_mlir.dialects import tt
from mirage_mlir.dialects.arith import CmpiOp
from mirage_mlir.lowering.dtypes import compute_type
from mirage_mlir.lowering.fused_body import FusedBody, KernelGroup, store_output
from mirage_mlir.lowering.kernel_builder import (
    LoweringError,
    TileSpace,
    const_i32,
    next_power_of_two,
    splat,
    splat_const,
)
from mirage_mlir.lowering.index_remap import STORE_REMAP_OPS
from mirage_mlir.lowering.kernel_signature import kernel_for_group
from mirage_mlir.lowering.matmul_operands import (
    OperandReader,
    Product,
    batch_indices,
    prologue_ops,
    product_of,
)

MATMUL_OPS = ("linalg.matmul", "linalg.batch_matmul", "mirage.matmul")
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


def _mask_2d(rows: SSAValue, n_rows: int, cols: SSAValue, n_cols: int) -> SSAValue:
    (m,), (n,) = rows.type.get_shape(), cols.type.get_shape()  # type: ignore[union-attr]
    r = CmpiOp(tt.ExpandDimsOp(rows, 1), splat_const(n_rows, i32, [m, 1]), "slt").result
    c = CmpiOp(tt.ExpandDimsOp(cols, 0), splat_const(n_cols, i32, [1, n]), "slt").result
    return arith.AndIOp(tt.BroadcastOp(r, [m, n]), tt.BroadcastOp(c, [m, n])).result


def _products(group: KernelGroup) -> list[Product]:
    products = [product_of(op) for op in group.ops if op.name in MATMUL_OPS]
    if not 1 <= len(products) <= 2:
        raise LoweringError(
            f"the matmul template takes one or two products, found {len(products)}",
            group.anchor,
        )
    if len(products) == 2 and (
        products[0].result.type != products[1].result.type
        or products[0].k != products[1].k
    ):
        raise LoweringError(
            "two products in one kernel must have the same shape and contracted size",
            group.anchor,
        )
    return products


def _epilogue(
    group: KernelGroup, body: FusedBody, skip: set[Operation]
) -> dict[SSAValue, Operation]:
    """Run the epilogue on `body`; returns the layout ops the kernel stores through.

    A transpose or reshape of a value computed in the kernel moves no data:
    it is kept as a view (result -> op) and the store writes each lane to
    the address the view names (a permuted store).
    """
    views: dict[SSAValue, Operation] = {}
    for op in group.ops:
        if op.name in MATMUL_OPS or op in skip:
            continue
        source = op.operands[0] if op.operands else None
        if op.name in STORE_REMAP_OPS and (source in body.tiles or source in views):
            views[op.results[0]] = op
            continue
        if not body.run(op):
            raise LoweringError(
                f"'{op.name}' cannot be fused into a matmul epilogue", op
            )
    return views


def build_matmul_kernel(
    name: str, group: KernelGroup, tiles: MatmulTiles = MatmulTiles()
) -> tuple[tt.FuncOp, tuple[int, ...]]:
    """The (dual) matmul kernel of `group` with its prologue and epilogue, and its grid."""
    products = _products(group)
    out_type = products[0].result.type
    assert isinstance(out_type, TensorType)
    shape = tuple(out_type.get_shape())
    m, n = shape[-2:]
    k = products[0].k
    batch_shape = shape[:-2]
    batch = math.prod(batch_shape)
    bm, bn, bk = (
        _tile(m, tiles.block_m),
        _tile(n, tiles.block_n),
        _tile(k, tiles.block_k),
    )
    element = out_type.get_element_type()
    prologue = prologue_ops(group, [v for p in products for v in (p.lhs, p.rhs)])

    kernel, pointers, out_pointers = kernel_for_group(name, group)
    with ImplicitBuilder(kernel.body.block):
        rows = _range(tt.GetProgramIdOp(0).result, bm)
        cols = _range(tt.GetProgramIdOp(1).result, bn)
        batch_index = (
            batch_indices(tt.GetProgramIdOp(2).result, batch_shape)
            if batch_shape
            else []
        )
        reader = OperandReader(group, pointers, batch_index)
        k_range = tt.MakeRangeOp(0, bk).result
        # f16/bf16 tiles go to tt.dot as they are; the accumulator is f32.
        zero = splat_const(0.0, compute_type(element), [bm, bn])
        acc_type = TensorType(compute_type(element), [bm, bn])
        loop_body = Block(arg_types=[i32] + [acc_type] * len(products))
        loop = scf.ForOp(
            const_i32(0),
            const_i32(k),
            const_i32(bk),
            [zero] * len(products),
            Region(loop_body),
        )
        with ImplicitBuilder(loop_body) as (k0, *accs):
            ks = arith.AddiOp(splat(k0, [bk]), k_range).result
            tiles_of: dict[tuple[SSAValue, bool, bool], SSAValue] = {}

            def operand_tile(value: SSAValue, transposed: bool, left: bool) -> SSAValue:
                # A shared operand (dual_matmul) is loaded once per K step.
                key = (value, transposed, left)
                if key not in tiles_of:
                    tiles_of[key] = (
                        reader.tile(value, transposed, rows, ks)
                        if left
                        else reader.tile(value, transposed, ks, cols)
                    )
                return tiles_of[key]

            results = []
            for product, acc in zip(products, accs):
                a_tile = operand_tile(product.lhs, product.transpose_lhs, True)
                b_tile = operand_tile(product.rhs, product.transpose_rhs, False)
                results.append(tt.DotOp(a_tile, b_tile, acc, tiles.input_precision).d)
            scf.YieldOp(*results)

        index = [
            tt.BroadcastOp(tt.ExpandDimsOp(rows, 1), [bm, bn]).result,
            tt.BroadcastOp(tt.ExpandDimsOp(cols, 0), [bm, bn]).result,
        ]
        index[:0] = [splat(b, [bm, bn]) for b in batch_index]
        space = TileSpace((bm, bn), index, _mask_2d(rows, m, cols, n))
        body = FusedBody(space, shape, pointers)
        for product, result in zip(products, loop.results):
            body.tiles[product.result] = result
        views = _epilogue(group, body, set(prologue))
        for value, pointer in zip(group.outputs, out_pointers):
            store_output(body, views, value, pointer, group.anchor, "a matmul kernel")
        tt.ReturnOp()
    grid = (-(-m // bm), -(-n // bn), batch)
    return kernel, grid
