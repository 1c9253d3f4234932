"""Re-emission of causal masks (the `causal_mask` kind, kinds/masks.py) as index arithmetic.

Recognition names a compile-time causal mask (recognize/masks.py); when
the optimised program still reads one (no attention formed around it), it is written as one
`linalg.generic` over the [queries, keys] grid comparing the two loop indices:

    %m = linalg.generic {indexing_maps = [(i, j) -> (i, j)], iterator_types = [par, par]}
           outs(%e : tensor<256x256xi1>) {
      %i = linalg.index 0 : index
      %j = linalg.index 1 : index
      %f = arith.cmpi sgt, %j, %i : index        (causal_future; sle for causal_allowed)
      linalg.yield %f : i1
    }

and causal_additive selects 0 or -inf on `j <= i`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from xdsl.dialects import arith
from xdsl.dialects.linalg.ops import IndexOp
from xdsl.ir import SSAValue

from mirage_mlir.passes.emit.structured import (
    EmitError,
    affine_map,
    element_type,
    empty,
    generic,
    scalar,
)
from mirage_mlir.passes.eqsat.graph import Node
from mirage_mlir.passes.eqsat.patterns import causal_form


def emit_causal_mask(node: Node, operands: Sequence[SSAValue] = ()) -> SSAValue:
    """The value of a causal mask, computed from the loop indices."""
    form = causal_form(node)
    if form is None or len(node.shape) != 2:
        raise EmitError(f"{node.kind} node {node.attrs!r} is not a causal mask")
    elem = element_type(node.dtype)

    def body(args):
        i = IndexOp(0).result
        j = IndexOp(1).result
        if form == "causal_future":
            return [arith.CmpiOp(j, i, "sgt").result]
        allowed = arith.CmpiOp(j, i, "sle").result
        if form == "causal_allowed":
            return [allowed]
        return [
            arith.SelectOp(allowed, scalar(0.0, elem), scalar(-math.inf, elem)).result
        ]

    (value,) = generic(
        [],
        [empty(node.shape, node.dtype)],
        [affine_map(2, [0, 1])],
        ["parallel"] * 2,
        body,
    )
    return value
