"""Lowering of `mirage.attention`: softmax(scale · q·kᵀ [+ mask]) · v as linalg generics.

The softmax is the numerically stable one of the reference semantics
(`interpreters/mirage_numpy.py`): scores, the mask added and the causal mask applied, the row
maximum subtracted (0 in its place for a row that is all -inf, so such a row gives zeros
rather than NaN), exp, the row sum, the division (by 1 where the sum is 0), then the product
with v. Grouped KV heads are read through the indexing maps (query head h reads KV head
h floordiv G), never repeated. f16 and bf16 operands are widened inside the loop bodies, every
intermediate is f32, and only the result is rounded back.

    %o = mirage.attention %q, %k, %v scale 1.250000e-01 causal
           : tensor<1x8x128x64xf32>, tensor<1x2x128x64xf32>, tensor<1x2x128x64xf32> -> ...

becomes, with loops (b, h, i, j, d):

    %s   = linalg.generic {indexing_maps = [(b, h, i, j, d) -> (b, h, i, d),
                                            (b, h, i, j, d) -> (b, h floordiv 4, j, d),
                                            (b, h, i, j, d) -> (b, h, i, j)], ...}
             { acc + (q * 0.125) * k }
    %sm  = linalg.generic ... { select(index(j) <= index(i), s, -inf) }
    %max = ... maximumf ...;  %e = ... exp(s - max) ...;  %sum = ... addf ...
    %p   = ... e / sum ...;   %o = ... acc + p * v (v read at h floordiv 4) ...
"""

from __future__ import annotations

import math as pymath
from collections.abc import Sequence

from xdsl.dialects import arith, math
from xdsl.dialects.linalg.ops import IndexOp
from xdsl.ir import SSAValue
from xdsl.ir.affine import AffineExpr

from mirage_mlir.dialects import mirage
from mirage_mlir.passes.emit.structured import broadcast_map
from mirage_mlir.passes.to_linalg.builders import (
    LoweringError,
    MapEntry,
    cast_scalar,
    compute_type,
    element_of,
    indexing_map,
    loop_nest,
    new_tensor,
    rounded,
    scalar,
    static_shape,
    widen,
)


def lower_attention(op: mirage.AttentionOp) -> list[SSAValue]:
    """mirage.attention -> scores, mask, max, exp, sum, divide and the product with v."""
    q_shape = static_shape(op.query, op)
    k_shape = static_shape(op.key, op)
    v_shape = static_shape(op.value, op)
    out_shape = static_shape(op.result, op)
    element = element_of(op.result)
    compute = compute_type(element)
    rank = len(q_shape)
    if rank < 3:
        raise LoweringError(f"{op.name}: operands of rank {rank}; expected rank 3 or more")
    # Rank 3 is one head [B, S, D]; from rank 4 on, [..., H, S, D] with leading batch dims.
    heads = rank >= 4
    lead = rank - 3 if heads else rank - 2
    group = 1
    if heads:
        if k_shape[-3] == 0 or q_shape[-3] % k_shape[-3] != 0:
            raise LoweringError(
                f"{op.name}: {q_shape[-3]} query heads are not a multiple of "
                f"{k_shape[-3]} key/value heads"
            )
        group = q_shape[-3] // k_shape[-3]
    scores_shape = q_shape[:-1] + (k_shape[-2],)
    # Loops of the score nest: batch..., [head], i (query), j (key), d (head dim).
    row = list(range(lead + heads))
    i, j, d = lead + heads, lead + heads + 1, lead + heads + 2
    kv_rows = _kv_rows(lead, heads, group)

    def score_body(args: Sequence[SSAValue]) -> list[SSAValue]:
        query, key, acc = args
        scaled = arith.MulfOp(widen(query, compute), scalar(op.scale.value.data, compute)).result
        product = arith.MulfOp(scaled, widen(key, compute)).result
        return [arith.AddfOp(acc, product).result]

    loops = d + 1
    (scores,) = loop_nest(
        [
            (op.query, indexing_map(loops, row + [i, d])),
            (op.key, indexing_map(loops, kv_rows + [j, d])),
        ],
        [(new_tensor(scores_shape, compute, fill=0.0), indexing_map(loops, row + [i, j]))],
        ["parallel"] * (lead + heads + 2) + ["reduction"],
        score_body,
    )
    scores = _masked(op, scores, scores_shape, compute)
    probabilities = _stable_softmax(scores, scores_shape, compute)

    def value_body(args: Sequence[SSAValue]) -> list[SSAValue]:
        p, value, acc = args
        return [arith.AddfOp(acc, arith.MulfOp(p, widen(value, compute)).result).result]

    # Loops of the value nest: batch..., [head], i (query), e (value dim), j (key).
    e, j = lead + heads + 1, lead + heads + 2
    loops = j + 1
    (out,) = loop_nest(
        [
            (probabilities, indexing_map(loops, row + [i, j])),
            (op.value, indexing_map(loops, kv_rows + [j, e])),
        ],
        [(new_tensor(out_shape, compute, fill=0.0), indexing_map(loops, row + [i, e]))],
        ["parallel"] * (lead + heads + 2) + ["reduction"],
        value_body,
    )
    return [rounded(out, element)]


