"""Re-emission of contractions and layout nodes: matmul, contract, transpose, reshape,
broadcast, slice, concat.

Where linalg or tensor says a node exactly, the node is written in that dialect, the way
torch-mlir writes it: a 2-D matmul is `linalg.matmul` into a zero-filled `tensor.empty`, an
equal-batch 3-D one `linalg.batch_matmul`; other matmuls (batch broadcasting, rank 4) are
`mirage.matmul`. An einsum term is a `linalg.generic` with one loop per index letter. A
reshape is a `tensor.collapse_shape` followed by a `tensor.expand_shape` through the coarsest
common grouping of the two shapes, so a pure collapse or expand is one op.

An f16 or bf16 product accumulates in f32 and is rounded once (the algebra's meaning, and what
tensor cores do); linalg would accumulate in the result's type, so such a product is written
as torch-mlir writes it: narrow operands into an f32 accumulator, then a `truncf` generic.

    %e = tensor.empty() : tensor<2x2xf32>
    %z = linalg.fill ins(%cst : f32) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32>
    %m = linalg.matmul ins(%b, %c : tensor<2x100xf32>, tensor<100x2xf32>) outs(%z : ...) -> ...
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects import arith, tensor
from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseArrayBase,
    IntegerAttr,
    TensorType,
    i64,
)
from xdsl.ir import SSAValue

from mirage_mlir.dialects import linalg, mirage
from mirage_mlir.dialects import tensor as fixed_tensor
from mirage_mlir.passes.emit.emit_elementwise import cast_scalar, is_float_value
from mirage_mlir.passes.emit.structured import (
    EmitError,
    affine_map,
    broadcast_map,
    element_type,
    empty,
    filled,
    generic,
    numel,
    tensor_type,
)
from mirage_mlir.passes.eqsat.graph import Node, parse_spec


def _shape(value: SSAValue) -> tuple[int, ...]:
    assert isinstance(value.type, TensorType)
    return tuple(value.type.get_shape())


def emit_matmul(node: Node, operands: Sequence[SSAValue]) -> SSAValue:
    """matmul -> linalg.matmul (2-D), linalg.batch_matmul (3-D, equal batch), else mirage.matmul."""
    a, b = operands
    sa, sb = _shape(a), _shape(b)
    if len(sa) == len(sb) == 2 or (len(sa) == len(sb) == 3 and sa[0] == sb[0]):
        accumulator = _accumulator_dtype(node.dtype)
        init = filled(0.0, node.shape, accumulator)
        op_class = linalg.MatmulOp if len(sa) == 2 else linalg.BatchMatmulOp
        return _rounded(op_class([a, b], [init]).results[0], node)
    if not (is_float_value(a) and is_float_value(b)):
        raise EmitError(f"matmul of {a.type} and {b.type}: mirage.matmul needs float tensors")
    return mirage.MatmulOp(a, b, result_type=tensor_type(node.shape, node.dtype)).result


def emit_contract(node: Node, operands: Sequence[SSAValue]) -> SSAValue:
    """contract -> a linalg.generic with one loop per index letter (mulf chain + addf)."""
    (spec,) = node.attrs
    layouts, out = parse_spec(spec, len(operands))
    letters = list(out)
    for layout in layouts:
        letters += [c for c in layout if c not in letters]
    loop = {c: i for i, c in enumerate(letters)}
    maps = [affine_map(len(letters), [loop[c] for c in layout]) for layout in layouts]
    maps.append(affine_map(len(letters), [loop[c] for c in out]))
    iterators = ["parallel" if c in out else "reduction" for c in letters]
    accumulator = _accumulator_dtype(node.dtype)
    init = filled(0.0, node.shape, accumulator)
    floating = is_float_value(operands[0])
    mul = arith.MulfOp if floating else arith.MuliOp
    add = arith.AddfOp if floating else arith.AddiOp

    def body(args: Sequence[SSAValue]) -> list[SSAValue]:
        wide = element_type(accumulator)
        factors = [cast_scalar(arg, wide) for arg in args[:-1]]
        product = factors[0]
        for factor in factors[1:]:
            product = mul(product, factor).result
        return [add(args[-1], product).result]

    return _rounded(generic(list(operands), [init], maps, iterators, body)[0], node)


def _accumulator_dtype(dtype: str) -> str:
    """The element type a product of `dtype` values accumulates in."""
    return "f32" if dtype in ("f16", "bf16") else dtype


def _rounded(value: SSAValue, node: Node) -> SSAValue:
    """`value` (the accumulator) converted to `node`'s element type, when that is narrower."""
    if _accumulator_dtype(node.dtype) == node.dtype:
        return value
    shape = node.shape
    identity = affine_map(len(shape), range(len(shape)))
    to = element_type(node.dtype)
    init = empty(shape, node.dtype)
    return generic(
        [value], [init], [identity, identity], ["parallel"] * len(shape),
        lambda args: [cast_scalar(args[0], to)],
    )[0]


