"""Kernel template: flash attention with online softmax, causal masks and KV groups.

One program computes `block_m` query rows of one (batch, query head): axis 0
of the grid walks query blocks, axis 1 the batch x heads.  Q is loaded once
and multiplied by the scale; an `scf.for` over KV blocks loads a Kᵀ and a V
tile, forms the scores with `tt.dot`, and keeps per row the running maximum
m, the running sum l and the unnormalised output acc:

    m' = max(m, rowmax(s));  p = exp(s - m');  α = exp(m - m')
    l' = α·l + rowsum(p);    acc' = α·acc + p·V

so the seq x seq score matrix never leaves registers.  With `causal`, keys
past the query are masked and the loop stops after the last KV block that
any row of the query block can see (fully masked blocks are skipped).
Query head h reads KV head h // (Hq / Hkv): grouped-query attention without
repeating K and V, also when the module repeats them (`repeat_interleave`
as a broadcast copy generic: a repeated view).  Operands are addressed
through `StridedView`s, so q, k and v may be slices and reshapes of one QKV
projection buffer.

Types: q, k, v and the result may be f32, f16 or bf16; m, l and acc are
always f32.  f16/bf16 tiles go to `tt.dot` as they are, accumulating in f32:
Q with Kᵀ when both are held in the same narrow type, and P (rounded to V's
type, as flash attention does) with a narrow V.  With a narrow Q the scale
multiplies the f32 scores instead, since Q·scale would round again.  A
module that widens f16/bf16 operands to f32 first (torch-mlir's import of
f16 attention) still gets narrow `tt.dot`s: the widening is exact.  The
result is rounded to its own element type and to its output's when stored.

Grid: `(cdiv(Sq, block_m), batch * Hq)`.
"""

from __future__ import annotations

from xdsl.builder import ImplicitBuilder
from xdsl.dialects import arith, scf
from xdsl.dialects import math as xmath
from xdsl.dialects.builtin import TensorType, f32, i32
from xdsl.ir import Block, Operation, Region, SSAValue

from mirage_mlir.dialects import tt
from mirage_mlir.dialects.arith import CmpiOp, SelectOp
from mirage_mlir.lowering.dtypes import convert, is_narrow_float, round_through
from mirage_mlir.lowering.fused_body import KernelGroup
from mirage_mlir.lowering.kernel_builder import (
    LoweringError,
    const_i32,
    next_power_of_two,
    splat,
    splat_const,
)
from mirage_mlir.lowering.kernel_signature import kernel_for_group
from mirage_mlir.lowering.template_attention_views import (
    SourceOperand,
    StridedView,
    copy_generic_dims,
    result_view,
    source_view,
)

BLOCK_M = 64
"""Query rows per program (upper bound)."""

BLOCK_N = 64
"""Keys per loop iteration (upper bound)."""

MIN_DOT_TILE = 16
"""Triton's smallest tt.dot tile along any dimension."""

_VIEW_OPS = ("tensor.extract_slice", "tensor.expand_shape", "tensor.collapse_shape",
             "linalg.transpose", "tensor.empty")


