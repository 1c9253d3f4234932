"""Kernel template: flash attention with online softmax, masks, KV groups, prologues.

One program computes `block_m` query rows of one (batch, query head): axis 0
of the grid walks query blocks, axis 1 the batch x heads.  Q is loaded once
and multiplied by the scale; an `scf.for` over KV blocks loads a Kᵀ and a V
tile, forms the scores with `tt.dot`, and keeps per row the running maximum
m, the running sum l and the unnormalised output acc:

    m' = max(m, rowmax(s));  p = exp(s - m');  α = exp(m - m')
    l' = α·l + rowsum(p);    acc' = α·acc + p·V

so the seq x seq score matrix never leaves registers.  With `causal`, keys
past the query are masked and the loop stops after the last KV block that
any row of the query block can see (fully masked blocks are skipped).  An
explicit additive mask is read as a [block_m, block_n] tile per KV step at
the score index [b, h, row, key], broadcast from its own shape (size-1 dims
are not read), and added to the scaled scores.  A row whose scores are all
-inf so far keeps m = -inf and l = 0 (the exponentials subtract 0 instead of
-inf), and a row that never sees a finite score yields zeros, as torch's
scaled_dot_product_attention does.
Query head h reads KV head h // (Hq / Hkv): grouped-query attention without
repeating K and V, also when the module repeats them (`repeat_interleave`
as a broadcast copy generic: a repeated view).  Operands are addressed
through `StridedView`s, so q, k and v may be slices and reshapes of one QKV
projection buffer.

Elementwise prologues (ViT's bias added before the head split, Llama's RoPE
q·cos + rot(q)·sin, casts) are evaluated per tile: an operand that is not a
pure view of a kernel input is computed by `index_remap.IndexedValues` at
the tile's [b, h, seq, dim] indices, through any transposes, reshapes and
slices between it and the prologue's inputs, as the matmul template reads
its operand tiles.  The mask is read the same way.  Elementwise epilogues on
the result run on the output tile (`FusedBody`) before the store, which may
go through transposes and reshapes of the epilogue's value.

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

from dataclasses import dataclass

from xdsl.builder import ImplicitBuilder
from xdsl.dialects import arith, scf
from xdsl.dialects import math as xmath
from xdsl.dialects.builtin import TensorType, f32, i32
from xdsl.ir import Block, Operation, Region, SSAValue

from mirage_mlir.dialects import tt
from mirage_mlir.dialects.arith import CmpfOp, CmpiOp, SelectOp
from mirage_mlir.lowering.dtypes import (
    convert,
    is_narrow_float,
    narrow,
    round_through,
    widen,
)
from mirage_mlir.lowering.fused_body import FusedBody, KernelGroup, store_output
from mirage_mlir.lowering.index_remap import (
    STORE_REMAP_OPS,
    Index,
    IndexedValues,
)
from mirage_mlir.lowering.kernel_builder import (
    LoweringError,
    TileSpace,
    const_i32,
    next_power_of_two,
    splat,
    splat_const,
)
from mirage_mlir.lowering.kernel_signature import kernel_for_group
from mirage_mlir.lowering.matmul_operands import prologue_ops
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

_VIEW_OPS = (
    "tensor.extract_slice",
    "tensor.expand_shape",
    "tensor.collapse_shape",
    "linalg.transpose",
    "tensor.empty",
)


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
    return StridedView(
        view.offset, (b, h // r, s, d), view.strides, repeats
    ).unrepeated(op)


def _tile(size: int, bound: int) -> int:
    return max(MIN_DOT_TILE, min(bound, next_power_of_two(size)))


def _shape(value: SSAValue) -> tuple[int, ...]:
    return tuple(value.type.get_shape())  # type: ignore[union-attr]


@dataclass(frozen=True)
class _Parts:
    """A group's attention op, the ops computing its operands (prologue) and the
    elementwise ops on its result (epilogue), each in program order."""

    op: Operation
    prologue: list[Operation]
    epilogue: list[Operation]


def _attention_parts(group: KernelGroup) -> _Parts:
    ops = [op for op in group.ops if op.name == "mirage.attention"]
    if len(ops) != 1:
        raise LoweringError(
            "an attention kernel holds exactly one mirage.attention", group.anchor
        )
    (op,) = ops
    prologue = prologue_ops(group, list(op.operands))
    before = set(prologue)
    epilogue = [
        other
        for other in group.ops[group.ops.index(op) + 1 :]
        if other not in before and other.name != "tensor.empty"
    ]
    for value in (*op.operands, op.result, *group.outputs):
        element = value.type.get_element_type()
        if not (is_narrow_float(element) or element == f32):
            raise LoweringError(
                f"the attention template takes f32, f16 and bf16, not {value.type}", op
            )
    if len(group.outputs) != 1:
        raise LoweringError(
            "an attention kernel writes exactly one result", group.anchor
        )
    return _Parts(op, prologue, epilogue)


def _is_view(op: Operation) -> bool:
    return op.name in _VIEW_OPS or copy_generic_dims(op) is not None


def _scalar_offset(base: int, terms: list[tuple[SSAValue, int]]) -> SSAValue:
    total = const_i32(base)
    for index, stride in terms:
        if stride:
            total = arith.AddiOp(total, arith.MuliOp(index, const_i32(stride))).result
    return total


def _grid_offsets(
    rows: SSAValue, row_stride: int, cols: SSAValue, col_stride: int
) -> SSAValue:
    (m,), (n,) = rows.type.get_shape(), cols.type.get_shape()  # type: ignore[union-attr]
    r = arith.MuliOp(
        tt.ExpandDimsOp(rows, 1), splat_const(row_stride, i32, [m, 1])
    ).result
    c = arith.MuliOp(
        tt.ExpandDimsOp(cols, 0), splat_const(col_stride, i32, [1, n])
    ).result
    return arith.AddiOp(tt.BroadcastOp(r, [m, n]), tt.BroadcastOp(c, [m, n])).result


def _grid_mask(rows: SSAValue, n_rows: int, cols: SSAValue, n_cols: int) -> SSAValue:
    (m,), (n,) = rows.type.get_shape(), cols.type.get_shape()  # type: ignore[union-attr]
    r = CmpiOp(tt.ExpandDimsOp(rows, 1), splat_const(n_rows, i32, [m, 1]), "slt").result
    c = CmpiOp(tt.ExpandDimsOp(cols, 0), splat_const(n_cols, i32, [1, n]), "slt").result
    return arith.AndIOp(tt.BroadcastOp(r, [m, n]), tt.BroadcastOp(c, [m, n])).result


def _outer(rows: SSAValue, cols: SSAValue) -> tuple[SSAValue, SSAValue]:
    """`rows` and `cols` broadcast to the [len(rows), len(cols)] block."""
    (m,), (n,) = rows.type.get_shape(), cols.type.get_shape()  # type: ignore[union-attr]
    return (
        tt.BroadcastOp(tt.ExpandDimsOp(rows, 1), [m, n]).result,
        tt.BroadcastOp(tt.ExpandDimsOp(cols, 0), [m, n]).result,
    )


def _load(pointer, base, offsets, mask, operand: SourceOperand) -> SSAValue:
    """A tile of `operand`, held in the narrowest type its values were rounded to."""
    shape = offsets.type.get_shape()  # type: ignore[union-attr]
    element = operand.buffer.type.get_element_type()  # type: ignore[union-attr]
    pointers = tt.AddPtrOp(
        splat(tt.AddPtrOp(pointer, base).result, shape), offsets
    ).result
    tile = tt.LoadOp(pointers, mask, splat_const(0.0, element, shape)).result
    return round_through(tile, list(operand.conversions))


@dataclass(frozen=True)
class _Operand:
    """How the kernel reads q, k or v: `shape` is its [B, H, S, D] (heads a KV
    operand repeats counted once).  A pure view of a kernel input has its
    `source` and rank-4 `view` (strided loads); any other operand is computed
    from the group's `prologue` ops per tile."""

    value: SSAValue
    shape: tuple[int, ...]
    source: SourceOperand | None = None
    view: StridedView | None = None

    def base(self, b: SSAValue, head: SSAValue) -> SSAValue | None:
        """The scalar element offset of head (b, head), for strided reads."""
        if self.view is None:
            return None
        return _scalar_offset(
            self.view.offset, [(b, self.view.strides[0]), (head, self.view.strides[1])]
        )


