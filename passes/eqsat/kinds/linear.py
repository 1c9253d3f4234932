"""The linear-algebra kinds: products, einsum contractions, transposes, reshapes, scalings.

    kind        attrs       operands
    matmul      ()          (a, b)      numpy.matmul, rank >= 2, batch dims broadcast
    transpose   (perm,)     (x,)        numpy.transpose
    reshape     (shape,)    (x,)        row-major reshape
    scale       (s,)        (x,)        x * s for a Python float s
    contract    (spec,)     operands    an einsum term such as "ik,kj->ij"

In the e-graph a transpose of the two innermost axes is `mt` (its permutation depends on the
rank, which the e-graph does not know) and a contraction of three or more operands is an
`einsum` over a network; both decode to the kinds above (serialized.py resolves `mt`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mirage_mlir.interpreters import mirage_numpy as reference
from mirage_mlir.passes.eqsat.kinds.kind import (
    NO_ENGINE,
    EncodeContext,
    ENodeChildren,
    Kind,
)
from mirage_mlir.passes.eqsat.type_rules import (
    GraphError,
    TensorType,
    broadcast_shapes,
    check_leaf_type,
    index_sizes,
    parse_spec,
    same_dtype,
)


def _matmul_type(attrs: tuple, operands: Sequence[TensorType]) -> TensorType:
    a, b = operands
    if len(a.shape) < 2 or len(b.shape) < 2:
        raise GraphError(f"matmul: operands must have rank >= 2, got {a} and {b}")
    if a.shape[-1] != b.shape[-2]:
        raise GraphError(f"matmul: inner dimensions differ in {a} @ {b}")
    batch = broadcast_shapes([a.shape[:-2], b.shape[:-2]], f"matmul {a} @ {b}")
    return TensorType(
        batch + (a.shape[-2], b.shape[-1]), same_dtype(operands, "matmul")
    )


def _matmul_work(attrs, operands, result) -> tuple[int, str]:
    a, b = operands
    m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
    return 2 * math.prod(result.shape[:-2]) * m * k * n, "matrix"


def _encode_matmul(node, terms: list, context: EncodeContext):
    from mirage_mlir.passes.eqsat.language import Tensor

    return Tensor.matmul(*terms)


MATMUL = Kind(
    name="matmul",
    attrs=(),
    type_rule=_matmul_type,
    semantics=lambda attrs, args: reference.matmul(*args),
    work=_matmul_work,
    encode=_encode_matmul,
    decoders={"matmul": lambda e: ("matmul", (), [e.eclass(0), e.eclass(1)])},
    emit="mirage_mlir.passes.emit.emit_linear:emit_matmul",
    fusion_core="matmul",
    contraction=True,
    matrix_chain=True,
    network="mirage_mlir.passes.eqsat.networks:view_of_matmul",
)


def _transpose_type(attrs: tuple, operands: Sequence[TensorType]) -> TensorType:
    (perm,) = attrs
    (x,) = operands
    if sorted(perm) != list(range(len(x.shape))):
        raise GraphError(f"transpose: {perm} is not a permutation of the axes of {x}")
    return TensorType(tuple(x.shape[p] for p in perm), x.dtype)


def _encode_transpose(node, terms: list, context: EncodeContext):
    from mirage_mlir.passes.eqsat.language import MAX_PERMUTE_RANK, Tensor, pack_perm

    (perm,) = node.attrs
    rank = len(perm)
    if rank >= 2 and perm == tuple(range(rank - 2)) + (rank - 1, rank - 2):
        return Tensor.mt(terms[0])
    if rank > MAX_PERMUTE_RANK:
        raise GraphError(
            f"transpose of rank {rank} exceeds the supported {MAX_PERMUTE_RANK}"
        )
    return Tensor.permute(terms[0], pack_perm(perm), rank)


def _decode_permute(e: ENodeChildren) -> tuple[str, tuple, list[str]]:
    from mirage_mlir.passes.eqsat.language import unpack_perm

    return "transpose", (unpack_perm(e.literal(1), e.literal(2)),), [e.eclass(0)]


TRANSPOSE = Kind(
    name="transpose",
    attrs=("perm",),
    type_rule=_transpose_type,
    semantics=lambda attrs, args: np.transpose(args[0], attrs[0]),
    # Only moves data.
    work=lambda attrs, operands, result: (0, "vector"),
    encode=_encode_transpose,
    decoders={
        "permute": _decode_permute,
        # Resolved to a transpose once the operand's rank is known (serialized.py).
        "mt": lambda e: ("mt", (), [e.eclass(0)]),
    },
    emit="mirage_mlir.passes.emit.emit_linear:emit_transpose",
    layout=True,
    strided_load=True,
    permuted_store=True,
    network="mirage_mlir.passes.eqsat.networks:view_of_transpose",
)


def _reshape_type(attrs: tuple, operands: Sequence[TensorType]) -> TensorType:
    (shape,) = attrs
    (x,) = operands
    check_leaf_type(shape, x.dtype, "reshape")
    if math.prod(shape) != x.numel:
        raise GraphError(
            f"reshape: {x} has {x.numel} elements, {shape} needs {math.prod(shape)}"
        )
    return TensorType(shape, x.dtype)


def _encode_reshape(node, terms: list, context: EncodeContext):
    from mirage_mlir.passes.eqsat.language import Tensor, shape_text

    return Tensor.reshape(terms[0], shape_text(node.attrs[0]))


def _decode_reshape(e: ENodeChildren) -> tuple[str, tuple, list[str]]:
    from mirage_mlir.passes.eqsat.language import parse_shape_text

    return "reshape", (parse_shape_text(e.literal(1)),), [e.eclass(0)]


RESHAPE = Kind(
    name="reshape",
    attrs=("shape",),
    type_rule=_reshape_type,
    semantics=lambda attrs, args: np.reshape(args[0], attrs[0]),
    # A row-major reshape is a view: no kernel.
    work=lambda attrs, operands, result: (0, NO_ENGINE),
    encode=_encode_reshape,
    decoders={"reshape": _decode_reshape},
    emit="mirage_mlir.passes.emit.emit_linear:emit_reshape",
    layout=True,
    view=True,
    strided_load=True,
    network="mirage_mlir.passes.eqsat.networks:view_of_reshape",
)


def _encode_scale(node, terms: list, context: EncodeContext):
    from mirage_mlir.passes.eqsat.language import Tensor

    return Tensor.scale(terms[0], node.attrs[0])


SCALE = Kind(
    name="scale",
    attrs=("s",),
    type_rule=lambda attrs, operands: operands[0],
    semantics=lambda attrs, args: args[0] * args[0].dtype.type(attrs[0]),
    work=lambda attrs, operands, result: (result.numel, "vector"),
    encode=_encode_scale,
    decoders={"scale": lambda e: ("scale", (float(e.literal(1)),), [e.eclass(0)])},
    emit="mirage_mlir.passes.emit.emit_elementwise:emit_scale",
    per_element=True,
    network="mirage_mlir.passes.eqsat.networks:view_of_scale",
)


def _contract_type(attrs: tuple, operands: Sequence[TensorType]) -> TensorType:
    (spec,) = attrs
    layouts, out = parse_spec(spec, len(operands))
    sizes = index_sizes(layouts, [t.shape for t in operands], spec)
    return TensorType(
        tuple(sizes[c] for c in out), same_dtype(operands, f"einsum '{spec}'")
    )


def _contract_semantics(attrs: tuple, args: list[np.ndarray]) -> np.ndarray:
    # Accumulated in at least f32, as torch's einsum (a batched matmul) accumulates; the
    # order of evaluation (optimize) does not change the value.
    wide = np.result_type(np.float32, *(a.dtype for a in args))
    out = np.einsum(attrs[0], *(a.astype(wide) for a in args), optimize=len(args) > 2)
    return out.astype(np.result_type(*(a.dtype for a in args)))


def _contract_work(attrs, operands, result) -> tuple[int, str]:
    from mirage_mlir.passes.eqsat.cost import contraction_flops

    flops, summed = contraction_flops(attrs[0], [t.shape for t in operands])
    if len(operands) > 2:
        return flops, "loop_nest"
    return flops, "matrix" if summed else "vector"


def _encode_contract(node, terms: list, context: EncodeContext):
    from mirage_mlir.passes.eqsat.language import Net, Tensor, encode_layout

    layouts, out = parse_spec(node.attrs[0], len(terms))
    if len(terms) == 2:
        return Tensor.contract(
            terms[0],
            encode_layout(layouts[0], context),
            terms[1],
            encode_layout(layouts[1], context),
            encode_layout(out, context),
        )
    net = Net.nil()
    for term, letters in reversed(list(zip(terms, layouts))):
        net = Net.cons(term, encode_layout(letters, context), net)
    return Tensor.einsum(net, encode_layout(out, context))


def _decode_contract(e: ENodeChildren) -> tuple[str, tuple, list[str]]:
    spec = f"{e.layout(1)},{e.layout(3)}->{e.layout(4)}"
    return "contract", (spec,), [e.eclass(0), e.eclass(2)]


def _decode_einsum(e: ENodeChildren) -> tuple[str, tuple, list[str]]:
    operands, layouts = e.tensors_with_layouts(0)
    return "contract", (",".join(layouts) + "->" + e.layout(1),), operands


CONTRACT = Kind(
    name="contract",
    attrs=("spec",),
    type_rule=_contract_type,
    semantics=_contract_semantics,
    work=_contract_work,
    encode=_encode_contract,
    decoders={"contract": _decode_contract, "einsum": _decode_einsum},
    emit="mirage_mlir.passes.emit.emit_linear:emit_contract",
    contraction=True,
    network="mirage_mlir.passes.eqsat.networks:view_of_contract",
)

KINDS = (MATMUL, TRANSPOSE, RESHAPE, SCALE, CONTRACT)