def emit_transpose(node: Node, operands: Sequence[SSAValue]) -> SSAValue:
    """transpose -> linalg.transpose into a tensor.empty."""
    (perm,) = node.attrs
    init = empty(node.shape, node.dtype)
    permutation = DenseArrayBase.from_list(i64, list(perm))
    return linalg.TransposeOp(operands[0], init, permutation).results[0]


def reshape_groups(
    src: Sequence[int], dst: Sequence[int]
) -> tuple[list[list[int]], list[list[int]]] | None:
    """The coarsest common grouping of two shapes of equal size, or None (zero sizes).

    Returns (groups of src axes, groups of dst axes), one group of each per common block:
    collapsing src by its groups and expanding by dst's groups is the row-major reshape.
    """
    if 0 in src or 0 in dst or not src or not dst:
        return None
    groups_src: list[list[int]] = []
    groups_dst: list[list[int]] = []
    i = j = 0
    while i < len(src) and j < len(dst):
        gs, gd = [i], [j]
        ps, pd = src[i], dst[j]
        i, j = i + 1, j + 1
        while ps != pd:
            if ps < pd:
                if i == len(src):
                    return None
                gs.append(i)
                ps *= src[i]
                i += 1
            else:
                if j == len(dst):
                    return None
                gd.append(j)
                pd *= dst[j]
                j += 1
        groups_src.append(gs)
        groups_dst.append(gd)
    # Trailing size-1 axes join the last block.
    groups_src[-1] += list(range(i, len(src)))
    groups_dst[-1] += list(range(j, len(dst)))
    return groups_src, groups_dst


def _reassociation(groups: Sequence[Sequence[int]]) -> ArrayAttr:
    return ArrayAttr([ArrayAttr([IntegerAttr(a, i64) for a in g]) for g in groups])


def _collapse(x: SSAValue, groups: Sequence[Sequence[int]], dtype: str) -> SSAValue:
    shape = _shape(x)
    out = [numel([shape[a] for a in g]) for g in groups]
    op = fixed_tensor.CollapseShapeOp.build(
        operands=[x],
        result_types=[tensor_type(out, dtype)],
        properties={"reassociation": _reassociation(groups)},
    )
    return op.result


def _expand(x: SSAValue, groups: Sequence[Sequence[int]], shape: Sequence[int], dtype: str) -> SSAValue:
    return fixed_tensor.ExpandShapeOp(
        x, [], _reassociation(groups), list(shape), tensor_type(shape, dtype)
    ).result


def emit_reshape(node: Node, operands: Sequence[SSAValue]) -> SSAValue:
    """reshape -> tensor.collapse_shape and/or tensor.expand_shape."""
    (x,) = operands
    src, dst = _shape(x), node.shape
    if tuple(src) == tuple(dst):
        return x
    groups = reshape_groups(src, dst)
    if groups is None:
        # A 0-d tensor and all-unit axes reshape into each other with an empty reassociation.
        if not src:
            return _expand(x, [], dst, node.dtype)
        if not dst:
            return _collapse(x, [], node.dtype)
        # A zero-size axis: go through a 1-D tensor.
        flat = _collapse(x, [list(range(len(src)))], node.dtype)
        return _expand(flat, [list(range(len(dst)))], dst, node.dtype)
    groups_src, groups_dst = groups
    middle = x
    if any(len(g) > 1 for g in groups_src):
        middle = _collapse(x, groups_src, node.dtype)
    if any(len(g) > 1 for g in groups_dst):
        middle = _expand(middle, groups_dst, dst, node.dtype)
    return middle


def emit_broadcast(node: Node, operands: Sequence[SSAValue]) -> SSAValue:
    """broadcast -> linalg.broadcast when it only adds leading axes, else a copying generic."""
    (x,) = operands
    src, dst = _shape(x), node.shape
    added = len(dst) - len(src)
    init = empty(dst, node.dtype)
    if tuple(src) == tuple(dst[added:]):
        dims = DenseArrayBase.from_list(i64, list(range(added)))
        return linalg.BroadcastOp(x, init, dims).result[0]
    maps = [broadcast_map(src, dst), affine_map(len(dst), range(len(dst)))]
    return generic([x], [init], maps, ["parallel"] * len(dst), lambda args: [args[0]])[0]


def emit_slice(node: Node, operands: Sequence[SSAValue]) -> SSAValue:
    """slice -> tensor.extract_slice with static offsets, sizes and strides."""
    offsets, sizes, strides = node.attrs
    return tensor.ExtractSliceOp(
        operands[0], list(offsets), list(sizes), list(strides), tensor_type(sizes, node.dtype)
    ).result


def emit_concat(node: Node, operands: Sequence[SSAValue]) -> SSAValue:
    """concat -> mirage.concat."""
    if not all(is_float_value(v) for v in operands):
        raise EmitError("concat of non-float tensors: mirage.concat needs float tensors")
    (axis,) = node.attrs
    return mirage.ConcatOp(list(operands), axis, tensor_type(node.shape, node.dtype)).result