def _operand(value: SSAValue, group: KernelGroup, op: Operation, kv: bool) -> _Operand:
    try:
        source = source_view(value, set(group.inputs))
        view = _as_rank4(source.view, op, kv)
    except LoweringError:
        shape = _shape(value)
        return _Operand(value, shape if len(shape) == 4 else (shape[0], 1, *shape[1:]))
    return _Operand(value, view.shape, source, view)


@dataclass
class _Reader:
    """Reads the tiles of one program's attention operands."""

    group: KernelGroup
    pointers: dict[SSAValue, SSAValue]
    prologue: frozenset[Operation]
    b: SSAValue
    anchor: Operation

    def tile(
        self,
        operand: _Operand,
        head: SSAValue,
        base: SSAValue | None,
        seq: SSAValue,
        dim: SSAValue,
        transposed: bool,
        mask: SSAValue,
    ) -> SSAValue:
        """The [seq, dim] tile of `operand` (`transposed`: [dim, seq]); 0 outside `mask`.

        `head` is the operand's head; `base` its element offset when the
        operand is read strided (`_Operand.base`).
        """
        rows, cols = (dim, seq) if transposed else (seq, dim)
        if operand.view is not None and operand.source is not None:
            strides = operand.view.strides
            s_stride, d_stride = strides[2], strides[3]
            row_stride, col_stride = (
                (d_stride, s_stride) if transposed else (s_stride, d_stride)
            )
            offsets = _grid_offsets(rows, row_stride, cols, col_stride)
            pointer = self.pointers[operand.source.buffer]
            return _load(pointer, base, offsets, mask, operand.source)
        r2, c2 = _outer(rows, cols)
        seq2, dim2 = (c2, r2) if transposed else (r2, c2)
        shape = _shape(operand.value)
        lead = [self.b, head] if len(shape) == 4 else [self.b]
        index = self._lead(lead, shape, r2) + (seq2, dim2)
        computed = self._evaluate(operand.value, index, mask)
        zero = splat_const(0.0, computed.type.get_element_type(), _shape(r2))  # type: ignore
        element = operand.value.type.get_element_type()  # type: ignore[union-attr]
        return narrow(SelectOp(mask, computed, zero).result, element)

    def mask_tile(
        self,
        mask_value: SSAValue,
        h: SSAValue,
        rows: SSAValue,
        cols: SSAValue,
        score_rank: int,
        inside: SSAValue,
    ) -> SSAValue:
        """The f32 [rows, keys] tile of the additive mask, read at the score index."""
        r2, c2 = _outer(rows, cols)
        lead = [self.b, h] if score_rank == 4 else [self.b]
        full = (*lead, r2, c2)
        shape = _shape(mask_value)
        if len(shape) > len(full):
            raise LoweringError(
                f"a mask of rank {len(shape)} does not broadcast to the scores",
                self.anchor,
            )
        picked = full[len(full) - len(shape) :]
        index: list[SSAValue | None] = []
        for size, block in zip(shape, picked):
            if size == 1:
                index.append(None)
            elif block is r2 or block is c2:
                index.append(block)
            else:
                index.append(splat(block, _shape(r2)))
        computed = widen(self._evaluate(mask_value, tuple(index), inside))
        if mask_value in self.pointers:
            return computed  # a masked load: 0 outside
        return SelectOp(inside, computed, splat_const(0.0, f32, _shape(r2))).result

    def _lead(
        self, scalars: list[SSAValue], shape: tuple[int, ...], like: SSAValue
    ) -> Index:
        return tuple(
            None if size == 1 else splat(scalar, _shape(like))
            for scalar, size in zip(scalars, shape)
        )

    def _evaluate(self, value: SSAValue, index: Index, mask: SSAValue) -> SSAValue:
        values = IndexedValues(
            tuple(mask.type.get_shape()), self.pointers, self.prologue
        )
        return values.evaluate(value, index, mask, self.anchor)


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


