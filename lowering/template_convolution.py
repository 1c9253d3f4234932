"""Kernel template: convolutions as implicit GEMMs on tensor cores.

A convolution `out[n, (g,) f, o...] = init + sum x[n, (g,) c, o * s + k * d...]
* w[(g,) f, c, k...]` (over input channels c and window positions k) is a
matrix product without the matrices: rows are the output pixels `(n, o...)`
(M = N * prod(out spatial)), columns the output channels f of one group, and
the contracted dimension the pairs `(c, k...)` (K = C * prod(window)).  One
program computes a `block_m x block_n` tile of it; the K loop is an `scf.for`
whose steps load

- an `[block_m, block_k]` tile of the input by gathering: each lane splits
  its row and K index into `(n, o...)` and `(c, k...)` with divisions by
  constants and reads `x[n, c, o * s + k * d...]`;
- a `[block_k, block_n]` tile of the filter: `(c, k...)` are its trailing
  dimensions, so the filter tile is a plain strided block;

and feeds them to `tt.dot` with an f32 accumulator that starts from the init
(a splat, or a tensor read from memory).  f16/bf16 operands go to `tt.dot` as
they are; f32 operands use the pass's `input_precision` (tf32 or ieee), as
the matmul template does.  An input that is a `tensor.pad` with a constant
value is read through the pad (see `template_pooling`).

The ops: `linalg.conv_{1,2,3}d_nc..._fc...` and the grouped
`linalg.conv_2d_ngchw_{gfchw,fgchw}` (program axis 2 is the group).
`linalg.depthwise_conv_2d_nchw_chw` has one input channel per output
channel, a contracted size of only `KH * KW` and no reuse across channels,
so it is the window template's (`template_pooling`).
Grid: `(cdiv(M, block_m), cdiv(F, block_n), groups)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from xdsl.builder import ImplicitBuilder
from xdsl.dialects import arith, scf
from xdsl.dialects.builtin import TensorType, f32, i32
from xdsl.ir import Block, Operation, Region, SSAValue

from mirage_mlir.dialects import tt
from mirage_mlir.dialects.arith import CmpiOp, SelectOp
from mirage_mlir.lowering.dtypes import is_narrow_float, narrow, widen
from mirage_mlir.lowering.fused_body import KernelGroup
from mirage_mlir.lowering.kernel_builder import (
    LoweringError,
    TileSpace,
    const_i32,
    splat,
    splat_const,
    unflatten,
)
from mirage_mlir.lowering.kernel_signature import kernel_for_group
from mirage_mlir.lowering.layout_ops import PaddedOperand
from mirage_mlir.lowering.template_matmul import MatmulTiles, _range, _tile
from mirage_mlir.lowering.template_pooling import (
    DEPTHWISE_OPS,
    accumulator_init,
    build_window_kernel,
    check_float,
    int_values,
)

GEMM_CONVOLUTIONS = {
    "linalg.conv_1d_ncw_fcw": "nc",
    "linalg.conv_2d_nchw_fchw": "nc",
    "linalg.conv_3d_ncdhw_fcdhw": "nc",
    "linalg.conv_2d_ngchw_gfchw": "gf",
    "linalg.conv_2d_ngchw_fgchw": "fg",
}
"""Convolutions lowered as implicit GEMMs -> their layout: ungrouped (`nc`),
grouped with the filter's group dimension first (`gf`) or second (`fg`)."""

CONVOLUTION_OPS = frozenset({*GEMM_CONVOLUTIONS, *DEPTHWISE_OPS})
"""Every convolution the `convolution` template lowers."""


@dataclass(frozen=True)
class ConvGeometry:
    """Sizes of one convolution, per group."""

    layout: str
    batch: int
    groups: int
    channels: int
    filters: int
    out_spatial: tuple[int, ...]
    window: tuple[int, ...]
    strides: tuple[int, ...]
    dilations: tuple[int, ...]

    @property
    def pixels(self) -> int:
        """Output positions per image."""
        return math.prod(self.out_spatial)

    @property
    def rows(self) -> int:
        """M: output pixels of the whole batch."""
        return self.batch * self.pixels

    @property
    def depth(self) -> int:
        """K: input channels times window positions."""
        return self.channels * math.prod(self.window)


def geometry(op: Operation) -> ConvGeometry:
    """The `ConvGeometry` of an implicit-GEMM convolution."""
    layout = GEMM_CONVOLUTIONS[op.name]
    w_shape = tuple(op.inputs[1].type.get_shape())  # type: ignore[union-attr]
    out_shape = tuple(op.results[0].type.get_shape())  # type: ignore[union-attr]
    if layout == "nc":
        groups, filters, channels, window = 1, w_shape[0], w_shape[1], w_shape[2:]
        out_spatial = out_shape[2:]
    else:
        groups, filters = (
            (w_shape[0], w_shape[1]) if layout == "gf" else (w_shape[1], w_shape[0])
        )
        channels, window, out_spatial = w_shape[2], w_shape[3:], out_shape[3:]
    return ConvGeometry(
        layout,
        out_shape[0],
        groups,
        channels,
        filters,
        tuple(out_spatial),
        tuple(window),
        int_values(op.strides),
        int_values(op.dilations),
    )