def _kv_rows(lead: int, heads: bool, group: int) -> list[MapEntry]:
    """Map results that pick a query row's K/V row: batch dims, then head floordiv group."""
    rows: list[MapEntry] = list(range(lead))
    if heads:
        head = AffineExpr.dimension(lead)
        rows.append(lead if group == 1 else head // group)
    return rows


def _masked(op: mirage.AttentionOp, scores: SSAValue, shape: Sequence[int], compute) -> SSAValue:
    """Scores plus the mask, with -inf where the causal mask hides a key (in that order)."""
    causal = op.causal is not None
    if op.mask is None and not causal:
        return scores
    rank = len(shape)
    identity = indexing_map(rank, range(rank))
    inputs = [(scores, identity)]
    if op.mask is not None:
        inputs.append((op.mask, broadcast_map(static_shape(op.mask, op), shape)))

    def body(args: Sequence[SSAValue]) -> list[SSAValue]:
        value = args[0]
        if op.mask is not None:
            value = arith.AddfOp(value, widen(args[1], compute)).result
        if causal:
            # Top-left aligned: query i sees keys j <= i.
            query, key = IndexOp(rank - 2).result, IndexOp(rank - 1).result
            allowed = arith.CmpiOp(key, query, "sle").result
            value = arith.SelectOp(allowed, value, scalar(-pymath.inf, compute)).result
        return [value]

    (result,) = loop_nest(
        inputs, [(new_tensor(shape, compute), identity)], ["parallel"] * rank, body
    )
    return result


def _stable_softmax(scores: SSAValue, shape: Sequence[int], compute) -> SSAValue:
    """Softmax of the scores over the last axis, with the reference's guards for empty rows."""
    rank = len(shape)
    identity = indexing_map(rank, range(rank))
    rows = indexing_map(rank, range(rank - 1))
    reduction = ["parallel"] * (rank - 1) + ["reduction"]
    (row_max,) = loop_nest(
        [(scores, identity)],
        [(new_tensor(shape[:-1], compute, fill=-pymath.inf), rows)],
        reduction,
        lambda a: [arith.MaximumfOp(a[0], a[1]).result],
    )

    def exp_body(args: Sequence[SSAValue]) -> list[SSAValue]:
        value, maximum = args[0], args[1]
        # A row that is all -inf subtracts 0, so its exps are 0 and not NaN.
        hidden = arith.CmpfOp(maximum, scalar(-pymath.inf, compute), "oeq").result
        shift = arith.SelectOp(hidden, scalar(0.0, compute), maximum).result
        return [math.ExpOp(arith.SubfOp(value, shift).result).result]

    (exps,) = loop_nest(
        [(scores, identity), (row_max, rows)],
        [(new_tensor(shape, compute), identity)],
        ["parallel"] * rank,
        exp_body,
    )
    (total,) = loop_nest(
        [(exps, identity)],
        [(new_tensor(shape[:-1], compute, fill=0.0), rows)],
        reduction,
        lambda a: [arith.AddfOp(a[1], a[0]).result],
    )

    def divide_body(args: Sequence[SSAValue]) -> list[SSAValue]:
        value, denominator = args[0], args[1]
        # A row of zeros (all hidden, or no keys) divides by 1 and stays zero.
        empty = arith.CmpfOp(denominator, scalar(0.0, compute), "oeq").result
        safe = arith.SelectOp(empty, scalar(1.0, compute), denominator).result
        return [cast_scalar(arith.DivfOp(value, safe).result, compute)]

    (probabilities,) = loop_nest(
        [(exps, identity), (total, rows)],
        [(new_tensor(shape, compute), identity)],
        ["parallel"] * rank,
        divide_body,
    )
    return probabilities