def _finite_or_zero(m: SSAValue) -> SSAValue:
    """The running maxima with -inf (a row with no finite score yet) as 0."""
    shape = _shape(m)
    minus_inf = splat_const(float("-inf"), f32, shape)
    none_yet = CmpfOp(m, minus_inf, "oeq").result
    return SelectOp(none_yet, splat_const(0.0, f32, shape), m).result


def _normalise(acc: SSAValue, l: SSAValue) -> SSAValue:
    """acc / l per row; a row that saw no finite score (l = 0, acc = 0) gives 0."""
    shape = _shape(l)
    empty = CmpfOp(l, splat_const(0.0, f32, shape), "oeq").result
    safe = SelectOp(empty, splat_const(1.0, f32, shape), l).result
    return arith.DivfOp(acc, _per_row(safe, _shape(acc)[1])).result


def _store_views(group: KernelGroup, epilogue: list[Operation], body: FusedBody):
    """Run the epilogue on `body`; the transposes and reshapes stored through
    (result -> op), as `template_matmul` does."""
    views: dict[SSAValue, Operation] = {}
    for op in epilogue:
        source = op.operands[0] if op.operands else None
        if op.name in STORE_REMAP_OPS and (source in body.tiles or source in views):
            views[op.results[0]] = op
            continue
        if not body.run(op):
            raise LoweringError(
                f"'{op.name}' cannot be fused into an attention epilogue", op
            )
    return views


