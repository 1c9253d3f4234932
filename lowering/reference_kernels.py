"""Hand-written `tt` kernels, built with xDSL's builders: models for the templates.

Each function returns a module holding one kernel, written the way Triton's
front end writes the same kernel (compare `tl.arange`, `tl.load(mask=...)`,
`tl.dot` in a `for` loop).  They check the whole path to Triton (TTIR text,
`triton.compile`, PTX) and the NumPy interpreter against each other, and show
the kernel templates of `convert-mirage-to-triton` how to build their IR.

| kernel | arguments | grid |
|---|---|---|
| `masked_add_kernel(block)` | `x, y, out: *f32, n: i32` | `(cdiv(n, block),)` |
| `row_softmax_kernel(block)` | `x, out: *f32, n_cols, row_stride: i32` | `(n_rows,)`, `n_cols <= block` |
| `matmul_kernel(bm, bn, bk)` | `a, b, c: *f32, M, N, K, 6 strides: i32` | `(cdiv(M, bm), cdiv(N, bn))` |
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.builder import ImplicitBuilder
from xdsl.dialects import arith, math, scf
from xdsl.dialects.builtin import (
    DenseIntOrFPElementsAttr,
    IntegerAttr,
    ModuleOp,
    TensorType,
    f32,
    i32,
)
from xdsl.ir import Attribute, Block, Region, SSAValue

from mirage_mlir.dialects import tt
from mirage_mlir.dialects.arith import CmpiOp
from mirage_mlir.dialects.tt_syntax import i32_attr
from mirage_mlir.dialects.tt_types import shape_of

_ALIGNED = {"tt.divisibility": i32_attr(16)}
"""Triton's hint that a pointer argument is 16-byte aligned."""


def _i32(value: int) -> SSAValue:
    return arith.ConstantOp(IntegerAttr(value, i32)).result


def _splat_f32(value: float, shape: Sequence[int]) -> SSAValue:
    dense = DenseIntOrFPElementsAttr.from_list(TensorType(f32, shape), [value])
    return arith.ConstantOp(dense).result


def _splat(value: SSAValue, shape: Sequence[int]) -> SSAValue:
    return tt.SplatOp(value, shape).result


def _block_ptr(base: SSAValue, offsets: SSAValue) -> SSAValue:
    """`base + offsets` as a block of pointers of the offsets' shape."""
    return tt.AddPtrOp(_splat(base, shape_of(offsets.type)), offsets).result


def _kernel(name: str, input_types: Sequence[Attribute], n_pointers: int) -> tt.FuncOp:
    arg_attrs = [dict(_ALIGNED)] * n_pointers + [{}] * (len(input_types) - n_pointers)
    return tt.FuncOp(name, input_types, arg_attrs=arg_attrs)


def masked_add_kernel(block: int = 128) -> ModuleOp:
    """`out[i] = x[i] + y[i]` for `i < n`, one block of `block` elements per program."""
    f32_ptr = tt.ptr(f32)
    kernel = _kernel("masked_add", [f32_ptr, f32_ptr, f32_ptr, i32], 3)
    with ImplicitBuilder(kernel.body.block) as (x, y, out, n):
        pid = tt.GetProgramIdOp(0).result
        start = arith.MuliOp(pid, _i32(block)).result
        offsets = arith.AddiOp(_splat(start, [block]), tt.MakeRangeOp(0, block)).result
        mask = CmpiOp(offsets, _splat(n, [block]), "slt").result
        zeros = _splat_f32(0.0, [block])
        a = tt.LoadOp(_block_ptr(x, offsets), mask, zeros).result
        b = tt.LoadOp(_block_ptr(y, offsets), mask, zeros).result
        tt.StoreOp(_block_ptr(out, offsets), arith.AddfOp(a, b), mask)
        tt.ReturnOp()
    return ModuleOp([kernel])


def row_softmax_kernel(block: int = 256) -> ModuleOp:
    """Numerically stable softmax of each row, one row per program.

    Lanes past `n_cols` load -inf, so they neither win the max nor add to the sum.
    """
    f32_ptr = tt.ptr(f32)
    kernel = _kernel("row_softmax", [f32_ptr, f32_ptr, i32, i32], 2)
    with ImplicitBuilder(kernel.body.block) as (x, out, n_cols, row_stride):
        row = tt.GetProgramIdOp(0).result
        cols = tt.MakeRangeOp(0, block).result
        mask = CmpiOp(cols, _splat(n_cols, [block]), "slt").result
        row_start = arith.MuliOp(row, row_stride).result
        x_row = tt.AddPtrOp(x, row_start).result
        values = tt.LoadOp(
            _block_ptr(x_row, cols), mask, _splat_f32(float("-inf"), [block])
        ).result
        row_max = tt.ReduceOp(
            [values], 0, lambda a, b: [arith.MaxnumfOp(a, b).result]
        ).result[0]
        shifted = arith.SubfOp(values, _splat(row_max, [block])).result
        numerators = math.ExpOp(shifted).result
        row_sum = tt.ReduceOp(
            [numerators], 0, lambda a, b: [arith.AddfOp(a, b).result]
        ).result[0]
        result = arith.DivfOp(numerators, _splat(row_sum, [block])).result
        out_row = tt.AddPtrOp(out, row_start).result
        tt.StoreOp(_block_ptr(out_row, cols), result, mask)
        tt.ReturnOp()
    return ModuleOp([kernel])