def _as_rank4(view: StridedView, op: Operation, kv: bool = False) -> StridedView:
    """[B, S, D] as [B, 1, S, D] (one head); for K and V (`kv`), a repeated head
    dim as its distinct heads.

    A head dim that repeats each head r times (K and V of grouped-query
    attention, repeated by the module) has H / r distinct heads, and the
    kernel reads head h // (Hq / Hkv) of those.
    """
    if len(view.shape) == 3:
        b, s, d = view.shape
        sb, ss, sd = view.unrepeated(op).strides
        return StridedView(view.offset, (b, 1, s, d), (sb, 0, ss, sd))
    b, h, s, d = view.shape
    r = view.repeat(1) if kv else 1
    if h % r:
        raise LoweringError(f"{h} heads cannot repeat each KV head {r} times", op)
    repeats = (view.repeat(0), 1, view.repeat(2), view.repeat(3))
    return StridedView(view.offset, (b, h // r, s, d), view.strides, repeats).unrepeated(op)


def _tile(size: int, bound: int) -> int:
    return max(MIN_DOT_TILE, min(bound, next_power_of_two(size)))


def _attention_op(group: KernelGroup) -> Operation:
    ops = [op for op in group.ops if op.name == "mirage.attention"]
    others = [
        op for op in group.ops
        if op.name != "mirage.attention" and op.name not in _VIEW_OPS
        and copy_generic_dims(op) is None
    ]
    if len(ops) != 1 or others:
        culprit = others[0] if others else group.anchor
        raise LoweringError(
            "an attention kernel holds one mirage.attention and view ops only", culprit
        )
    (op,) = ops
    if op.mask is not None:
        raise LoweringError("mirage.attention with an explicit mask is not lowered yet", op)
    for value in (*op.operands, op.result, *group.inputs, *group.outputs):
        element = value.type.get_element_type()
        if not (is_narrow_float(element) or element == f32):
            raise LoweringError(
                f"the attention template takes f32, f16 and bf16, not {value.type}", op
            )
    if len(group.outputs) != 1:
        raise LoweringError("an attention kernel writes exactly one result", group.anchor)
    return op


def _scalar_offset(base: int, terms: list[tuple[SSAValue, int]]) -> SSAValue:
    total = const_i32(base)
    for index, stride in terms:
        if stride:
            total = arith.AddiOp(total, arith.MuliOp(index, const_i32(stride))).result
    return total


def _grid_offsets(rows: SSAValue, row_stride: int, cols: SSAValue, col_stride: int) -> SSAValue:
    (m,), (n,) = rows.type.get_shape(), cols.type.get_shape()  # type: ignore[union-attr]
    r = arith.MuliOp(tt.ExpandDimsOp(rows, 1), splat_const(row_stride, i32, [m, 1])).result
    c = arith.MuliOp(tt.ExpandDimsOp(cols, 0), splat_const(col_stride, i32, [1, n])).result
    return arith.AddiOp(tt.BroadcastOp(r, [m, n]), tt.BroadcastOp(c, [m, n])).result


def _grid_mask(rows: SSAValue, n_rows: int, cols: SSAValue, n_cols: int) -> SSAValue:
    (m,), (n,) = rows.type.get_shape(), cols.type.get_shape()  # type: ignore[union-attr]
    r = CmpiOp(tt.ExpandDimsOp(rows, 1), splat_const(n_rows, i32, [m, 1]), "slt").result
    c = CmpiOp(tt.ExpandDimsOp(cols, 0), splat_const(n_cols, i32, [1, n]), "slt").result
    return arith.AndIOp(tt.BroadcastOp(r, [m, n]), tt.BroadcastOp(c, [m, n])).result


def _load(pointer, base, offsets, mask, operand: SourceOperand) -> SSAValue:
    """A tile of `operand`, held in the narrowest type its values were rounded to."""
    shape = offsets.type.get_shape()  # type: ignore[union-attr]
    element = operand.buffer.type.get_element_type()  # type: ignore[union-attr]
    pointers = tt.AddPtrOp(splat(tt.AddPtrOp(pointer, base).result, shape), offsets).result
    tile = tt.LoadOp(pointers, mask, splat_const(0.0, element, shape)).result
    return round_through(tile, list(operand.conversions))


def _element(value: SSAValue):
    return value.type.get_element_type()  # type: ignore[union-attr]


def _dot_operands(a: SSAValue, b: SSAValue) -> tuple[SSAValue, SSAValue]:
    """`a` and `b` as they go to `tt.dot`: both narrow in one type, else both f32."""
    if _element(a) == _element(b) and is_narrow_float(_element(a)):
        return a, b
    return convert(a, f32), convert(b, f32)


def _row_reduce(tile: SSAValue, combiner) -> SSAValue:
    return tt.ReduceOp([tile], 1, lambda a, b: [combiner(a, b).result]).result[0]


def _per_row(values: SSAValue, n: int) -> SSAValue:
    """A [M] block broadcast across `n` columns."""
    (m,) = values.type.get_shape()  # type: ignore[union-attr]
    return tt.BroadcastOp(tt.ExpandDimsOp(values, 1), [m, n]).result


def build_attention_kernel(
    name: str, group: KernelGroup, input_precision: str = "tf32",
    block_m: int = BLOCK_M, block_n: int = BLOCK_N,
) -> tuple[tt.FuncOp, tuple[int, ...]]:
    """The flash-attention kernel of `group` and its launch grid.

    `block_m` (query rows per program) and `block_n` (keys per loop step) are
    upper bounds; short sequences get smaller powers of two.
    `input_precision` applies to f32 `tt.dot` operands only.
    """
    op = _attention_op(group)
    buffers = set(group.inputs)
    q_in, k_in, v_in = (source_view(x, buffers) for x in (op.query, op.key, op.value))
    q = _as_rank4(q_in.view, op)
    k, v = (_as_rank4(x.view, op, kv=True) for x in (k_in, v_in))
    o_view, o_conversions = result_view(op.result, group.outputs[0])
    o = _as_rank4(o_view, op)
    batch, hq, sq, d = q.shape
    _, hkv, skv, dv = v.shape
    if k.shape[:3] != (batch, hkv, skv) or k.shape[3] != d or hq % hkv:
        raise LoweringError("mirage.attention operand shapes do not fit (q, k, v)", op)
    group_size = hq // hkv
    bm, bn = _tile(sq, block_m), _tile(skv, block_n)
    bd, bdv = _tile(d, 1 << 30), _tile(dv, 1 << 30)
    scale = float(op.scale.value.data)
    causal = op.causal is not None

    kernel, pointers, (out_pointer,) = kernel_for_group(name, group)
    with ImplicitBuilder(kernel.body.block):
        pid_m = tt.GetProgramIdOp(0).result
        pid_bh = tt.GetProgramIdOp(1).result
        b = arith.DivSIOp(pid_bh, const_i32(hq)).result
        h = arith.RemSIOp(pid_bh, const_i32(hq)).result
        kv_head = arith.DivSIOp(h, const_i32(group_size)).result
        q_base = _scalar_offset(q.offset, [(b, q.strides[0]), (h, q.strides[1])])
        k_base = _scalar_offset(k.offset, [(b, k.strides[0]), (kv_head, k.strides[1])])
        v_base = _scalar_offset(v.offset, [(b, v.strides[0]), (kv_head, v.strides[1])])
        o_base = _scalar_offset(o.offset, [(b, o.strides[0]), (h, o.strides[1])])

        first_row = arith.MuliOp(pid_m, const_i32(bm)).result
        rows = arith.AddiOp(splat(first_row, [bm]), tt.MakeRangeOp(0, bm)).result
        dims = tt.MakeRangeOp(0, bd).result
        dims_v = tt.MakeRangeOp(0, bdv).result
        keys = tt.MakeRangeOp(0, bn).result
        q_tile = _load(
            pointers[q_in.buffer], q_base, _grid_offsets(rows, q.strides[2], dims, q.strides[3]),
            _grid_mask(rows, sq, dims, d), q_in,
        )
        # The scale on an f32 Q: bm·d multiplies instead of bm·skv on the scores.
        # A narrow Q is kept exact for tt.dot and the f32 scores are scaled.
        scale_scores = is_narrow_float(_element(q_tile))
        if not scale_scores:
            q_tile = convert(q_tile, f32)
            q_tile = arith.MulfOp(q_tile, splat_const(scale, f32, [bm, bd])).result

        end = const_i32(skv)
        if causal:
            # Rows of this block see keys < first_row + bm: later KV blocks are all masked.
            end = arith.MinSIOp(end, arith.AddiOp(first_row, const_i32(bm))).result
        row_type, acc_type = TensorType(f32, [bm]), TensorType(f32, [bm, bdv])
        loop_body = Block(arg_types=[i32, row_type, row_type, acc_type])
        inits = [
            splat_const(float("-inf"), f32, [bm]),
            splat_const(0.0, f32, [bm]),
            splat_const(0.0, f32, [bm, bdv]),
        ]
        loop = scf.ForOp(const_i32(0), end, const_i32(bn), inits, Region(loop_body))
        with ImplicitBuilder(loop_body) as (n0, m_i, l_i, acc):
            cols = arith.AddiOp(splat(n0, [bn]), keys).result
            k_tile = _load(  # Kᵀ: [d, keys]
                pointers[k_in.buffer], k_base,
                _grid_offsets(dims, k.strides[3], cols, k.strides[2]),
                _grid_mask(dims, d, cols, skv), k_in,
            )
            v_tile = _load(
                pointers[v_in.buffer], v_base,
                _grid_offsets(cols, v.strides[2], dims_v, v.strides[3]),
                _grid_mask(cols, skv, dims_v, dv), v_in,
            )
            a, kt = _dot_operands(q_tile, k_tile)
            scores = tt.DotOp(a, kt, splat_const(0.0, f32, [bm, bn]), input_precision).d
            if scale_scores:
                scores = arith.MulfOp(scores, splat_const(scale, f32, [bm, bn])).result
            visible = CmpiOp(
                tt.BroadcastOp(tt.ExpandDimsOp(cols, 0), [bm, bn]),
                splat_const(skv, i32, [bm, bn]), "slt",
            ).result
            if causal:
                seen = CmpiOp(
                    tt.BroadcastOp(tt.ExpandDimsOp(cols, 0), [bm, bn]),
                    tt.BroadcastOp(tt.ExpandDimsOp(rows, 1), [bm, bn]), "sle",
                ).result
                visible = arith.AndIOp(visible, seen).result
            scores = SelectOp(visible, scores, splat_const(float("-inf"), f32, [bm, bn])).result
            m_new = arith.MaxnumfOp(m_i, _row_reduce(scores, arith.MaxnumfOp)).result
            p = xmath.ExpOp(arith.SubfOp(scores, _per_row(m_new, bn))).result
            alpha = xmath.ExpOp(arith.SubfOp(m_i, m_new)).result
            l_new = arith.AddfOp(arith.MulfOp(l_i, alpha), _row_reduce(p, arith.AddfOp)).result
            # P is rounded to V's type when V is narrow, as flash attention does.
            p_dot = convert(p, _element(v_tile)) if is_narrow_float(_element(v_tile)) else p
            p_dot, v_dot = _dot_operands(p_dot, v_tile)
            rescaled = arith.MulfOp(acc, _per_row(alpha, bdv)).result
            acc_new = tt.DotOp(p_dot, v_dot, rescaled, input_precision).d
            scf.YieldOp(m_new, l_new, acc_new)
        _, l_final, acc_final = loop.results
        out = arith.DivfOp(acc_final, _per_row(l_final, bdv)).result
        out = round_through(out, [_element(op.result), *o_conversions])
        out = convert(out, _element(group.outputs[0]))
        offsets = _grid_offsets(rows, o.strides[2], dims_v, o.strides[3])
        pointers_out = tt.AddPtrOp(
            splat(tt.AddPtrOp(out_pointer, o_base).result, [bm, bdv]), offsets
        ).result
        tt.StoreOp(pointers_out, out, _grid_mask(rows, sq, dims_v, dv))
        tt.ReturnOp()
    return kernel, (-(-sq // bm), batch * hq)
