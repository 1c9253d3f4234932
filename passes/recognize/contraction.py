"""Contractions and accumulators: einsum terms read from indexing maps, and init handling.

A contraction-shaped op (a named matmul, or a generic whose body multiplies its inputs and adds
the product into the accumulator) computes an einsum whose letters are its loops:

    #lhs = (d0, d1, d2) -> (d0, d2)
    #rhs = (d0, d1, d2) -> (d2, d1)         ->   Contract((a, b), "ac,cb->ab")
    #out = (d0, d1, d2) -> (d0, d1)

Structured ops accumulate into their `outs` operand. torch-mlir fills it with the identity
(0 for a sum, -inf for a max), which is dropped; any other init is combined with the result by
one elementwise op, so `C + A @ B` stays exactly that.

Narrow floats: torch-mlir writes an f16 (or bf16) product as a matmul of f16 operands into an
f32 accumulator, then a `truncf` back to f16. linalg casts the operands to the accumulator's
type first, so the matmul is the product of the widened operands; rounded back to f16, that is
the algebra's f16 product (which accumulates in f32, as tensor cores do), and `narrow_product`
recognises it as such, so chains of f16 products can be reordered like f32 ones.
"""

from __future__ import annotations

import math
from typing import Sequence

from xdsl.ir import SSAValue
from xdsl.ir.affine import AffineMap

from mirage_mlir.passes.eqsat.graph import (
    LETTERS,
    Contract,
    Elementwise,
    Full,
    MatMul,
    Node,
    cast,
    make_node,
)
from mirage_mlir.passes.eqsat.kinds import KINDS
from mirage_mlir.passes.eqsat.patterns import through_reshape
from mirage_mlir.passes.recognize.maps import map_dims
from mirage_mlir.passes.recognize.state import RecognitionState, Unrecognized, reshape

#: The identity of each reduction, by element kind: init values that can be dropped.
_IDENTITIES = {
    ("sum", False): 0.0,
    ("max", False): -math.inf,
    ("min", False): math.inf,
    ("sum", True): 0.0,
    ("max", True): 0.0,
    ("min", True): 1.0,
}

#: The elementwise op that combines a reduction's result with its init.
COMBINE = {"sum": "add", "max": "max", "min": "min"}


def is_identity(node: Node, reduction: str) -> bool:
    """Whether `node` is a splat of the identity of `reduction` (an init that changes nothing)."""
    if not isinstance(node, Full):
        return False
    return node.value == _IDENTITIES[(reduction, node.dtype == "i1")]


def accumulate(
    state: RecognitionState, result: Node, init: SSAValue, reduction: str
) -> Node:
    """`result` combined with the op's init tensor, unless the init is the identity."""
    init_node = state.node(init)
    if init_node.shape != result.shape:
        raise Unrecognized(
            f"init of shape {init_node.shape} for a result of shape {result.shape}"
        )
    if is_identity(init_node, reduction):
        return result
    return Elementwise(COMBINE[reduction], (result, init_node))


#: Float types whose products the algebra accumulates in f32 and rounds once.
NARROW_FLOATS = ("f16", "bf16")


def widened(node: Node, dtype: str) -> Node:
    """`node` converted to the float type `dtype` when it is a narrower float (linalg's
    operand cast before a multiply-accumulate); `node` itself otherwise."""
    if node.dtype == dtype:
        return node
    if node.dtype in NARROW_FLOATS and dtype in ("f32", "f64"):
        return cast(node, dtype)
    raise Unrecognized(f"a product of {node.dtype} operands into a {dtype} result")


def narrow_product(source: Node, dtype: str) -> Node | None:
    """`source` rounded to `dtype`, as one product in `dtype`, or None if it is not one.

    `source` must be an f32 MatMul or Contract (possibly reshaped) whose operands are all
    widened from `dtype`, a narrow float; the init must have been the identity (an added
    init is summed in f32 before rounding, which one narrow product does not say).
    """
    if dtype not in NARROW_FLOATS or source.dtype != "f32":
        return None
    product = through_reshape(source)
    shape = None if product is source else source.shape
    if not KINDS[product.kind].contraction:
        return None
    narrow = []
    for operand in product.operands:
        if operand.kind != "cast" or operand.operands[0].dtype != dtype:
            return None
        narrow.append(operand.operands[0])
    term = make_node(product.kind, product.attrs, narrow)
    return term if shape is None else reshape(term, shape)


def einsum(
    operands: Sequence[Node],
    maps: Sequence[AffineMap],
    out_map: AffineMap,
    out_shape: Sequence[int],
) -> Node:
    """The einsum term of a contraction with the given operand and output indexing maps.

    Axes indexed by a constant 0 (size 1) are reshaped away first, as einsum has no letter for
    them. A plain (batched) matrix product becomes a MatMul node.
    """
    dtypes = {o.dtype for o in operands}
    if len(dtypes) != 1:
        raise Unrecognized(f"a contraction of mixed element types {sorted(dtypes)}")
    if out_map.num_dims > len(LETTERS):
        raise Unrecognized(f"{out_map.num_dims} loops, more than einsum has letters")
    layouts, squeezed = [], []
    for node, amap in zip(operands, maps):
        dims = map_dims(amap)
        squeezed.append(
            reshape(node, tuple(s for s, d in zip(node.shape, dims) if d is not None))
        )
        layouts.append("".join(LETTERS[d] for d in dims if d is not None))
    out_dims = [d for d in map_dims(out_map) if d is not None]
    out_layout = "".join(LETTERS[d] for d in out_dims)
    if set(out_layout) - set("".join(layouts)):
        raise Unrecognized("an output loop that no operand of the contraction spans")
    spec = ",".join(layouts) + "->" + out_layout
    if _is_matmul(layouts, out_layout):
        term: Node = MatMul(*squeezed)
    else:
        term = Contract(tuple(squeezed), spec)
    return reshape(term, tuple(out_shape))


def _is_matmul(layouts: Sequence[str], out: str) -> bool:
    """Whether the spec is `...ik,...kj->...ij` with the same batch letters everywhere."""
    if len(layouts) != 2:
        return False
    a, b = layouts
    if len(a) < 2 or len(a) != len(b) or len(out) != len(a):
        return False
    batch = a[:-2]
    i, k = a[-2:]
    return (
        b[:-2] == batch
        and b[-2] == k
        and out == batch + i + b[-1]
        and len(set(out + k)) == len(out) + 1
    )