def _tile_offsets(
    rows: SSAValue, row_stride: SSAValue, cols: SSAValue, col_stride: SSAValue
) -> SSAValue:
    """`rows[:, None] * row_stride + cols[None, :] * col_stride` as an i32 tile."""
    (m,), (n,) = shape_of(rows.type), shape_of(cols.type)
    r = tt.ExpandDimsOp(rows, 1).result
    r = arith.MuliOp(r, _splat(row_stride, [m, 1])).result
    c = tt.ExpandDimsOp(cols, 0).result
    c = arith.MuliOp(c, _splat(col_stride, [1, n])).result
    return arith.AddiOp(tt.BroadcastOp(r, [m, n]), tt.BroadcastOp(c, [m, n])).result


def _tile_mask(rows: SSAValue, n_rows: SSAValue, cols: SSAValue, n_cols: SSAValue) -> SSAValue:
    """`(rows[:, None] < n_rows) & (cols[None, :] < n_cols)` as an i1 tile."""
    (m,), (n,) = shape_of(rows.type), shape_of(cols.type)
    r = CmpiOp(tt.ExpandDimsOp(rows, 1), _splat(n_rows, [m, 1]), "slt").result
    c = CmpiOp(tt.ExpandDimsOp(cols, 0), _splat(n_cols, [1, n]), "slt").result
    return arith.AndIOp(tt.BroadcastOp(r, [m, n]), tt.BroadcastOp(c, [m, n])).result


def matmul_kernel(bm: int = 64, bn: int = 64, bk: int = 32) -> ModuleOp:
    """`C = A @ B` for strided f32 matrices, one `bm x bn` tile of C per program.

    The K loop is an `scf.for` carrying the accumulator; `tt.dot` uses TF32
    tensor cores (`inputPrecision = tf32`, as `tl.dot` does by default), and
    masks cover M, N and K that are not multiples of the tile.
    """
    f32_ptr = tt.ptr(f32)
    kernel = _kernel("matmul", [f32_ptr] * 3 + [i32] * 9, 3)
    with ImplicitBuilder(kernel.body.block) as args:
        a, b, c, m, n, k, s_am, s_ak, s_bk, s_bn, s_cm, s_cn = args
        pid_m = tt.GetProgramIdOp(0).result
        pid_n = tt.GetProgramIdOp(1).result
        rows = arith.AddiOp(
            _splat(arith.MuliOp(pid_m, _i32(bm)).result, [bm]), tt.MakeRangeOp(0, bm)
        ).result
        cols = arith.AddiOp(
            _splat(arith.MuliOp(pid_n, _i32(bn)).result, [bn]), tt.MakeRangeOp(0, bn)
        ).result
        k_range = tt.MakeRangeOp(0, bk).result
        acc_type = TensorType(f32, [bm, bn])
        body = Block(arg_types=[i32, acc_type])
        loop = scf.ForOp(_i32(0), k, _i32(bk), [_splat_f32(0.0, [bm, bn])], Region(body))
        with ImplicitBuilder(body) as (k0, acc):
            ks = arith.AddiOp(_splat(k0, [bk]), k_range).result
            a_tile = tt.LoadOp(
                tt.AddPtrOp(_splat(a, [bm, bk]), _tile_offsets(rows, s_am, ks, s_ak)),
                _tile_mask(rows, m, ks, k),
                _splat_f32(0.0, [bm, bk]),
            ).result
            b_tile = tt.LoadOp(
                tt.AddPtrOp(_splat(b, [bk, bn]), _tile_offsets(ks, s_bk, cols, s_bn)),
                _tile_mask(ks, k, cols, n),
                _splat_f32(0.0, [bk, bn]),
            ).result
            scf.YieldOp(tt.DotOp(a_tile, b_tile, acc, "tf32"))
        c_ptrs = tt.AddPtrOp(_splat(c, [bm, bn]), _tile_offsets(rows, s_cm, cols, s_cn))
        tt.StoreOp(c_ptrs, loop.res[0], _tile_mask(rows, m, cols, n))
        tt.ReturnOp()
    return ModuleOp([kernel])