def build_attention_kernel(
    name: str,
    group: KernelGroup,
    input_precision: str = "tf32",
    block_m: int = BLOCK_M,
    block_n: int = BLOCK_N,
) -> tuple[tt.FuncOp, tuple[int, ...]]:
    """The flash-attention kernel of `group` and its launch grid.

    `block_m` (query rows per program) and `block_n` (keys per loop step) are
    upper bounds; short sequences get smaller powers of two.
    `input_precision` applies to f32 `tt.dot` operands only.
    """
    parts = _attention_parts(group)
    op = parts.op
    q = _operand(op.query, group, op, kv=False)
    k, v = (_operand(x, group, op, kv=True) for x in (op.key, op.value))
    epilogue = [x for x in parts.epilogue if not _is_view(x)]
    o_view: StridedView | None = None
    o_conversions: tuple = ()
    if not epilogue:
        view, o_conversions = result_view(op.result, group.outputs[0])
        o_view = _as_rank4(view, op)
    batch, hq, sq, d = q.shape
    _, hkv, skv, dv = v.shape
    if k.shape[:3] != (batch, hkv, skv) or k.shape[3] != d or hq % hkv:
        raise LoweringError("mirage.attention operand shapes do not fit (q, k, v)", op)
    group_size = hq // hkv
    bm, bn = _tile(sq, block_m), _tile(skv, block_n)
    bd, bdv = _tile(d, 1 << 30), _tile(dv, 1 << 30)
    scale = float(op.scale.value.data)
    causal = op.causal is not None
    score_rank = len(_shape(op.query))

    kernel, pointers, (out_pointer,) = kernel_for_group(name, group)
    with ImplicitBuilder(kernel.body.block):
        pid_m = tt.GetProgramIdOp(0).result
        pid_bh = tt.GetProgramIdOp(1).result
        b = arith.DivSIOp(pid_bh, const_i32(hq)).result
        h = arith.RemSIOp(pid_bh, const_i32(hq)).result
        kv_head = arith.DivSIOp(h, const_i32(group_size)).result
        reader = _Reader(group, pointers, frozenset(parts.prologue), b, op)
        q_base, k_base, v_base = q.base(b, h), k.base(b, kv_head), v.base(b, kv_head)

        first_row = arith.MuliOp(pid_m, const_i32(bm)).result
        rows = arith.AddiOp(splat(first_row, [bm]), tt.MakeRangeOp(0, bm)).result
        dims = tt.MakeRangeOp(0, bd).result
        dims_v = tt.MakeRangeOp(0, bdv).result
        keys = tt.MakeRangeOp(0, bn).result
        q_tile = reader.tile(
            q, h, q_base, rows, dims, False, _grid_mask(rows, sq, dims, d)
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
            k_tile = reader.tile(  # Kᵀ: [d, keys]
                k, kv_head, k_base, cols, dims, True, _grid_mask(dims, d, cols, skv)
            )
            v_tile = reader.tile(
                v,
                kv_head,
                v_base,
                cols,
                dims_v,
                False,
                _grid_mask(cols, skv, dims_v, dv),
            )
            a, kt = _dot_operands(q_tile, k_tile)
            scores = tt.DotOp(a, kt, splat_const(0.0, f32, [bm, bn]), input_precision).d
            if scale_scores:
                scores = arith.MulfOp(scores, splat_const(scale, f32, [bm, bn])).result
            if op.mask is not None:
                inside = _grid_mask(rows, sq, cols, skv)
                additive = reader.mask_tile(op.mask, h, rows, cols, score_rank, inside)
                scores = arith.AddfOp(scores, additive).result
            visible = CmpiOp(
                tt.BroadcastOp(tt.ExpandDimsOp(cols, 0), [bm, bn]),
                splat_const(skv, i32, [bm, bn]),
                "slt",
            ).result
            if causal:
                seen = CmpiOp(
                    tt.BroadcastOp(tt.ExpandDimsOp(cols, 0), [bm, bn]),
                    tt.BroadcastOp(tt.ExpandDimsOp(rows, 1), [bm, bn]),
                    "sle",
                ).result
                visible = arith.AndIOp(visible, seen).result
            scores = SelectOp(
                visible, scores, splat_const(float("-inf"), f32, [bm, bn])
            ).result
            m_new = arith.MaxnumfOp(m_i, _row_reduce(scores, arith.MaxnumfOp)).result
            m_sub = _finite_or_zero(m_new)
            p = xmath.ExpOp(arith.SubfOp(scores, _per_row(m_sub, bn))).result
            alpha = xmath.ExpOp(arith.SubfOp(m_i, m_sub)).result
            l_new = arith.AddfOp(
                arith.MulfOp(l_i, alpha), _row_reduce(p, arith.AddfOp)
            ).result
            # P is rounded to V's type when V is narrow, as flash attention does.
            p_dot = (
                convert(p, _element(v_tile)) if is_narrow_float(_element(v_tile)) else p
            )
            p_dot, v_dot = _dot_operands(p_dot, v_tile)
            rescaled = arith.MulfOp(acc, _per_row(alpha, bdv)).result
            acc_new = tt.DotOp(p_dot, v_dot, rescaled, input_precision).d
            scf.YieldOp(m_new, l_new, acc_new)
        _, l_final, acc_final = loop.results
        out = _normalise(acc_final, l_final)
        out_mask = _grid_mask(rows, sq, dims_v, dv)
        if o_view is not None:
            out = round_through(out, [_element(op.result), *o_conversions])
            out = convert(out, _element(group.outputs[0]))
            o_base = _scalar_offset(
                o_view.offset, [(b, o_view.strides[0]), (h, o_view.strides[1])]
            )
            offsets = _grid_offsets(rows, o_view.strides[2], dims_v, o_view.strides[3])
            pointers_out = tt.AddPtrOp(
                splat(tt.AddPtrOp(out_pointer, o_base).result, [bm, bdv]), offsets
            ).result
            tt.StoreOp(pointers_out, out, out_mask)
        else:
            out = widen(round_through(out, [_element(op.result)]))
            r2, c2 = _outer(rows, dims_v)
            lead = (
                [splat(b, [bm, bdv]), splat(h, [bm, bdv])]
                if score_rank == 4
                else [splat(b, [bm, bdv])]
            )
            space = TileSpace((bm, bdv), [*lead, r2, c2], out_mask)
            body = FusedBody(space, _shape(op.result), pointers)
            body.tiles[op.result] = out
            views = _store_views(group, parts.epilogue, body)
            store_output(
                body, views, group.outputs[0], out_pointer, op, "an attention kernel"
            )
        tt.ReturnOp()
    return kernel, (-(-sq // bm), batch * hq)