def _as_rows(value: SSAValue, shape: list[int]) -> SSAValue:
    """A 1-D block along the first dimension of a 2-D block of `shape`."""
    return tt.BroadcastOp(tt.ExpandDimsOp(value, 1), shape).result


def _as_cols(value: SSAValue, shape: list[int]) -> SSAValue:
    """A 1-D block along the second dimension of a 2-D block of `shape`."""
    return tt.BroadcastOp(tt.ExpandDimsOp(value, 0), shape).result


def _scaled(value: SSAValue, factor: int) -> SSAValue:
    if factor == 1:
        return value
    shape = value.type.get_shape()  # type: ignore[union-attr]
    return arith.MuliOp(value, splat_const(factor, i32, shape)).result


def _below(value: SSAValue, bound: int) -> SSAValue:
    return CmpiOp(value, splat_const(bound, i32, value.type.get_shape()), "slt").result  # type: ignore[union-attr]


def _operand_types(op: Operation) -> tuple[object, object]:
    """The element types `tt.dot` takes: the operands' own, or f32 when they differ."""
    x = op.inputs[0].type.get_element_type()
    w = op.inputs[1].type.get_element_type()
    if not all(is_narrow_float(e) or e == f32 for e in (x, w)):
        raise LoweringError(
            f"'{op.name}' is lowered for f32, f16 and bf16 operands only", op
        )
    return (x, w) if x == w else (f32, f32)


