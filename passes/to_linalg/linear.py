"""Lowerings of `mirage.matmul`, `mirage.concat` and `mirage.slice`.

A matmul is `linalg.matmul` (2-D) or `linalg.batch_matmul` (3-D, equal batch) where one of
those says it exactly, and otherwise one `linalg.generic` with a loop per batch dimension:
batch dimensions broadcast through constant-0 map results, a transpose flag swaps the
operand's two map results, so nothing is copied. An f16 or bf16 product accumulates in f32
and is rounded once, as the reference semantics say:

    %c = mirage.matmul %a, %b : tensor<8x64x32xf16>, tensor<32x16xf16> -> tensor<8x64x16xf16>

becomes

    %z = linalg.fill ins(%cst : f32) outs(%e : tensor<8x64x16xf32>) -> tensor<8x64x16xf32>
    %acc = linalg.generic {indexing_maps = [(b, m, n, k) -> (b, m, k), (b, m, n, k) -> (k, n),
                                            (b, m, n, k) -> (b, m, n)], ...}
             ins(%a, %b : ...) outs(%z : ...) { extf, extf, mulf, addf }
    %c = linalg.generic {...} ins(%acc : tensor<8x64x16xf32>) ... { truncf }

A concat is a `tensor.empty` with one `tensor.insert_slice` per input; a slice is one
`tensor.extract_slice` with the same static offsets, sizes and strides.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects import arith, tensor
from xdsl.ir import SSAValue

from mirage_mlir.dialects import linalg, mirage
from mirage_mlir.passes.to_linalg.builders import (
    MapEntry,
    compute_type,
    element_of,
    indexing_map,
    loop_nest,
    new_tensor,
    rounded,
    static_shape,
    widen,
)


def lower_matmul(op: mirage.MatmulOp) -> list[SSAValue]:
    """mirage.matmul -> linalg.matmul / linalg.batch_matmul / a contraction generic."""
    lhs, rhs = op.lhs, op.rhs
    a, b = static_shape(lhs, op), static_shape(rhs, op)
    out = static_shape(op.result, op)
    element = element_of(op.result)
    accumulator = compute_type(element)
    init = new_tensor(out, accumulator, fill=0.0)
    transposed = op.transpose_lhs is not None or op.transpose_rhs is not None
    if not transposed and (
        len(a) == len(b) == 2 or (len(a) == len(b) == 3 and a[0] == b[0] == out[0])
    ):
        # The named ops cast each operand to the accumulator's type before multiplying,
        # which is the widening the reference semantics asks for.
        named = linalg.MatmulOp if len(a) == 2 else linalg.BatchMatmulOp
        product = named([lhs, rhs], [init]).results[0]
        return [rounded(product, element)]
    batch = len(out) - 2
    loops = len(out) + 1  # batch..., m, n, k
    m, n, k = batch, batch + 1, batch + 2
    lhs_map = _batch_entries(a[:-2], out[:-2]) + ([k, m] if op.transpose_lhs else [m, k])
    rhs_map = _batch_entries(b[:-2], out[:-2]) + ([n, k] if op.transpose_rhs else [k, n])

    def body(args: Sequence[SSAValue]) -> list[SSAValue]:
        x, y, acc = args
        product = arith.MulfOp(widen(x, accumulator), widen(y, accumulator)).result
        return [arith.AddfOp(acc, product).result]

    (product,) = loop_nest(
        [(lhs, indexing_map(loops, lhs_map)), (rhs, indexing_map(loops, rhs_map))],
        [(init, indexing_map(loops, range(len(out))))],
        ["parallel"] * len(out) + ["reduction"],
        body,
    )
    return [rounded(product, element)]


def _batch_entries(operand: Sequence[int], out: Sequence[int]) -> list[MapEntry]:
    """Map results for an operand's batch dims, right-aligned with the result's (NumPy).

    A size-1 dimension that broadcasts against a larger one reads index 0.
    """
    offset = len(out) - len(operand)
    return [
        None if size == 1 and out[axis + offset] != 1 else axis + offset
        for axis, size in enumerate(operand)
    ]


def lower_concat(op: mirage.ConcatOp) -> list[SSAValue]:
    """mirage.concat -> tensor.empty + one tensor.insert_slice per input."""
    out = static_shape(op.result, op)
    axis = op.normalized_axis
    result = new_tensor(out, element_of(op.result))
    offset = 0
    for value in op.inputs:
        shape = static_shape(value, op)
        offsets = [offset if d == axis else 0 for d in range(len(out))]
        result = tensor.InsertSliceOp.from_static_parameters(
            value, result, offsets, list(shape)
        ).result
        offset += shape[axis]
    return [result]


def lower_slice(op: mirage.SliceOp) -> list[SSAValue]:
    """mirage.slice -> tensor.extract_slice (static offsets, sizes and strides)."""
    static_shape(op.source, op)
    return [
        tensor.ExtractSliceOp(
            op.source, list(op.offsets), list(op.sizes), list(op.strides), op.result.type
        ).result
    ]