def build_convolution_kernel(
    name: str, group: KernelGroup, tiles: MatmulTiles = MatmulTiles(), block: int = 1024
) -> tuple[tt.FuncOp, tuple[int, ...]]:
    """The kernel of a convolution `group` and its grid (depthwise: the window template's)."""
    (op,) = group.ops
    if op.name in DEPTHWISE_OPS:
        return build_window_kernel(name, group, block)
    if op.name not in GEMM_CONVOLUTIONS:
        raise LoweringError(f"'{op.name}' is not a convolution", op)
    check_float(op)
    geo = geometry(op)
    out_type = op.results[0].type
    assert isinstance(out_type, TensorType)
    bm, bn = _tile(geo.rows, tiles.block_m), _tile(geo.filters, tiles.block_n)
    bk = _tile(geo.depth, tiles.block_k)
    x = PaddedOperand.of(op.inputs[0])
    dot_types = _operand_types(op)
    kernel, pointers, (out_pointer,) = kernel_for_group(name, group)
    with ImplicitBuilder(kernel.body.block):
        rows = _range(tt.GetProgramIdOp(0).result, bm)
        cols = _range(tt.GetProgramIdOp(1).result, bn)
        g = tt.GetProgramIdOp(2).result
        n, *out_pos = unflatten(rows, (geo.batch, *geo.out_spatial))
        a_shape, b_shape = [bm, bk], [bk, bn]
        # Loop-invariant parts of the input gather: the image and each window's start.
        image = _as_rows(n, a_shape)
        starts = [
            _as_rows(_scaled(o, s), a_shape) for o, s in zip(out_pos, geo.strides)
        ]
        row_mask = _as_rows(_below(rows, geo.rows), a_shape)
        filter_base = _filter_base(geo, g, cols, b_shape)
        col_mask = _as_cols(_below(cols, geo.filters), b_shape)
        group_index = [splat(g, a_shape)] if geo.layout != "nc" else []
        space = _output_space(geo, (n, *out_pos), rows, cols, g)
        acc_type = TensorType(f32, [bm, bn])
        loop_body = Block(arg_types=[i32, acc_type])
        loop = scf.ForOp(
            const_i32(0),
            const_i32(geo.depth),
            const_i32(bk),
            [accumulator_init(op, pointers, space)],
            Region(loop_body),
        )
        with ImplicitBuilder(loop_body) as (k0, acc):
            ks = arith.AddiOp(splat(k0, [bk]), tt.MakeRangeOp(0, bk)).result
            c, *window = unflatten(ks, (geo.channels, *geo.window))
            a_mask = arith.AndIOp(
                row_mask, _as_cols(_below(ks, geo.depth), a_shape)
            ).result
            spatial = [
                arith.AddiOp(start, _as_cols(_scaled(k, d), a_shape)).result
                for start, k, d in zip(starts, window, geo.dilations)
            ]
            index = [image, *group_index, _as_cols(c, a_shape), *spatial]
            a_tile = x.load(pointers[x.source], index, a_mask, a_shape)
            if not math.isfinite(float(x.value)):
                # Lanes past K meet zero filter lanes: keep inf/NaN padding out of them.
                zero = splat_const(0.0, a_tile.type.get_element_type(), a_shape)
                a_tile = SelectOp(
                    _as_cols(_below(ks, geo.depth), a_shape), a_tile, zero
                ).result
            b_tile = _filter_tile(
                op, pointers, filter_base, ks, col_mask, b_shape, geo.depth
            )
            a_tile, b_tile = (
                _as_dot_operand(t, e) for t, e in zip((a_tile, b_tile), dot_types)
            )
            scf.YieldOp(tt.DotOp(a_tile, b_tile, acc, tiles.input_precision).d)
        out_offsets = _output_offsets(geo, rows, cols, g, [bm, bn])
        pointers_out = tt.AddPtrOp(splat(out_pointer, [bm, bn]), out_offsets).result
        tt.StoreOp(
            pointers_out,
            narrow(loop.results[0], out_type.get_element_type()),
            space.mask,
        )
        tt.ReturnOp()
    grid = (-(-geo.rows // bm), -(-geo.filters // bn), geo.groups)
    return kernel, grid


def _as_dot_operand(tile: SSAValue, element) -> SSAValue:
    """A loaded tile in the element type `tt.dot` takes (f32 when operand types differ)."""
    if tile.type.get_element_type() == element:  # type: ignore[union-attr]
        return tile
    return widen(tile) if is_narrow_float(tile.type.get_element_type()) else tile  # type: ignore[union-attr]


def _filter_strides(geo: ConvGeometry) -> tuple[int, int]:
    """Element strides of the filter's output-channel and group dimensions."""
    if geo.layout == "nc":
        return geo.depth, 0
    if geo.layout == "gf":
        return geo.depth, geo.filters * geo.depth
    return geo.groups * geo.depth, geo.depth


def _filter_base(
    geo: ConvGeometry, g: SSAValue, cols: SSAValue, shape: list[int]
) -> SSAValue:
    """Offsets of each column's filter `w[(g,) f, 0, 0...]`; its `(c, k...)` follow contiguously."""
    f_stride, g_stride = _filter_strides(geo)
    base = _as_cols(_scaled(cols, f_stride), shape)
    if g_stride:
        group_start = arith.MuliOp(g, const_i32(g_stride)).result
        base = arith.AddiOp(base, splat(group_start, shape)).result
    return base


def _filter_tile(
    op: Operation,
    pointers: dict[SSAValue, SSAValue],
    base: SSAValue,
    ks: SSAValue,
    col_mask: SSAValue,
    shape: list[int],
    depth: int,
) -> SSAValue:
    """The `[block_k, block_n]` filter tile of K positions `ks` (0 outside the filter)."""
    offsets = arith.AddiOp(base, _as_rows(ks, shape)).result
    mask = arith.AndIOp(col_mask, _as_rows(_below(ks, depth), shape)).result
    element = op.inputs[1].type.get_element_type()
    pointer = tt.AddPtrOp(splat(pointers[op.inputs[1]], shape), offsets).result
    return tt.LoadOp(pointer, mask, splat_const(0.0, element, shape)).result


def _output_space(
    geo: ConvGeometry,
    row_index: tuple[SSAValue, ...],
    rows: SSAValue,
    cols: SSAValue,
    g: SSAValue,
) -> TileSpace:
    """The output tile as a `TileSpace` over the output's dimensions (for the init).

    `row_index` holds the rows' image and output position blocks.
    """
    shape = [rows.type.get_shape()[0], cols.type.get_shape()[0]]  # type: ignore[union-attr]
    n, *out_pos = (_as_rows(v, shape) for v in row_index)
    f = _as_cols(cols, shape)
    group = [splat(g, shape)] if geo.layout != "nc" else []
    mask = arith.AndIOp(
        _as_rows(_below(rows, geo.rows), shape),
        _as_cols(_below(cols, geo.filters), shape),
    ).result
    return TileSpace(tuple(shape), [n, *group, f, *out_pos], mask)


def _output_offsets(
    geo: ConvGeometry, rows: SSAValue, cols: SSAValue, g: SSAValue, shape: list[int]
) -> SSAValue:
    """Offsets of `out[n, (g,) f, o...]`: rows split into the image and its pixel."""
    n = arith.DivSIOp(rows, splat_const(geo.pixels, i32, [shape[0]])).result
    pixel = arith.RemSIOp(rows, splat_const(geo.pixels, i32, [shape[0]])).result
    per_image = geo.groups * geo.filters * geo.pixels
    row_part = arith.AddiOp(_scaled(n, per_image), pixel).result
    offsets = arith.AddiOp(
        _as_rows(row_part, shape), _as_cols(_scaled(cols, geo.pixels), shape)
    )
    if geo.layout == "nc":
        return offsets.result
    group_start = arith.MuliOp(g, const_i32(geo.filters * geo.pixels)).result
    return arith.AddiOp(offsets, splat(group_start, shape)).result
